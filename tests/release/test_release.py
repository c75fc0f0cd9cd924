"""The release as a user meets it: the runtime's wheel in a fresh venv under a custom source
built outside the workspace, the chart repository served over HTTP and installed from into the
real apiserver, the image archive loaded into an empty podman storage and run, the SBOM against
what the image holds; a tagged commit's version everywhere, a development version after it, and
two builds of one commit alike byte for byte.

The release is built as ``make release`` builds it (scripts/release.py, a real child process)
from a clone of this commit tagged ``v9.8.7``, once for the module: wheels and sdists, the charts
with their index, and one image (the ping source's; ``make release`` builds every image, the
tests one, to keep the tier's cost down). The chart repository is served from a loopback HTTP
server, and the release's index points at it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from aiohttp import web
from springhead.kube import KubeClient
from springhead_testinfra.helm import Helm
from springhead_testinfra.images import RUN_FLAGS, Podman
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink, SourceProcess, adapter_env

pytestmark = [pytest.mark.integration, pytest.mark.release]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "release.py"
#: The tag the clone gets: every artefact must carry this version.
TAG = "v9.8.7"
VERSION = "9.8.7"
#: The one service whose image the tests build.
SERVICE = "sources/ping"
GIT_IDENTITY = ("-c", "user.name=Springhead Tests", "-c", "user.email=tests@springhead.invalid")


def git(repo: Path, *args: str) -> str:
    """``git <args>`` in ``repo``; its stdout."""
    return subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def clone(target: Path, *, tag: str | None = TAG) -> Path:
    """A clone of this repository's checked-out commit (tagged ``tag`` and nothing else), in
    ``target``."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", "--no-tags", str(REPO), str(target)],
        check=True,
    )
    git(target, "checkout", "--quiet", git(REPO, "rev-parse", "HEAD"))
    if tag is not None:
        git(target, "tag", tag)
    return target


