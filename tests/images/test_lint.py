"""Every Dockerfile passes BuildKit's own checks (the rules of ``docker build --check``), run by
springhead_testinfra.dockerlint from the pinned github.com/moby/buildkit; a bad Dockerfile is
flagged, so the lint cannot be passing silently. podman's builder checks none of these (style,
casing, legacy forms, secrets in ARG/ENV), and the files say ``# check=error=true``, so a
``docker build`` of them would fail on any."""

from __future__ import annotations

from pathlib import Path

import pytest
from springhead_testinfra import dockerlint, images
from springhead_testinfra.dockerlint import (
    DockerfileLintFailed,
    assert_dockerfiles_clean,
    lint_dockerfiles,
)

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"

pytestmark = pytest.mark.integration

DOCKERFILES = [DOCKERFILE, REPO / "examples/feed/Dockerfile"]


@pytest.mark.parametrize("module", [dockerlint, images])
def test_public_names_are_sorted_and_defined(module: object) -> None:
    exported = list(getattr(module, "__all__", []))
    assert exported == sorted(exported)
    assert all(hasattr(module, name) for name in exported)


def test_every_dockerfile_lints_clean() -> None:
    reports = assert_dockerfiles_clean(DOCKERFILES)
    assert [report.path for report in reports] == DOCKERFILES


def test_every_dockerfile_passes_the_experimental_rules_too() -> None:
    assert_dockerfiles_clean(DOCKERFILES, experimental=True)


BAD = """\
FROM python:latest as Builder
MAINTAINER someone@example.com
ENV API_TOKEN hunter2
workdir app
COPY . .
FROM builder
CMD python -m springhead_ping
"""


def test_a_bad_dockerfile_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(BAD)
    [report] = lint_dockerfiles([path])
    assert not report.clean
    found = {(warning.rule, warning.line) for warning in report.warnings}
    assert found >= {
        ("FromAsCasing", 1),
        ("StageNameCasing", 1),
        ("MaintainerDeprecated", 2),
        ("LegacyKeyValueFormat", 3),
        ("SecretsUsedInArgOrEnv", 3),
        ("ConsistentInstructionCasing", 4),
        ("WorkdirRelativePath", 4),
        ("JSONArgsRecommended", 7),
    }
    assert all(w.url.startswith("https://docs.docker.com/") for w in report.warnings)
    with pytest.raises(DockerfileLintFailed, match=r"Dockerfile:2: MaintainerDeprecated"):
        assert_dockerfiles_clean([path])


def test_a_dockerfile_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM python:3.11-slim-bookworm\nCOPY --from=missing-stage /x /x\nNOPE x\n")
    [report] = lint_dockerfiles([path])
    assert report.error is not None and "unknown instruction" in report.error.lower()
    with pytest.raises(DockerfileLintFailed, match="error:"):
        assert_dockerfiles_clean([path])


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (("AS runtime", "as runtime"), "FromAsCasing"),
        (("PYTHONDONTWRITEBYTECODE=1", "PYTHONDONTWRITEBYTECODE 1"), "LegacyKeyValueFormat"),
        (('["springhead-service"]', "springhead-service"), "JSONArgsRecommended"),
    ],
)
def test_a_real_dockerfile_broken_is_flagged(
    tmp_path: Path, change: tuple[str, str], rule: str
) -> None:
    text = DOCKERFILE.read_text()
    assert change[0] in text
    path = tmp_path / "Dockerfile"
    path.write_text(text.replace(*change))
    [report] = lint_dockerfiles([path])
    assert report.rules == {rule}
    # The Dockerfiles say `# check=error=true`, so `docker build` itself would fail too.
    assert report.error is not None and rule in report.error
