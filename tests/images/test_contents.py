"""What each built image holds and how it is configured, read from the real image: exactly the
service's locked dependency closure, installed (not linked) and byte-compiled, nothing for tests
or development; a numeric non-root user, the health check, the environment.

:func:`config_problems` states the configuration policy once; every image must have no problem,
and a deliberately bad configuration must have each one, so the checks cannot pass by accident.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from springhead_testinfra import versions
from springhead_testinfra.images import RUN_FLAGS, Podman, dockerfile_args
from springhead_testinfra.services import DOCKERFILE, REPO, SERVICES, ImageBuilds, Service

#: Clients heavy enough that a service must not carry them unless it uses them.
HEAVY_CLIENTS = frozenset({"kubernetes", "aiokafka", "pygithub", "apscheduler", "fastapi"})
#: Development tools and test infrastructure: never in an image.
DEV_ONLY = frozenset(
    {"pytest", "pytest-asyncio", "mypy", "ruff", "hypothesis", "import-linter"}
    | {"springhead-testinfra", "springhead-testing", "pip", "setuptools", "wheel"}
    # uvicorn serves every source, but without [standard]'s reloader and websockets
    | {"watchfiles", "websockets"}
)
NUMERIC_USER = re.compile(r"^(\d+):(\d+)$")


def locked_closure(package: str, extra: str = "") -> set[str]:
    """The distributions uv.lock installs for ``package`` (with its ``extra``) on this platform
    (members included)."""
    uv = os.environ.get("UV") or "uv"
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--package", package, "--no-hashes"]
        + (["--extra", extra] if extra else [])
        + ["--no-header", "--no-annotate", "--format", "requirements-txt"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "UV_OFFLINE": "1"},
    ).stdout
    names: set[str] = set()
    for line in exported.splitlines():
        if line.startswith("-e ./"):  # a workspace member: its project name from its metadata
            metadata = tomllib.loads((REPO / line[5:] / "pyproject.toml").read_text())
            names.add(canonicalize_name(metadata["project"]["name"]))
        elif line.strip() and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                names.add(canonicalize_name(requirement.name))
    return names


#: Locked distributions the images take from the base image instead: Debian's time zone data.
FROM_THE_BASE = frozenset({"tzdata"})


def test_time_zones_come_from_the_base_image(image_builds: ImageBuilds) -> None:
    """The ping source's schedules name IANA zones: the image finds them in the base's
    /usr/share/zoneinfo (PyPI's tzdata is left out), and an unknown zone is still refused."""
    [ping] = [s for s in SERVICES if s.package == "springhead-ping" and not s.extra]
    shown = image_builds.python(
        ping,
        "import importlib.util, json, zoneinfo; from datetime import datetime; "
        "zone = zoneinfo.ZoneInfo('America/New_York'); "
        "missing = False\n"
        "try: zoneinfo.ZoneInfo('Mars/Olympus_Mons')\n"
        "except zoneinfo.ZoneInfoNotFoundError: missing = True\n"
        "offset = datetime(2026, 1, 1, tzinfo=zone).utcoffset().total_seconds()\n"
        "print(json.dumps({'offset': offset, "
        "'wheel': importlib.util.find_spec('tzdata') is not None, 'missing': missing, "
        "'path': list(zoneinfo.TZPATH)}))",
    )
    assert shown["offset"] == -5 * 3600
    assert shown["wheel"] is False
    assert shown["missing"] is True
    assert "/usr/share/zoneinfo" in shown["path"]


def test_the_image_holds_exactly_the_services_locked_closure(
    service: Service, image_builds: ImageBuilds
) -> None:
    found = {
        canonicalize_name(name)
        for name in image_builds.python(
            service,
            "import importlib.metadata as m, json; "
            "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
        )
    }
    assert found == locked_closure(service.package, service.extra) - FROM_THE_BASE
    assert not DEV_ONLY & found
    clients = HEAVY_CLIENTS & found
    assert clients <= HEAVY_CLIENTS & locked_closure(service.package, service.extra)


#: The GitHub API client and what it needs: only the hooks command and the controller's github
#: role (GitHubSource) use them.
GITHUB_CLIENT = frozenset({"pygithub", "pyjwt", "cryptography", "pynacl"})


def test_only_the_images_managing_hooks_hold_the_github_api_client(
    image_builds: ImageBuilds, podman: Podman, all_services: tuple[Service, ...]
) -> None:
    [receiver] = [s for s in all_services if s.name == "springhead-github"]
    [hooks] = [s for s in all_services if s.name == "springhead-github-hooks"]
    [controller] = [s for s in all_services if s.name == "springhead-controller"]
    [controller_github] = [s for s in all_services if s.name == "springhead-controller-github"]
    assert GITHUB_CLIENT <= locked_closure(hooks.package, hooks.extra)
    assert GITHUB_CLIENT <= locked_closure(controller_github.package, controller_github.extra)
    assert not GITHUB_CLIENT & locked_closure(receiver.package)
    assert not GITHUB_CLIENT & locked_closure(controller.package)
    listed = (
        "import importlib.util, json; "
        "print(json.dumps([n for n in ('github', 'jwt', 'cryptography', 'nacl') "
        "if importlib.util.find_spec(n)]))"
    )
    assert image_builds.python(receiver, listed) == []
    assert image_builds.python(hooks, listed) == ["github", "jwt", "cryptography", "nacl"]
    role = "import json, springhead_controller.githubsources as m; print(json.dumps(m.FINALIZER))"
    assert image_builds.python(controller_github, role) == "githubsources.sources.knative.dev"
    # The receiver serves (test_containers); asked for the hooks command, it names the image.
    ran = podman.run(
        "run", "--rm", *RUN_FLAGS, image_builds.build(receiver).tag, "hooks", "register",
        check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "run it from the springhead-github-hooks image" in ran.stderr
    # The hooks image runs the command: without its settings, it stops on them.
    ran = podman.run(
        "run", "--rm", *RUN_FLAGS, image_builds.build(hooks).tag, "hooks", "register",
        check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "GITHUB_" in ran.stderr and "springhead-github[hooks]" not in ran.stderr


#: What only one of the controller's roles needs (springhead_controller.roles): the core image
#: (springhead-controller) holds none of it, each role's image its own only.
ROLE_CLIENTS = {
    "broker": frozenset({"aiokafka", "lark"}),
    "github": GITHUB_CLIENT,
}


def test_each_controller_image_holds_only_its_roles_clients(
    image_builds: ImageBuilds, podman: Podman, all_services: tuple[Service, ...]
) -> None:
    images = {s.extra: s for s in all_services if s.package == "springhead-controller"}
    assert set(images) == {"", *ROLE_CLIENTS}
    for extra, service in images.items():
        closure = locked_closure(service.package, service.extra)
        for role, clients in ROLE_CLIENTS.items():
            assert (clients <= closure) if role == extra else not clients & closure, (extra, role)
    listed = (
        "import importlib.util, json; "
        "print(json.dumps([n for n in ('aiokafka', 'lark', 'github') "
        "if importlib.util.find_spec(n)]))"
    )
    assert image_builds.python(images[""], listed) == []
    assert image_builds.python(images["broker"], listed) == ["aiokafka", "lark"]
    assert image_builds.python(images["github"], listed) == ["github"]
    # A role whose extra the image lacks stops the process at start with one line naming the
    # variable and the image to run instead.
    for image, role in ((images[""], "broker"), (images["broker"], "github")):
        ran = podman.run(
            "run", "--rm", *RUN_FLAGS,
            "--env", f"CONTROLLER_ROLES=core,{role}",
            "--env", "BROKER_CONTRACT_CONFIGMAP=ns/contract",
            "--env", "KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
            image_builds.build(image).tag,
            check=False,
        )  # fmt: skip
        assert ran.returncode == 2, ran.stderr
        # (podman adds its own lines about healthcheck timers, which this machine lacks.)
        [line] = [text for text in ran.stderr.splitlines() if "CONTROLLER_ROLES" in text]
        assert line.startswith("configuration error: CONTROLLER_ROLES: ")
        assert f"needs springhead-controller[{role}]" in line
        assert f"run the springhead-controller-{role} image" in line


def test_the_code_is_installed_byte_compiled_and_without_test_helpers(
    service: Service, image_builds: ImageBuilds
) -> None:
    shown = image_builds.python(
        service,
        "import glob, importlib.util, json, os, springhead, "
        f"{service.module} as m; "
        "site = os.path.dirname(os.path.dirname(springhead.__file__)); "
        "print(json.dumps({'files': [springhead.__file__, m.__file__], 'site': site, "
        "'testing': [importlib.util.find_spec(n) is not None "
        "for n in ('springhead_testing', 'springhead_testinfra')], "
        "'pth': {p: open(p).read() for p in glob.glob(site + '/*.pth')}, "
        f"'pyc': glob.glob(site + '/{service.module}/__pycache__/__main__.*.pyc')}}))",
    )
    site = Path(shown["site"])
    assert site.as_posix() == "/app/.venv/lib/python3.11/site-packages"
    for module_file in shown["files"]:
        assert Path(module_file).is_relative_to(site)
    for pth, text in shown["pth"].items():
        paths = [line for line in text.splitlines() if line and line[0] in "/."]
        assert paths == [], f"{pth} points outside the venv: {paths}"
    # Byte-compiled at build time: a read-only root file system costs no start-up time.
    assert shown["pyc"]
    assert shown["testing"] == [False, False], "the test helpers are not part of the runtime"


#: Run in the image: which extension modules still carry debug sections (ELF section names).
DEBUG_SECTIONS = """
import glob, json, struct, importlib.util
def sections(path):
    with open(path, "rb") as f:
        data = f.read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    names_at = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
    for i in range(shnum):
        name = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
        yield data[names_at + name:data.index(b"\\0", names_at + name)].decode()
kube = importlib.util.find_spec("kubernetes")
site = "/app/.venv/lib/python3.11/site-packages"
print(json.dumps({
    "aio": kube is not None and importlib.util.find_spec("kubernetes.aio") is not None,
    "debug": sorted(p for p in glob.glob("/app/.venv/**/*.so", recursive=True)
                    if any(n.startswith(".debug_") or n == ".symtab" for n in sections(p))),
    "tests": sorted(p for p in glob.glob(site + "/**/", recursive=True)
                    if p.rstrip("/").rsplit("/", 1)[-1] in ("tests", "test")),
    "sources": sorted(p for ext in ("pyi", "pyx", "pxd")
                      for p in glob.glob(f"/app/.venv/**/*.{ext}", recursive=True)),
}))
"""


def test_the_section_reader_sees_an_unstripped_module() -> None:
    # The wheels on the host are as published: uvloop's extension module carries debug sections.
    import uvloop

    found: dict[str, Any] = {}
    exec(DEBUG_SECTIONS.split("kube = ")[0], found)  # noqa: S102 - the code the image runs
    [module] = Path(uvloop.__file__).parent.glob("loop.*.so")
    names = set(found["sections"](str(module)))
    assert {".debug_info", ".symtab"} <= names and ".text" in names


def test_what_no_service_runs_is_left_out(service: Service, image_builds: ImageBuilds) -> None:
    shown = image_builds.python(service, DEBUG_SECTIONS)
    # kubernetes.aio: the client's asyncio copy, two thirds of the package, imported by nothing.
    assert shown["aio"] is False
    assert shown["debug"] == [], "extension modules keep debug information or symbol tables"
    # Test suites shipped inside wheels (websocket-client's), type stubs, Cython sources.
    assert shown["tests"] == []
    assert shown["sources"] == []


def test_only_the_venv_is_added_to_the_base(
    service: Service, image_builds: ImageBuilds, podman: Podman
) -> None:
    image = image_builds.build(service)
    history = podman.run("history", "--no-trunc", "--format", "{{.CreatedBy}}", image.tag)
    base_layers = podman.run(
        "history", "--no-trunc", "--format", "{{.CreatedBy}}", versions.PYTHON_IMAGE
    )
    added = history.stdout.splitlines()[: -len(base_layers.stdout.splitlines())]
    copies = [step for step in added if re.search(r"\bCOPY\b|\bADD\b|\bRUN\b", step)]
    assert len(copies) == 1 and "/app/.venv" in copies[0], copies


def config_problems(config: dict[str, Any]) -> list[str]:
    """Everything in an image's configuration that breaks the policy (empty: none)."""
    problems: list[str] = []
    user = config.get("User") or ""
    match = NUMERIC_USER.match(user)
    if match is None:
        problems.append(f"USER {user or '(unset)'} is not a numeric uid:gid")
    elif "0" in (str(int(match.group(1))), str(int(match.group(2)))):
        problems.append(f"USER {user} is root")
    if config.get("Entrypoint") != ["springhead-service"]:
        problems.append(f"ENTRYPOINT {config.get('Entrypoint')} is not the service's script")
    test = (config.get("Healthcheck") or {}).get("Test") or []
    if (
        test[:1] != ["CMD"]
        or "/healthz" not in " ".join(test)
        or "SPRINGHEAD_PORT" not in str(test)
    ):
        problems.append("no exec-form HEALTHCHECK asking /healthz on SPRINGHEAD_PORT")
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    for key, value in {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "SPRINGHEAD_PORT": "8080",
    }.items():
        if env.get(key) != value:
            problems.append(f"the image does not set ENV {key}={value}")
    if not env.get("PATH", "").startswith("/app/.venv/bin:"):
        problems.append("the image's PATH does not start with the venv")
    if "8080/tcp" not in (config.get("ExposedPorts") or {}):
        problems.append("the image does not EXPOSE 8080")
    leaked = sorted(key for key in env if key.startswith("UV_") or "CERT" in key)
    if leaked:
        problems.append(f"the builder's settings leaked into the image: {leaked}")
    return problems


def test_the_image_configuration_holds_the_policy(
    service: Service, image_builds: ImageBuilds
) -> None:
    config = image_builds.config(service)
    assert config_problems(config) == []
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SPRINGHEAD_REVISION"] == image_builds.revision
    assert config["Labels"]["org.opencontainers.image.revision"] == image_builds.revision
    assert config["Labels"]["org.opencontainers.image.version"] == image_builds.version
    shown = image_builds.podman.run(
        "run", "--rm", *RUN_FLAGS, image_builds.build(service).tag, "--version"
    ).stdout
    assert shown == f"{service.package} {image_builds.version} (revision {image_builds.revision})\n"


def test_a_bad_configuration_breaks_every_rule() -> None:
    bad = {
        "User": "root",
        "Entrypoint": ["python"],
        "Healthcheck": {"Test": ["CMD-SHELL", "curl localhost"]},
        "Env": ["PATH=/usr/bin", "UV_SYSTEM_CERTS=true"],
        "ExposedPorts": {},
    }
    problems = "\n".join(config_problems(bad))
    for expected in (
        "USER root is not a numeric uid:gid",
        "is not the service's script",
        "no exec-form HEALTHCHECK",
        "does not set ENV PYTHONDONTWRITEBYTECODE=1",
        "PATH does not start with the venv",
        "does not EXPOSE 8080",
        "leaked into the image: ['UV_SYSTEM_CERTS']",
    ):
        assert expected in problems
    assert config_problems({**bad, "User": "65532:0"})[0] == "USER 65532:0 is root"


def test_bad_settings_stop_the_image_with_one_clear_line(
    image_builds: ImageBuilds, podman: Podman, all_services: tuple[Service, ...]
) -> None:
    [ping] = [service for service in all_services if service.package == "springhead-ping"]
    image = image_builds.build(ping)
    ran = podman.run(
        "run", "--rm", *RUN_FLAGS,
        "--env", "K_SINK=http://127.0.0.1:9/", "--env", "PING_SCHEDULE=not a schedule",
        image.tag,
        check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "PING_SCHEDULE" in ran.stderr


def test_make_images_builds_every_service_image(all_services: tuple[Service, ...]) -> None:
    # The Makefile lists folders by wildcard and the extras' variants by hand: both must name
    # exactly the images the tests build.
    makefile = (REPO / "Makefile").read_text()
    [patterns] = re.findall(r"^IMAGE_SERVICES := .*\(wildcard (.*)\)\)$", makefile, re.M)
    folders = {
        p.parent.relative_to(REPO).as_posix()
        for pattern in patterns.split()
        for p in REPO.glob(pattern)
    }
    [variants] = re.findall(r"^IMAGE_VARIANTS := (.*)$", makefile, re.M)
    assert folders == {s.directory for s in all_services if not s.extra}
    assert set(variants.split()) == {f"{s.directory}:{s.extra}" for s in all_services if s.extra}


def test_make_images_checks_the_lock_before_the_frozen_builds() -> None:
    # The builder installs uv.lock --frozen (it sees only two members' metadata), so `make
    # images` must first check the lock against the whole workspace: its `sync` prerequisite.
    makefile = (REPO / "Makefile").read_text()
    [prerequisites] = re.findall(r"^images:(.*)$", makefile, re.M)
    assert "sync" in prerequisites.split()
    [sync] = re.findall(r"^sync:.*\n\t(.*)$", makefile, re.M)
    assert "uv) sync --locked" in sync or "sync --locked" in sync
    assert re.search(r"^\s+UV_FROZEN=1", DOCKERFILE.read_text(), re.M)


# --- the Dockerfile(s) --------------------------------------------------------------------------


def test_the_base_images_are_the_ones_testinfra_makes() -> None:
    args = dockerfile_args(DOCKERFILE)
    assert f"docker.io/library/{args['PYTHON_IMAGE']}" == versions.PYTHON_IMAGE
    assert args["UV_IMAGE"] == versions.UV_IMAGE
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^UV_VERSION := {re.escape(versions.UV_VERSION)}$", makefile, re.M)


def test_the_build_context_admits_every_member_that_goes_into_an_image() -> None:
    """buildah admits a file of the context only below a folder the .dockerignore admits, so
    each image member's top folder is named there (a member one image uses, the ping source in
    the controller, must be in the builder's context); test helpers never are."""
    members = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    tops = {member.split("/")[0] for member in members["members"]}
    admitted = {
        line[1:]
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!") and "/" not in line and "." not in line
    }
    assert admitted == tops - {"testing", "testinfra"}


def _without_service(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(("ARG SERVICE=", "#"))]


def test_the_feed_examples_dockerfile_is_the_template_for_the_feed(
    all_services: tuple[Service, ...],
) -> None:
    """examples/feed/Dockerfile is the one Dockerfile with SERVICE defaulting to the example, so
    an author can copy it as it stands; a change to one must be made to the other."""
    feed = REPO / "examples/feed/Dockerfile"
    assert dockerfile_args(feed)["SERVICE"] == "examples/feed"
    assert _without_service(feed.read_text()) == _without_service(DOCKERFILE.read_text())
    others = [p for p in REPO.glob("*/**/Dockerfile") if ".venv" not in p.parts]
    assert others == [feed], "one Dockerfile for every service (the feed example's aside)"
    assert {service.directory for service in all_services} >= {"examples/feed"}


def test_the_feed_dockerfile_builds_the_feed_without_arguments(podman: Podman) -> None:
    built = podman.build(
        REPO / "examples/feed/Dockerfile", REPO, "localhost/springhead-test-feed-default:latest"
    )
    config = podman.inspect(built.tag)
    assert config is not None
    assert "examples/feed" in config["Config"]["Labels"]["org.opencontainers.image.title"]