def build_release(repo: Path, dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """scripts/release.py of ``repo`` into ``dist``, as a child process (fails the test with
    its output when it fails)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(repo), "--dist", str(dist), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"release failed:\n{done.stderr}\n{done.stdout}"
    return done


def sums(dist: Path) -> dict[str, str]:
    """SHA256SUMS of a release: path -> digest."""
    found = {}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split("  ", 1)
        found[path] = digest
    return found


@dataclass(frozen=True)
class Release:
    """A built release."""

    #: The clone it was built from.
    repo: Path
    #: Its dist/ folder.
    dist: Path
    #: The commit (full hash).
    revision: str
    #: The commit's time (SOURCE_DATE_EPOCH).
    epoch: int
    #: The loopback chart repository's URL.
    chart_url: str

    def one(self, pattern: str) -> Path:
        """The one file of dist/ matching ``pattern``."""
        [found] = sorted(self.dist.glob(pattern))
        return found


@pytest.fixture(scope="module")
def chart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(folder, URL): an HTTP server on loopback serving the folder (the release's charts)."""
    folder = tmp_path_factory.mktemp("release") / "dist" / "charts"
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def release(chart_server: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release of a clone of this commit tagged :data:`TAG`: python, charts and the ping
    image, its chart index pointing at :func:`chart_server`."""
    charts, url = chart_server
    dist = charts.parent
    repo = clone(tmp_path_factory.mktemp("tagged") / "repo")
    build_release(repo, dist, "--service", SERVICE, "--chart-url", url)
    revision, epoch = git(repo, "log", "-1", "--format=%H %ct").split()
    return Release(repo, dist, revision, int(epoch), url)


PACKAGES = ("springhead", "springhead_testing")


# --- (e) one version everywhere ---------------------------------------------------------------


def chart_yaml(archive: Path) -> dict[str, Any]:
    """The Chart.yaml inside a packaged chart."""
    with tarfile.open(archive) as tar:
        [member] = [
            m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
        ]
        found = tar.extractfile(member)
        assert found is not None
        loaded: dict[str, Any] = yaml.safe_load(found.read())
        return loaded


def test_a_tagged_commit_gives_its_version_to_every_artefact(release: Release) -> None:
    names = {path.name for path in (release.dist / "python").iterdir()}
    assert names == {
        f"{package}-{VERSION}{suffix}"
        for package in PACKAGES
        for suffix in ("-py3-none-any.whl", ".tar.gz")
    }
    charts = sorted((release.dist / "charts").glob("*.tgz"))
    assert charts, "no chart packaged"
    for archive in charts:
        chart = chart_yaml(archive)
        assert archive.name == f"{chart['name']}-{VERSION}.tgz"
        assert (chart["version"], chart["appVersion"]) == (VERSION, VERSION)
    index = yaml.safe_load((release.dist / "charts" / "index.yaml").read_text())
    assert sorted(index["entries"]) == sorted(chart_yaml(a)["name"] for a in charts)
    for [entry] in index["entries"].values():
        assert entry["version"] == VERSION
        assert entry["urls"] == [f"{release.chart_url}/{entry['name']}-{VERSION}.tgz"]
    assert release.one("images/*.oci.tar").name == f"springhead-ping-{VERSION}.oci.tar"
    listed = set(sums(release.dist))
    on_disk = {
        path.relative_to(release.dist).as_posix()
        for path in release.dist.rglob("*")
        if path.is_file() and path.name != "SHA256SUMS"
    }
    assert listed == on_disk
    assert (
        subprocess.run(
            ["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=release.dist, check=False
        ).returncode
        == 0
    )


def test_a_commit_after_the_tag_gets_a_development_version_that_says_so(
    tmp_path: Path,
) -> None:
    repo = clone(tmp_path / "repo")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "after the release")
    short = git(repo, "rev-parse", "--short=9", "HEAD")
    build_release(repo, tmp_path / "dist", "--only", "python")
    wheel = f"springhead-9.8.8.dev1+g{short}-py3-none-any.whl"
    assert (tmp_path / "dist" / "python" / wheel).is_file(), sorted(
        p.name for p in (tmp_path / "dist" / "python").iterdir()
    )


# --- (d) reproducible -------------------------------------------------------------------------


def test_two_releases_of_one_commit_are_alike_byte_for_byte(
    release: Release, tmp_path: Path
) -> None:
    again = tmp_path / "dist"
    build_release(release.repo, again, "--only", "python,charts", "--chart-url", release.chart_url)
    first, second = sums(release.dist), sums(again)
    assert {path for path in second if path.startswith("python/")} == {
        f"python/{package}-{VERSION}{suffix}"
        for package in PACKAGES
        for suffix in (".tar.gz", "-py3-none-any.whl")
    }
    # wheels, sdists, charts, the chart index and the wheels' SBOMs
    assert second == {path: first[path] for path in second}


# --- (a) the runtime's wheel under a custom source, outside the workspace ---------------------

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>t</title><link>https://example.org/</link>
<item><guid>urn:item:1</guid><title>Item 1</title><link>https://example.org/items/1</link>
<pubDate>Sun, 01 Mar 2026 01:00:00 GMT</pubDate></item>
</channel></rss>
"""


@pytest.fixture
async def feed_url() -> AsyncIterator[str]:
    """A feed on loopback (one item), as the custom source's input."""
    app = web.Application()

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=RSS, content_type="application/rss+xml")

    app.router.add_get("/feed", feed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/feed"
    await runner.cleanup()


def uv() -> str:
    """The uv running the tests (``uv run`` exports it), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv: the tests run through `uv run` or with uv on PATH"
    return found


@pytest.fixture
def custom_source(release: Release, tmp_path: Path) -> Path:
    """What a custom-source author does: the example copied out of the workspace, the runtime's
    wheel and the source installed into a fresh venv (the example's workspace source of
    springhead ignored); the venv's Python."""
    source = tmp_path / "feed"
    shutil.copytree(
        REPO / "examples" / "feed", source, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    venv = tmp_path / "venv"
    subprocess.run([uv(), "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = release.one("python/springhead-*.whl")
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--no-sources",
            str(wheel),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    shown = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, springhead; "
            "print(m.version('springhead'), springhead.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert shown[0] == VERSION
    assert Path(shown[1]).is_relative_to(venv), "the runtime comes from the wheel, not the repo"
    return python


async def test_a_custom_source_builds_on_the_wheel_outside_the_workspace(
    custom_source: Path, tmp_path: Path, sink: RecordingSink, feed_url: str
) -> None:
    python = custom_source
    env = adapter_env(
        sink.url, FEED_URL=feed_url, FEED_INTERVAL="PT0.2S", FEED_EMIT_EXISTING="true"
    )
    async with SourceProcess("feed_source", env, python=str(python), cwd=tmp_path) as process:
        [request] = await sink.wait_for(1)
        assert await process.stop() == 0
    assert request.header("ce-subject") == "https://example.org/items/1"
    assert request.header("ce-type") == "dev.springhead.example.feed.item"


# --- (b) the chart repository ------------------------------------------------------------------


def test_a_chart_installs_from_the_served_chart_repository(
    release: Release, helm: Helm, kube: KubeCluster, tmp_path: Path
) -> None:
    bound = Helm(tmp_path / "helm", kubeconfig=kube.kubeconfig)
    bound.run("repo", "add", "springhead", release.chart_url)
    found = json.loads(bound.run("search", "repo", "springhead/", "--output", "json").stdout)
    assert {entry["version"] for entry in found} == {VERSION}
    namespace = f"release-{uuid.uuid4().hex[:8]}"
    bound.run(
        "install",
        "ping",
        "springhead/springhead-ping",
        "--version",
        VERSION,
        "--namespace",
        namespace,
        "--create-namespace",
        "-f",
        str(REPO / "charts" / "ping" / "ci" / "uri-values.yaml"),
    )
    api = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    try:
        deployments = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
        [deployment] = deployments
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"ghcr.io/springhead/springhead-ping:{VERSION}"
        labels = deployment["metadata"]["labels"]
        assert labels.get("helm.sh/chart") == f"springhead-ping-{VERSION}"
        assert labels.get("app.kubernetes.io/version") == VERSION
    finally:
        bound.run("uninstall", "ping", "--namespace", namespace, check=False)
        api.close()


# --- (c) the image archive, and its SBOM -------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(release: Release, podman: Podman) -> Iterator[tuple[Podman, str]]:
    """(podman on an empty storage of its own, the image name) after ``podman load`` of the
    release's ping archive: the archive alone must carry the image."""
    with tempfile.TemporaryDirectory(prefix="springhead-load-") as folder:
        own = Podman(Path(folder) / "storage", Path(folder) / "run")
        try:
            done = own.run("load", "--input", release.one("images/*.oci.tar"), timeout=600)
            match = re.search(r"Loaded image(?:\(s\))?: (\S+)", done.stdout + done.stderr)
            assert match, done.stdout + done.stderr
            yield own, match.group(1)
        finally:
            own.run("rmi", "--all", "--force", check=False)
            own.run("system", "reset", "--force", check=False)


def test_the_loaded_image_carries_the_version_and_revision(
    release: Release, loaded: tuple[Podman, str]
) -> None:
    podman, image = loaded
    assert image.endswith(f"/springhead-ping:{VERSION}")
    found = podman.inspect(image)
    assert found is not None
    labels = found["Config"]["Labels"]
    created = datetime.fromtimestamp(release.epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {
        key: labels.get(f"org.opencontainers.image.{key}")
        for key in ("version", "revision", "created", "source", "licenses")
    } == {
        "version": VERSION,
        "revision": release.revision,
        "created": created,
        "source": "https://github.com/springhead/springhead",
        "licenses": "Apache-2.0",
    }
    shown = podman.run("run", "--rm", *RUN_FLAGS, image, "--version").stdout
    assert shown == f"springhead-ping {VERSION} (revision {release.revision})\n"


INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted([d.metadata['Name'], d.version] for d in m.distributions())))"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_from_sbom(sbom: dict[str, Any], installed: list[list[str]]) -> list[str]:
    """The installed distributions (``name==version``) the SBOM does not list."""
    listed = {(canonical(c["name"]), c["version"]) for c in sbom.get("components", [])}
    return [
        f"{name}=={version}"
        for name, version in installed
        if (canonical(name), version) not in listed
    ]


def test_the_image_sbom_lists_every_distribution_the_image_holds(
    release: Release, loaded: tuple[Podman, str]
) -> None:
    podman, image = loaded
    done = podman.run("run", "--rm", *RUN_FLAGS, "--entrypoint", "python", image, "-c", INSTALLED)
    installed: list[list[str]] = json.loads(done.stdout)
    assert ["springhead", VERSION] in installed and ["springhead-ping", VERSION] in installed
    sbom = json.loads(release.one(f"sbom/springhead-ping-{VERSION}.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert missing_from_sbom(sbom, installed) == []
    # ... and the check sees a distribution the SBOM left out.
    dropped = {**sbom, "components": [c for c in sbom["components"] if c["name"] != "aiohttp"]}
    assert [
        entry for entry in missing_from_sbom(dropped, installed) if entry.startswith("aiohttp==")
    ]


def test_each_wheel_has_an_sbom_of_its_closure(release: Release) -> None:
    for package in PACKAGES:
        sbom = json.loads(
            release.one(f"sbom/{package}-{VERSION}-py3-none-any.cdx.json").read_text()
        )
        names = {canonical(c["name"]): c["version"] for c in sbom["components"]}
        assert names["springhead"] == VERSION
        assert "cloudevents" in names and "pydantic" in names
    testing = json.loads(
        release.one(f"sbom/springhead_testing-{VERSION}-py3-none-any.cdx.json").read_text()
    )
    assert canonical("springhead_testing") in {canonical(c["name"]) for c in testing["components"]}
