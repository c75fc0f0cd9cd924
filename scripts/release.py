"""``make release``: everything a user installs, built from one commit into ``dist/``.

Usage: ``python scripts/release.py [--repo DIR] [--dist DIR] [--only python,charts,images]
[--service sources/ping ...] [--registry REGISTRY] [--chart-url URL]``

The version is the one hatch-vcs gives the packages (the last ``vX.Y.Z`` tag; a ``.devN+gHASH``
development version after it): the runtime's wheel is built first and its metadata read back, so
everything else carries exactly what the wheel says. ``SOURCE_DATE_EPOCH`` is the commit's time,
so two runs from one commit give the same wheels, sdists and charts byte for byte. What lands in
``dist/``:

* ``python/``: wheels and sdists of ``springhead`` (the runtime) and ``springhead-testing`` (the
  test helpers a custom-source author uses), by ``uv build``;
* ``images/<package>-<tag>.oci.tar``: each service's image (``--service``: the services'
  folders as ``make images`` lists them, ``folder:extra`` for a variant with an extra), built
  by podman from the one Dockerfile on testinfra's base images and storage
  (:mod:`springhead_testinfra.images`), saved as an OCI archive (its entries dated at the
  commit's time: as reproducible as the image in it);
* ``charts/``: each application chart packaged by ``helm package`` (its ``version`` the version
  in SemVer form, its ``appVersion`` the image tag, which the chart's image tag defaults to) and
  the chart repository's ``index.yaml`` (``helm repo index --url``);
* ``sbom/<name>.cdx.json``: a CycloneDX SBOM (``cyclonedx-py environment``) per image, of the
  distributions installed in its virtual environment (copied out of the image), and per wheel, of
  the wheel installed with its locked closure into a fresh venv;
* ``SHA256SUMS`` over every file (``sha256sum -c`` reads it).

The versions' three spellings: the packages' PEP 440 version (``1.2.3``, ``1.2.4.dev5+gabc``)
is what ``--version``, ``springhead_build_info`` and the image label
``org.opencontainers.image.version`` say; a chart's ``version`` must be SemVer
(``1.2.4-dev5+gabc``); an image tag admits no ``+`` (``1.2.4-dev5-gabc``). For a tagged commit
all three are ``X.Y.Z``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path

from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[1]
#: The distributions published for custom-source authors.
PACKAGES = ("springhead", "springhead-testing")
#: Where the charts' images live (the charts' ``image.repository`` defaults).
REGISTRY = "ghcr.io/springhead"
#: Where the chart repository is served (``helm repo add springhead <this>``).
CHART_URL = "https://springhead.github.io/springhead/charts"
PARTS = ("python", "charts", "images")


class ReleaseError(RuntimeError):
    """A step of the release failed; the message says which and why."""


@dataclass(frozen=True)
class Versions:
    """One version in the three spellings its consumers accept."""

    #: PEP 440, as the packages' metadata carries it.
    python: str
    #: SemVer 2, as a chart's ``version`` must be.
    chart: str
    #: An OCI tag (no ``+``): the images' tag and the charts' ``appVersion``.
    image: str

    @classmethod
    def of(cls, python: str) -> Versions:
        """The spellings of the PEP 440 version ``python`` (a release, or a development version
        of one as hatch-vcs writes it)."""
        try:
            parsed = Version(python)
        except InvalidVersion:
            raise ReleaseError(f"{python!r} is not a PEP 440 version") from None
        if parsed.epoch or len(parsed.release) != 3 or parsed.post is not None:
            raise ReleaseError(f"{python!r} is not an X.Y.Z version (tag releases vX.Y.Z)")
        chart = parsed.base_version
        if parsed.pre is not None:
            chart += f"-{parsed.pre[0]}.{parsed.pre[1]}"
        if parsed.dev is not None:
            chart += f"{'.' if parsed.pre else '-'}dev.{parsed.dev}"
        if parsed.local is not None:
            chart += f"+{parsed.local}"
        return cls(python, chart, chart.replace("+", "-"))


def run(argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a tool, return its stdout; a failure raises with its own words."""
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise ReleaseError(
            f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stderr}{done.stdout}"
        )
    return done.stdout


