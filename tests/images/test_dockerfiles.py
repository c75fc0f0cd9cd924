"""The Dockerfiles' policy, read statically: one per service, multi-stage, pinned, locked,
numeric non-root user, the service's own entry point and a health check.

:func:`policy_problems` states the policy once; every Dockerfile must have no problem, and a
deliberately bad Dockerfile must have each one, so the checks cannot pass by accident.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from springhead_testinfra.dockerfiles import (
    Dockerfile,
    DockerfileError,
    DockerIgnore,
    parse_dockerfile,
    split_words,
)

if TYPE_CHECKING:
    from conftest import Service

REPO = Path(__file__).resolve().parents[2]
PYTHON_BASE = re.compile(r"^python:3\.11(\.\d+)?-slim-[a-z]+$")
UV_IMAGE = "ghcr.io/astral-sh/uv"
NUMERIC_USER = re.compile(r"^(\d+)(?::(\d+))?$")


def _makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert match is not None
    return match.group(1)


def _uv_commands(dockerfile: Dockerfile) -> list[tuple[int, list[str]]]:
    """Every ``uv ...`` command in the RUN steps, with its line."""
    commands = []
    for instruction in dockerfile.instructions():
        if instruction.keyword != "RUN":
            continue
        for part in re.split(r"&&|;|\|\|", instruction.text):
            words = shlex.split(part)
            if words and words[0] == "uv":
                commands.append((instruction.line, words))
    return commands


def policy_problems(dockerfile: Dockerfile, package: str, module: str) -> list[str]:
    """Everything in ``dockerfile`` that breaks the image policy (empty: none)."""
    problems: list[str] = []
    stage_names = {stage.name for stage in dockerfile.stages if stage.name}
    final = dockerfile.final

    # Multi-stage: a builder with uv, then a runtime with only the venv.
    if len(dockerfile.stages) < 2:
        problems.append("not multi-stage: needs a builder stage and a runtime stage")
    if "RUN" in final.keywords():
        problems.append("the runtime stage runs commands; it should only take the builder's venv")
    for copy in final.find("COPY"):
        origin = copy.flag("from")
        if origin not in stage_names:
            problems.append(f"line {copy.line}: the runtime stage copies from outside a stage")
        elif split_words(copy.text, {})[:-1] != ["/app/.venv"]:
            problems.append(f"line {copy.line}: the runtime stage copies more than /app/.venv")

    # Pinned base images and a pinned uv.
    for stage in dockerfile.stages:
        if stage.base in stage_names:
            continue
        name, _, tag = stage.base.rpartition(":")
        if not name or "/" in tag or tag in ("", "latest"):
            problems.append(f"line {stage.line}: base image {stage.base} is not pinned by tag")
        elif not PYTHON_BASE.match(stage.base):
            problems.append(f"line {stage.line}: base image {stage.base} is not python:3.11-slim")
    for instruction in dockerfile.instructions():
        origin = instruction.flag("from") if instruction.keyword == "COPY" else None
        if origin is not None and origin not in stage_names:
            name, _, tag = origin.rpartition(":")
            if name != UV_IMAGE or tag != _makefile_uv_version():
                problems.append(
                    f"line {instruction.line}: {origin} is not {UV_IMAGE}:{_makefile_uv_version()}"
                    " (the uv the Makefile pins)"
                )

    # Only this service's locked dependencies.
    syncs = [(line, words) for line, words in _uv_commands(dockerfile) if words[1:2] == ["sync"]]
    if not syncs:
        problems.append("no `uv sync`: the venv must come from the lock")
    for line, words in _uv_commands(dockerfile):
        if not {"--locked", "--frozen"} & set(words):
            problems.append(f"line {line}: `{' '.join(words)}` is neither --locked nor --frozen")
        if "--no-dev" not in words:
            problems.append(f"line {line}: `{' '.join(words)}` installs dev dependencies")
        if f"--package={package}" not in words and not any(
            words[i : i + 2] == ["--package", package] for i in range(len(words))
        ):
            problems.append(f"line {line}: `{' '.join(words)}` is not for --package {package}")
    if syncs and "--no-editable" not in syncs[-1][1]:
        problems.append("the last `uv sync` is editable: the code would stay in the builder")

    # Runtime settings: numeric non-root user, entry point, health check, Python flags.
    users = final.find("USER")
    user = split_words(users[-1].text, {})[0] if users else ""
    match = NUMERIC_USER.match(user)
    if match is None:
        problems.append(f"USER {user or '(unset)'} is not a numeric uid[:gid] in the runtime stage")
    elif int(match.group(1)) == 0 or (match.group(2) is not None and int(match.group(2)) == 0):
        problems.append(f"USER {user} is root")
    entrypoints = final.find("ENTRYPOINT")
    if not entrypoints or entrypoints[-1].exec_form != ["python", "-m", module]:
        problems.append(f'ENTRYPOINT is not ["python", "-m", "{module}"]')
    checks = final.find("HEALTHCHECK")
    check = checks[-1].text if checks else ""
    if not check.startswith("CMD [") or "/healthz" not in check or "SPRINGHEAD_PORT" not in check:
        problems.append("no exec-form HEALTHCHECK asking /healthz on SPRINGHEAD_PORT")
    env: dict[str, str] = {}
    for instruction in final.find("ENV"):
        for word in split_words(instruction.text, {"PATH": "$PATH"}):
            key, _, value = word.partition("=")
            env[key] = value
    for key, value in {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "SPRINGHEAD_PORT": "8080",
    }.items():
        if env.get(key) != value:
            problems.append(f"the runtime stage does not set ENV {key}={value}")
    if not env.get("PATH", "").startswith("/app/.venv/bin:"):
        problems.append("the runtime stage's PATH does not start with the venv")
    if "8080" not in " ".join(item.text for item in final.find("EXPOSE")):
        problems.append("the runtime stage does not EXPOSE 8080")
    return problems


def _workspace_members() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [
            path.parent.relative_to(REPO).as_posix()
            for path in REPO.glob(f"{pattern}/pyproject.toml")
        ]
    return sorted(members)


def test_every_service_has_a_dockerfile(all_services: tuple[Service, ...]) -> None:
    services = {
        path.parent.relative_to(REPO).as_posix()
        for pattern in ("sources/*/pyproject.toml", "controller/pyproject.toml")
        for path in REPO.glob(pattern)
    } | {
        path.parent.relative_to(REPO).as_posix() for path in REPO.glob("examples/*/pyproject.toml")
    }
    assert services == {service.directory for service in all_services}
    missing = [
        folder for folder in sorted(services) if not (REPO / folder / "Dockerfile").is_file()
    ]
    assert missing == []


def test_the_policy_holds(service: Service) -> None:
    assert (
        policy_problems(parse_dockerfile(service.dockerfile), service.package, service.module) == []
    )


def test_the_entry_point_is_the_services_own(service: Service) -> None:
    project = tomllib.loads((REPO / service.directory / "pyproject.toml").read_text())["project"]
    assert project["name"] == service.package
    [target] = project["scripts"].values()
    assert target.split(":")[0] in (service.module, f"{service.module}.__main__")
    assert (REPO / service.directory / "src" / service.module / "__main__.py").is_file()


def test_every_workspace_members_metadata_is_copied(service: Service) -> None:
    # uv checks the lock against the whole workspace, so `--locked` needs every member's
    # pyproject.toml in the builder, even though only this service is installed.
    dockerfile = parse_dockerfile(service.dockerfile)
    copied = set()
    for instruction in dockerfile.stages[0].find("COPY"):
        *sources, _target = split_words(instruction.text, {})
        copied |= {source for source in sources if source.endswith("pyproject.toml")}
    assert copied == {"pyproject.toml"} | {f"{m}/pyproject.toml" for m in _workspace_members()}


def test_the_build_context_holds_what_the_dockerfiles_copy_and_nothing_else(
    all_services: tuple[Service, ...],
) -> None:
    selected = DockerIgnore.for_context(REPO).select(REPO)
    for service in all_services:
        for instruction in parse_dockerfile(service.dockerfile).instructions():
            if instruction.keyword != "COPY" or instruction.flag("from"):
                continue
            *sources, _target = split_words(instruction.text, {})
            for source in sources:
                assert any(path == source or path.startswith(source + "/") for path in selected), (
                    f"{service.dockerfile}:{instruction.line}: {source} is not in the context"
                )
    leaked = [
        path
        for path in selected
        if re.search(r"(^|/)(tests|\.git|\.venv|__pycache__|bench|\.hypothesis)(/|$)", path)
        or path.endswith((".pyc", ".lock"))
        and path != "uv.lock"
    ]
    assert leaked == []
    assert "uv.lock" in selected and "shared/src/springhead/runtime.py" in selected


BAD_DOCKERFILE = """\
FROM python:latest
COPY . /app
WORKDIR /app
RUN pip install uv && uv sync --package springhead-ping
USER root
CMD python -m springhead_ping
"""


def test_a_bad_dockerfile_breaks_every_rule(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(BAD_DOCKERFILE)
    problems = "\n".join(
        policy_problems(parse_dockerfile(path), "springhead-ping", "springhead_ping")
    )
    for expected in (
        "not multi-stage",
        "the runtime stage runs commands",
        "base image python:latest is not pinned by tag",
        "is neither --locked nor --frozen",
        "installs dev dependencies",
        "the last `uv sync` is editable",
        "USER root is not a numeric uid",
        'ENTRYPOINT is not ["python", "-m", "springhead_ping"]',
        "no exec-form HEALTHCHECK",
        "does not set ENV PYTHONDONTWRITEBYTECODE=1",
        "does not EXPOSE 8080",
    ):
        assert expected in problems


@pytest.mark.parametrize(
    ("user", "problem"),
    [("0", "is root"), ("65532:0", "is root"), ("nobody", "not a numeric"), ("", "(unset)")],
)
def test_a_root_or_named_user_is_refused(tmp_path: Path, user: str, problem: str) -> None:
    text = (REPO / "sources/ping/Dockerfile").read_text()
    text = re.sub(r"^USER .*$", f"USER {user}" if user else "", text, flags=re.M)
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    problems = policy_problems(parse_dockerfile(path), "springhead-ping", "springhead_ping")
    assert len(problems) == 1 and problem in problems[0]


def test_a_service_syncing_another_package_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text((REPO / "sources/ping/Dockerfile").read_text())
    problems = policy_problems(parse_dockerfile(path), "springhead-http", "springhead_ping")
    assert len(problems) == 2
    assert all("is not for --package springhead-http" in problem for problem in problems)


def test_an_unsupported_instruction_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM python:3.11-slim-bookworm\nADD https://example.com/x /x\n")
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: ADD is not supported"):
        parse_dockerfile(path)


def _as_template(service: Service) -> list[str]:
    """The service's Dockerfile with its own names replaced by placeholders (except in the
    workspace-metadata COPY lines, which name every member alike), and its two describing lines
    (the header comment, the image description label) left out."""
    lines = []
    for line in service.dockerfile.read_text().splitlines():
        if "image.description=" in line or line.startswith(f"# {service.package}:"):
            continue
        if not (line.startswith("COPY ") and "/pyproject.toml " in line):
            for name, placeholder in (
                (service.package, "<package>"),
                (service.module, "<module>"),
                (service.directory, "<directory>"),
            ):
                line = line.replace(name, placeholder)
        lines.append(line)
    return lines


def test_every_dockerfile_is_the_same_template(all_services: tuple[Service, ...]) -> None:
    """The seven Dockerfiles differ only in the service's names, so a fix made to one is made
    to all (Docker has no include; this test stands in for one)."""
    first, *others = all_services
    template = _as_template(first)
    for service in others:
        assert _as_template(service) == template, f"{service.dockerfile} drifted from {first}"
