"""The engine-less Dockerfile reader and executor (springhead_testinfra.dockerfiles) itself:
Docker's word splitting, .dockerignore matching, parsing, and stages run on the host."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from springhead_testinfra import dockerfiles, dockerlint
from springhead_testinfra.dockerfiles import (
    DockerfileError,
    DockerIgnore,
    ExternalCopy,
    build_offline,
    parse_dockerfile,
    split_words,
)


@pytest.mark.parametrize("module", [dockerfiles, dockerlint])
def test_public_names_are_sorted_and_defined(module: object) -> None:
    exported = list(getattr(module, "__all__", []))
    assert exported == sorted(exported)
    assert all(hasattr(module, name) for name in exported)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('PATH="/app/.venv/bin:$PATH" A=b', ["PATH=/app/.venv/bin:/usr/bin", "A=b"]),
        ("A='$PATH literal' B=${PATH}x", ["A=$PATH literal", "B=/usr/binx"]),
        (r"A=one\ word B=\$PATH", ["A=one word", "B=$PATH"]),
        ("A=${MISSING:-fallback} B=${PATH:+set} C=${MISSING:+set}", ["A=fallback", "B=set", "C="]),
        ('A="a \\"quoted\\" \\x"', ['A=a "quoted" \\x']),
    ],
)
def test_words_split_and_expand_as_docker_does(text: str, words: list[str]) -> None:
    assert split_words(text, {"PATH": "/usr/bin"}) == words


def test_an_unterminated_quote_is_a_clear_error() -> None:
    with pytest.raises(DockerfileError, match="unterminated"):
        split_words('A="open', {})


def test_dockerignore_follows_docker_rules() -> None:
    rules = DockerIgnore(
        [
            "# comment",
            "*",
            "!/shared/src",
            "!sources/*/pyproject.toml",
            "**/__pycache__",
            "docs/**/*.md",
            "!keep[0-9].txt",
        ]
    )
    assert rules.excludes("README.md")
    assert rules.excludes("shared/pyproject.toml")
    assert not rules.excludes("shared/src/springhead/runtime.py")  # a parent is re-included
    assert rules.excludes("shared/src/springhead/__pycache__/runtime.cpython-311.pyc")
    assert not rules.excludes("sources/ping/pyproject.toml")
    assert rules.excludes("sources/ping/src/springhead_ping/adapter.py")
    assert not rules.excludes("keep1.txt") and rules.excludes("keepx.txt")
    assert DockerIgnore(["docs/**/*.md"]).excludes("docs/a/b/c.md")
    assert DockerIgnore(["docs/**/*.md"]).excludes("docs/c.md")
    assert not DockerIgnore(["docs/**/*.md"]).excludes("other/c.md")
    assert not DockerIgnore([]).excludes("anything")


def test_dockerignore_selects_a_context(tmp_path: Path) -> None:
    for name in ("a/src/x.py", "a/tests/t.py", "b/y.py", ".git/config", "a/src/__pycache__/x.pyc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("*\n!a/src\n**/__pycache__\n")
    assert DockerIgnore.for_context(tmp_path).select(tmp_path) == ["a/src/x.py"]


def test_parsing_joins_continuations_and_reads_flags(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "# syntax=docker/dockerfile:1\n# check=error=true\n\n"
        "FROM python:3.11-slim-bookworm AS builder\n"
        "RUN --mount=type=cache,target=/root/.cache/uv \\\n"
        "    # a comment inside is dropped\n"
        "    uv sync --locked\n"
        "from builder\n"
        'ENTRYPOINT ["python", "-m", "x"]\n'
    )
    parsed = parse_dockerfile(path)
    assert parsed.directives == {"syntax": "docker/dockerfile:1", "check": "error=true"}
    assert [(s.base, s.name, s.line) for s in parsed.stages] == [
        ("python:3.11-slim-bookworm", "builder", 4),
        ("builder", None, 8),
    ]
    [run] = parsed.stages[0].instructions
    assert run.flag("mount") == "type=cache,target=/root/.cache/uv"
    assert " ".join(run.text.split()) == "uv sync --locked"
    assert run.line == 5 and run.exec_form is None
    assert parsed.final.instructions[0].exec_form == ["python", "-m", "x"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("RUN true\n", "RUN before the first FROM"),
        ("# escape=`\nFROM x\n", "escape"),
        ("FROM a b c d\n", "cannot read FROM"),
        ("FROM x\nARG A=1\n", "Dockerfile:2: ARG is not supported"),
        ("FROM x\nRUN <<EOF\necho\nEOF\n", "heredocs"),
        ("# only a comment\n", "no FROM"),
    ],
)
def test_unreadable_dockerfiles_are_clear_errors(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    with pytest.raises(DockerfileError, match=error):
        parse_dockerfile(path)


EXAMPLE = """\
FROM python:3.11-slim-bookworm AS builder
ENV OUT=/app/built
WORKDIR /app
COPY data.txt ./
RUN --mount=type=cache,target=/cache cp data.txt "$OUT.txt" && echo built > marker
FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/srv/bin:$PATH" GREETING=hello
WORKDIR /srv
COPY --from=builder /app/built.txt /srv/
COPY --from=ghcr.io/example/tool:1.0 /tool /usr/local/bin/
COPY tool.py bin/tool
USER 1000:1000
HEALTHCHECK --interval=5s CMD ["tool", "health"]
ENTRYPOINT ["tool"]
CMD ["serve"]
"""


def _example(tmp_path: Path, text: str = EXAMPLE) -> tuple[Path, Path]:
    context = tmp_path / "context"
    context.mkdir()
    (context / "data.txt").write_text("payload")
    (context / "secret.txt").write_text("never copied")
    (context / "tool.py").write_text(f"#!{sys.executable}\n")
    (context / "tool.py").chmod(0o755)
    (context / ".dockerignore").write_text("secret.txt\n")
    selected = tmp_path / "selected"
    DockerIgnore.for_context(context).copy_context(context, selected)
    (tmp_path / "Dockerfile").write_text(text)
    return tmp_path / "Dockerfile", selected


def test_stages_run_on_the_host(tmp_path: Path) -> None:
    dockerfile, context = _example(tmp_path)
    external: list[ExternalCopy] = []
    image = build_offline(
        parse_dockerfile(dockerfile),
        context=context,
        workspace=tmp_path / "build",
        base_env={"PATH": "/usr/bin:/bin"},
        external_images=external.append,
    )
    assert image.host_path("/srv/built.txt").read_text() == "payload"
    assert not image.host_path("/app").exists()  # the builder's files stay in the builder
    assert [(c.image, c.sources, c.destination) for c in external] == [
        ("ghcr.io/example/tool:1.0", ("/tool",), "/usr/local/bin/")
    ]
    assert image.user == "1000:1000" and image.workdir == "/srv"
    assert image.entrypoint == ["tool"] and image.cmd == ["serve"]
    tool = str(image.host_path("/srv/bin/tool"))
    assert image.command() == [tool, "serve"]
    assert image.healthcheck_command() == [tool, "health"]
    env = image.host_env({"EXTRA": "/srv/bin"})
    assert env["PATH"] == f"{image.root}/srv/bin:/usr/bin:/bin"
    assert env["GREETING"] == "hello" and env["EXTRA"] == f"{image.root}/srv/bin"
    assert image.env["PATH"] == "/srv/bin:/usr/bin:/bin"  # the container's view is kept


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("COPY data.txt ./", "COPY secret.txt ./"), "secret.txt: not found in the build context"),
        (("cp data.txt", "cp /app/data.txt"), "RUN spells the image path /app"),
        (("cp data.txt", "false && cp data.txt"), "RUN exited 1"),
        (("type=cache,target=/cache", "type=secret,id=x"), "only cache mounts"),
        (("COPY --from=builder /app/built.txt", "COPY --from=builder /app/nope"), "nope does not"),
    ],
)
def test_steps_that_cannot_run_are_clear_errors(
    tmp_path: Path, change: tuple[str, str], error: str
) -> None:
    dockerfile, context = _example(tmp_path, EXAMPLE.replace(*change))
    with pytest.raises(DockerfileError, match=error):
        build_offline(
            parse_dockerfile(dockerfile),
            context=context,
            workspace=tmp_path / "build",
            external_images=lambda copy: None,
        )


def test_a_copy_from_an_image_needs_a_handler(tmp_path: Path) -> None:
    dockerfile, context = _example(tmp_path)
    with pytest.raises(DockerfileError, match="ghcr.io/example/tool:1.0: no image available"):
        build_offline(parse_dockerfile(dockerfile), context=context, workspace=tmp_path / "b")