def step(message: str) -> None:
    """Progress on stderr."""
    print(f"release: {message}", file=sys.stderr, flush=True)


def uv() -> str:
    """The uv running this (``uv run`` exports it), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ReleaseError("uv is not on PATH; run through `make release`")
    return found


def commit_of(repo: Path) -> tuple[str, int]:
    """(the commit's hash, its committer time): the release's revision and SOURCE_DATE_EPOCH."""
    revision, epoch = run(["git", "log", "-1", "--format=%H %ct"], cwd=repo).split()
    return revision, int(epoch)


def wheel_version(wheel: Path) -> str:
    """The ``Version`` of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return str(HeaderParser().parsestr(archive.read(name).decode())["Version"])


def build_python(repo: Path, out: Path, env: Mapping[str, str]) -> dict[str, Path]:
    """Wheels and sdists of :data:`PACKAGES` into ``out``; each package's wheel."""
    wheels = {}
    for package in PACKAGES:
        step(f"uv build --package {package}")
        run(
            [uv(), "build", "--package", package, "--out-dir", out, "--no-progress"],
            cwd=repo,
            env=env,
        )
        prefix = package.replace("-", "_") + "-"
        [wheel] = [p for p in out.glob("*.whl") if p.name.startswith(prefix)]
        wheels[package] = wheel
    (out / ".gitignore").unlink(missing_ok=True)  # uv's marker for a folder it made
    return wheels


def sbom_of_venv(venv: Path, target: Path, env: Mapping[str, str]) -> None:
    """``cyclonedx-py environment`` of a virtual environment, reproducible, as JSON."""
    target.parent.mkdir(parents=True, exist_ok=True)
    cyclonedx = Path(sys.executable).parent / "cyclonedx-py"
    run(
        [cyclonedx, "environment", "--output-reproducible", "--of", "JSON", "-o", target, venv],
        cwd=venv,
        env=env,
    )


def sbom_of_wheels(
    repo: Path, wheels: dict[str, Path], sboms: Path, scratch: Path, env: Mapping[str, str]
) -> None:
    """Per wheel: a fresh venv with the wheel (and the runtime's, for the helpers) and the
    locked closure of its package (``uv export``), described by cyclonedx-py."""
    for package, wheel in wheels.items():
        step(f"SBOM of {wheel.name}")
        venv = scratch / f"venv-{package}"
        requirements = scratch / f"{package}.txt"
        run(
            [
                uv(),
                "export",
                "--frozen",
                "--package",
                package,
                "--no-dev",
                "--no-emit-workspace",
                "--no-hashes",
                "--no-header",
                "-o",
                requirements,
            ],
            cwd=repo,
            env=env,
        )
        run([uv(), "venv", "--quiet", "--python", "3.11", venv], cwd=scratch, env=env)
        # By name from the wheels' folder, not by path: an install from a path records the path
        # (PEP 610's direct_url.json), which the SBOM would repeat.
        local = [
            f"{name}=={wheel_version(wheels[name])}"
            for name in wheels
            if name == package or name == "springhead"
        ]
        run(
            [
                uv(),
                "pip",
                "install",
                "--quiet",
                "--python",
                venv / "bin" / "python",
                "--find-links",
                wheel.parent,
                "-r",
                requirements,
                *local,
            ],
            cwd=scratch,
            env=env,
        )
        sbom_of_venv(venv, sboms / f"{wheel.name.removesuffix('.whl')}.cdx.json", env)


def service_package(repo: Path, service: str) -> str:
    """The distribution name of the service in folder ``service``."""
    pyproject = repo / service / "pyproject.toml"
    if not pyproject.is_file():
        raise ReleaseError(f"--service {service}: no {pyproject}")
    return str(tomllib.loads(pyproject.read_text())["project"]["name"])


def normalize_archive(source: Path, target: Path, epoch: int) -> None:
    """``source`` (a tar) rewritten as ``target`` with the same files and bytes, sorted by name,
    each dated ``epoch``, owned by 0:0. ``podman save`` dates every entry of its OCI archive with
    the time it runs, so two saves of one image differ; what they hold (blobs, index, layout) is
    the same, and so is this rewrite of them."""
    with tarfile.open(source) as src, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in sorted(src.getmembers(), key=lambda m: m.name):
            member.mtime = epoch
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.pax_headers = {}
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)


def build_images(
    repo: Path,
    services: Sequence[str],
    versions: Versions,
    revision: str,
    epoch: int,
    registry: str,
    out: Path,
    sboms: Path,
    scratch: Path,
    env: Mapping[str, str],
) -> None:
    """Each service's image, built as ``make images`` builds it plus the release's build
    arguments and ``--timestamp`` (every layer's files and the image's dates at the commit's
    time), saved as an OCI archive; its SBOM from the venv copied out of the image."""
    from springhead_testinfra.images import RUN_FLAGS, Podman, ensure_base_images

    podman = Podman.for_tests()
    ensure_base_images(podman)
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The Dockerfile's LABEL and ENV lines read these build arguments, but podman 4's layer cache
    # does not compare build-argument values for LABEL or ENV: an image of the same code built
    # before keeps the labels and SPRINGHEAD_REVISION of that build. --label and --env set them
    # on the image itself, past the cache (the values are the same).
    identity = (
        *("--label", f"org.opencontainers.image.version={versions.python}"),
        *("--label", f"org.opencontainers.image.revision={revision}"),
        *("--label", f"org.opencontainers.image.created={created}"),
        *("--env", f"SPRINGHEAD_REVISION={revision}"),
    )
    out.mkdir(parents=True, exist_ok=True)
    for service in services:
        # sources/github:hooks: the service with its extra `hooks`, named springhead-github-hooks
        directory, _, extra = service.partition(":")
        package = service_package(repo, directory) + (f"-{extra}" if extra else "")
        build_args = {"SERVICE": directory, "REVISION": revision, "VERSION": versions.python,
                      "CREATED": created}  # fmt: skip
        if extra:
            build_args["EXTRA"] = extra
        tag = f"{registry}/{package}:{versions.image}"
        step(f"podman build {tag}")
        podman.build(
            repo / "Dockerfile",
            repo,
            tag,
            build_args=build_args,
            extra=("--timestamp", str(epoch), *identity),
        )
        archive = out / f"{package}-{versions.image}.oci.tar"
        saved = scratch / archive.name
        podman.run("save", "--format", "oci-archive", "-o", saved, tag, timeout=600)
        normalize_archive(saved, archive, epoch)
        saved.unlink()
        step(f"SBOM of {tag}")
        purelib = podman.run(
            "run",
            "--rm",
            *RUN_FLAGS,
            "--entrypoint",
            "python",
            tag,
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ).stdout.strip()
        venv = scratch / f"image-{package}"
        run([uv(), "venv", "--quiet", "--python", "3.11", venv], cwd=scratch, env=env)
        [site] = venv.glob("lib/python*/site-packages")
        shutil.rmtree(site)
        container = f"springhead-release-{package}-{os.getpid()}"
        podman.run("create", "--name", container, tag)
        try:
            podman.run("cp", f"{container}:{purelib}", site)
        finally:
            podman.run("rm", "--force", container, check=False)
        sbom_of_venv(venv, sboms / f"{package}-{versions.image}.cdx.json", env)


def build_charts(
    repo: Path, versions: Versions, epoch: int, out: Path, chart_url: str, scratch: Path
) -> None:
    """Each application chart (its library dependency built into a copy of charts/) packaged
    at the release's version, and the repository's index."""
    from springhead_testinfra.charts import APPLICATION_CHARTS, Charts
    from springhead_testinfra.helm import Helm

    helm = Helm(scratch / "helm")
    charts = Charts.build(helm, repo / "charts", scratch / "charts", APPLICATION_CHARTS)
    out.mkdir(parents=True, exist_ok=True)
    for chart in APPLICATION_CHARTS:
        step(f"helm package {chart} {versions.chart}")
        helm.run(
            "package",
            str(charts.root / chart),
            "--version",
            versions.chart,
            "--app-version",
            versions.image,
            "--destination",
            str(out),
        )
    helm.run("repo", "index", str(out), "--url", chart_url)
    # helm repo index stamps each entry's `created` and the index's `generated` with the time it
    # runs (not SOURCE_DATE_EPOCH, as helm package does): the commit's time instead, so the index
    # is the same for every run too.
    index = out / "index.yaml"
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    index.write_text(
        re.sub(
            r'^(\s*(?:created|generated)): ".*"$',
            rf'\1: "{stamp}"',
            index.read_text(),
            flags=re.MULTILINE,
        )
    )


def write_sums(dist: Path) -> Path:
    """``SHA256SUMS`` of every file under ``dist`` (sorted, relative paths)."""
    lines = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(dist).as_posix()}\n")
    sums = dist / "SHA256SUMS"
    sums.write_text("".join(lines))
    return sums


def release(
    repo: Path,
    dist: Path,
    *,
    parts: Sequence[str] = PARTS,
    services: Sequence[str] = (),
    registry: str = REGISTRY,
    chart_url: str = CHART_URL,
) -> Versions:
    """Build the release of ``repo``'s checked-out commit into ``dist`` (emptied first)."""
    unknown = set(parts) - set(PARTS)
    if unknown or "python" not in parts:
        raise ReleaseError(f"--only takes python (always) and any of charts, images: {parts}")
    if "images" in parts and not services:
        raise ReleaseError("images need at least one --service")
    revision, epoch = commit_of(repo)
    # This process's environment, so that every tool started from here sees it (Helm, through
    # testinfra, included): the archives' and the wheels' file times are the commit's.
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    # hatch-vcs must read the version from the repository's tags, not from a leftover override.
    os.environ.pop("SETUPTOOLS_SCM_PRETEND_VERSION", None)
    env = dict(os.environ)
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="springhead-release-") as folder:
        scratch = Path(folder)
        wheels = build_python(repo, dist / "python", env)
        versions = Versions.of(wheel_version(wheels["springhead"]))
        step(f"version {versions.python} (chart {versions.chart}, image tag {versions.image})")
        sbom_of_wheels(repo, wheels, dist / "sbom", scratch, env)
        if "charts" in parts:
            build_charts(repo, versions, epoch, dist / "charts", chart_url, scratch)
        if "images" in parts:
            build_images(
                repo,
                services,
                versions,
                revision,
                epoch,
                registry,
                dist / "images",
                dist / "sbom",
                scratch,
                env,
            )
    write_sums(dist)
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make release``."""
    parser = argparse.ArgumentParser(
        prog="scripts/release.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to release")
    parser.add_argument("--dist", type=Path, help="the output folder (default: REPO/dist)")
    parser.add_argument("--only", default=",".join(PARTS), help="python plus charts, images")
    parser.add_argument("--service", action="append", default=[], help="a service's folder")
    parser.add_argument("--registry", default=REGISTRY, help=f"image names' prefix ({REGISTRY})")
    parser.add_argument("--chart-url", default=CHART_URL, help="the chart repository's URL")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    started = time.monotonic()
    try:
        versions = release(
            repo,
            (args.dist or repo / "dist").resolve(),
            parts=[part for part in args.only.split(",") if part],
            services=args.service,
            registry=args.registry,
            chart_url=args.chart_url,
        )
    except ReleaseError as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 1
    step(f"{versions.python} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
