"""Dockerfiles without a Docker engine: parse them, honour ``.dockerignore``, run their steps.

No Docker engine runs where the tests run, so an image cannot be built. What can be checked is
everything the image's build does with the project: :func:`parse_dockerfile` reads a Dockerfile
(the instructions Springhead's Dockerfiles use), :class:`DockerIgnore` selects the build context
as Docker does, and :func:`build_offline` executes the stages for real, each in a folder of its
own that stands in for the image's root file system:

* ``FROM <image>`` starts an empty root; the host stands in for the base image (its ``PATH``,
  its Python), so the caller must make sure the host's Python is the base image's.
  ``FROM <stage>`` starts from a copy of that stage.
* ``WORKDIR``, ``ENV``, ``COPY`` (from the context or ``--from`` a stage) act on the stage's root;
  a ``COPY --from=<image>`` of another image goes to ``external_images`` (a caller's callback).
* ``RUN`` runs with ``/bin/sh -c`` in the stage's working directory. ``--mount=type=cache`` is
  dropped (the host's caches stand in for it).
* Container paths under the folders the Dockerfile itself makes (its ``WORKDIR`` s and absolute
  ``COPY`` targets, e.g. ``/app``) are mapped into the stage's root, in ``ENV`` values (``PATH``
  entries one by one) and in ``COPY`` targets. A ``RUN`` command must not spell such a path
  itself (it is not rewritten): :class:`DockerfileError` says so.

``LABEL``, ``EXPOSE``, ``USER``, ``HEALTHCHECK``, ``ENTRYPOINT`` and ``CMD`` are recorded on the
:class:`BuiltImage`, which turns them into host commands (:meth:`BuiltImage.command`,
:meth:`BuiltImage.healthcheck_command`) and a host environment (:meth:`BuiltImage.host_env`).
Anything else (``ADD``, ``ARG``, ``SHELL``, heredocs, other mounts) is refused with a clear error
rather than half-done.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "BuiltImage",
    "DockerIgnore",
    "Dockerfile",
    "DockerfileError",
    "ExternalCopy",
    "Instruction",
    "Stage",
    "build_offline",
    "parse_dockerfile",
    "split_words",
]

#: Instructions :func:`build_offline` executes or records; any other is refused.
SUPPORTED = frozenset(
    {"FROM", "WORKDIR", "ENV", "COPY", "RUN", "LABEL", "EXPOSE", "USER", "HEALTHCHECK"}
    | {"ENTRYPOINT", "CMD", "STOPSIGNAL"}
)


class DockerfileError(Exception):
    """A Dockerfile that cannot be parsed or executed here; the message names file and line."""


@dataclass(frozen=True)
class Instruction:
    """One instruction: ``RUN --mount=type=cache,target=/x uv sync`` and the like."""

    #: The keyword in upper case (``RUN``).
    keyword: str
    #: ``--name=value`` flags before the arguments (``{"mount": ["type=cache,target=/x"]}``).
    flags: Mapping[str, tuple[str, ...]]
    #: The arguments after the flags, continuation lines joined.
    text: str
    #: The 1-based line the instruction starts on.
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The arguments as a JSON array (exec form), or None for shell form."""
        return _json_array(self.text)

    def flag(self, name: str) -> str | None:
        """The value of flag ``--name`` (the last one given), or None."""
        values = self.flags.get(name)
        return values[-1] if values else None


@dataclass
class Stage:
    """A ``FROM`` and the instructions up to the next one."""

    #: The image or earlier stage it starts from.
    base: str
    #: Its ``AS`` name, or None.
    name: str | None
    #: Its position among the stages (0-based).
    index: int
    #: The instructions after ``FROM``.
    instructions: list[Instruction] = field(default_factory=list)
    #: The line of its ``FROM``.
    line: int = 0

    def keywords(self) -> list[str]:
        """The keywords of the stage's instructions, in order."""
        return [instruction.keyword for instruction in self.instructions]

    def find(self, keyword: str) -> list[Instruction]:
        """Every instruction of the stage with ``keyword``."""
        return [item for item in self.instructions if item.keyword == keyword]


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    #: Where it was read from.
    path: Path
    #: Its stages, in order; the last one is the image.
    stages: list[Stage]
    #: Parser directives (``# syntax=...``, ``# check=...``) by lower-case name.
    directives: dict[str, str]

    @property
    def final(self) -> Stage:
        """The stage that becomes the image."""
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"{self.path}: no stage named {name!r}")

    def instructions(self) -> Iterator[Instruction]:
        """Every instruction of every stage, in order (``FROM`` not included)."""
        for stage in self.stages:
            yield from stage.instructions


# --- parsing ----------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_FLAG = re.compile(r"--([a-z][a-z-]*)(?:=(\S*))?\s*")


def _json_array(text: str) -> list[str] | None:
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def parse_dockerfile(path: str | os.PathLike[str]) -> Dockerfile:
    """Parse the Dockerfile at ``path``; raise :class:`DockerfileError` on what it cannot read."""
    source = Path(path)
    lines = source.read_text().splitlines()
    directives: dict[str, str] = {}
    index = 0
    # Parser directives: comment lines of the form "# name=value" before anything else.
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if match is None:
            break
        directives[match.group(1).lower()] = match.group(2)
        index += 1
    if directives.get("escape", "\\") != "\\":
        raise DockerfileError(f"{source}: only the default escape character \\ is supported")

    stages: list[Stage] = []
    while index < len(lines):
        start = index
        text = lines[index].strip()
        index += 1
        if not text or text.startswith("#"):
            continue
        # A trailing backslash continues the instruction; comment and empty lines inside it
        # are dropped, as Docker does.
        while text.endswith("\\"):
            text = text[:-1]
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index >= len(lines):
                break
            text += lines[index]
            index += 1
        instruction = _instruction(text, start + 1, source)
        if instruction.keyword == "FROM":
            stages.append(_stage(instruction, len(stages), source))
        elif not stages:
            raise DockerfileError(
                f"{source}:{start + 1}: {instruction.keyword} before the first FROM"
            )
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError(f"{source}: no FROM instruction")
    return Dockerfile(path=source, stages=stages, directives=directives)


def _instruction(text: str, line: int, source: Path) -> Instruction:
    keyword, _, rest = text.strip().partition(" ")
    keyword = keyword.upper()
    if keyword not in SUPPORTED:
        raise DockerfileError(f"{source}:{line}: {keyword} is not supported by this executor")
    rest = rest.strip()
    flags: dict[str, list[str]] = {}
    while rest.startswith("--"):
        match = _FLAG.match(rest)
        if match is None:
            raise DockerfileError(f"{source}:{line}: cannot read the flags of {text!r}")
        flags.setdefault(match.group(1), []).append(match.group(2) or "")
        rest = rest[match.end() :]
    if keyword in ("RUN", "COPY") and re.search(r"<<-?\s*['\"]?[A-Za-z_]", rest):
        raise DockerfileError(f"{source}:{line}: heredocs are not supported by this executor")
    return Instruction(
        keyword=keyword,
        flags={name: tuple(values) for name, values in flags.items()},
        text=rest,
        line=line,
    )


def _stage(instruction: Instruction, index: int, source: Path) -> Stage:
    words = instruction.text.split()
    if len(words) == 1:
        return Stage(base=words[0], name=None, index=index, line=instruction.line)
    if len(words) == 3 and words[1].upper() == "AS":
        return Stage(base=words[0], name=words[2], index=index, line=instruction.line)
    raise DockerfileError(f"{source}:{instruction.line}: cannot read FROM {instruction.text!r}")


_VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def _expand_variable(match: re.Match[str], env: Mapping[str, str]) -> str:
    name = match.group(1) or match.group(4)
    value = env.get(name, "")
    operator, word = match.group(2), match.group(3)
    if operator == "-":
        return value or word
    if operator == "+":
        return word if value else ""
    return value


def split_words(text: str, env: Mapping[str, str]) -> list[str]:
    """Split ``text`` into words the way Docker reads ``ENV``/``LABEL``/``COPY`` arguments.

    Whitespace separates words; single quotes keep text literal; double quotes keep whitespace
    and still expand variables; a backslash escapes the next character; ``$NAME``,
    ``${NAME}``, ``${NAME:-word}`` and ``${NAME:+word}`` expand from ``env``.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    position = 0
    quote: str | None = None
    while position < len(text):
        char = text[position]
        if quote == "'":
            if char == "'":
                quote = None
            else:
                current.append(char)
            position += 1
            continue
        if char == "\\" and position + 1 < len(text):
            following = text[position + 1]
            if quote == '"' and following not in '"\\$':
                current.append(char)
            current.append(following)
            in_word = True
            position += 2
            continue
        if char == "$":
            match = _VARIABLE.match(text, position)
            if match is not None:
                current.append(_expand_variable(match, env))
                in_word = True
                position = match.end()
                continue
        if quote == '"':
            if char == '"':
                quote = None
            else:
                current.append(char)
            position += 1
            continue
        if char in "'\"":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        position += 1
    if quote is not None:
        raise DockerfileError(f"unterminated {quote} quote in {text!r}")
    if in_word:
        words.append("".join(current))
    return words


def _pairs(instruction: Instruction, env: Mapping[str, str], source: Path) -> dict[str, str]:
    """Read ``key=value ...`` (ENV, LABEL); every value sees ``env`` from before the line."""
    pairs: dict[str, str] = {}
    for word in split_words(instruction.text, env):
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise DockerfileError(
                f"{source}:{instruction.line}: {instruction.keyword} needs key=value pairs "
                f"(the legacy 'key value' form is not supported), got {word!r}"
            )
        pairs[key] = value
    return pairs


# --- .dockerignore ----------------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """Compile a .dockerignore pattern: Go's filepath.Match syntax plus ``**``."""
    out = ["^"]
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "*":
            if pattern.startswith("**", position):
                # "**" crosses folders: "**/x" and "**x" match x at any depth, a final "**" all.
                position += 2
                if pattern.startswith("/", position):
                    position += 1
                out.append(".*" if position >= len(pattern) else "(?:.*/)?")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and position + 1 < len(pattern):
            position += 1
            out.append(re.escape(pattern[position]))
        elif char == "[":
            end = pattern.find("]", position + 1)
            if end < 0:
                raise DockerfileError(f".dockerignore: unterminated [ in {pattern!r}")
            body = pattern[position + 1 : end]
            negated = body.startswith(("^", "!"))
            out.append("[" + ("^" + body[1:] if negated else body) + "]")
            position = end
        else:
            out.append(re.escape(char))
        position += 1
    out.append("$")
    return re.compile("".join(out))


@dataclass(frozen=True)
class _IgnorePattern:
    text: str
    regex: re.Pattern[str]
    negated: bool


class DockerIgnore:
    """The rules of a ``.dockerignore``: which paths of the context a build does not see.

    As Docker reads them: one pattern per line, ``#`` lines are comments, surrounding whitespace
    and a leading ``/`` are dropped, the path is cleaned; a pattern excludes a path when it
    matches the path or one of its parent folders; ``!`` re-includes; the last pattern that
    matches decides.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[_IgnorePattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            negated = text.startswith("!")
            if negated:
                text = text[1:].strip()
            cleaned = os.path.normpath(text).lstrip("/")
            if cleaned in ("", "."):
                continue
            self.patterns.append(_IgnorePattern(cleaned, _ignore_regex(cleaned), negated))

    @classmethod
    def for_context(cls, context: str | os.PathLike[str]) -> DockerIgnore:
        """The rules of ``<context>/.dockerignore`` (none when the file is absent)."""
        path = Path(context) / ".dockerignore"
        return cls(path.read_text().splitlines() if path.is_file() else [])

    def excludes(self, relative: str) -> bool:
        """Tell whether the context path ``relative`` (``a/b/c``) is left out of the build."""
        parts = PurePosixPath(relative).parts
        candidates = ["/".join(parts[: count + 1]) for count in range(len(parts))]
        excluded = False
        for pattern in self.patterns:
            if any(pattern.regex.match(candidate) for candidate in candidates):
                excluded = not pattern.negated
        return excluded

    def _may_include_below(self, relative: str) -> bool:
        """Could a ``!`` pattern bring back something inside the excluded folder ``relative``?"""
        parts = PurePosixPath(relative).parts
        for pattern in self.patterns:
            if not pattern.negated:
                continue
            pattern_parts = pattern.text.split("/")
            for position, part in enumerate(parts):
                if position >= len(pattern_parts) or pattern_parts[position] == "**":
                    return True
                if not _ignore_regex(pattern_parts[position]).match(part):
                    break
            else:
                return True
        return False

    def select(self, context: str | os.PathLike[str]) -> list[str]:
        """The files of ``context`` a build sees, as sorted relative paths."""
        root = Path(context)
        selected: list[str] = []
        for folder, dirnames, filenames in os.walk(root):
            relative_folder = Path(folder).relative_to(root).as_posix()
            prefix = "" if relative_folder == "." else relative_folder + "/"
            kept = []
            for name in sorted(dirnames):
                relative = prefix + name
                if not self.excludes(relative) or self._may_include_below(relative):
                    kept.append(name)
            dirnames[:] = kept
            selected.extend(prefix + name for name in filenames if not self.excludes(prefix + name))
        return sorted(selected)

    def copy_context(
        self, context: str | os.PathLike[str], destination: str | os.PathLike[str]
    ) -> list[str]:
        """Copy the files a build of ``context`` sees into ``destination``; return them."""
        files = self.select(context)
        for relative in files:
            target = Path(destination) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(context) / relative, target)
        return files


# --- execution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalCopy:
    """A ``COPY --from=<image>`` of another image, handed to the caller instead of done."""

    #: The image copied from (``ghcr.io/astral-sh/uv:0.13.9``).
    image: str
    #: The paths copied out of it.
    sources: tuple[str, ...]
    #: The container path they are copied to.
    destination: str
    #: Where in the Dockerfile.
    line: int


@dataclass
class _StageState:
    root: Path
    env: dict[str, str]
    workdir: str = "/"
    image_dirs: set[str] = field(default_factory=set)
    user: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: list[str] | None = None
    exposed: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stopsignal: str | None = None

    def host_path(self, container_path: str) -> Path:
        return self.root / self.absolute(container_path).lstrip("/")

    def absolute(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.workdir, path))

    def is_image_path(self, container_path: str) -> bool:
        parts = PurePosixPath(container_path).parts
        return len(parts) > 1 and parts[0] == "/" and parts[1] in self.image_dirs

    def map_value(self, value: str) -> str:
        """Map container paths in an env value (``:``-separated entries one by one)."""
        return ":".join(
            str(self.host_path(entry)) if self.is_image_path(entry) else entry
            for entry in value.split(":")
        )

    def host_env(self) -> dict[str, str]:
        return {key: self.map_value(value) for key, value in self.env.items()}


@dataclass
class BuiltImage:
    """The final stage of an offline build: its root folder and its recorded configuration."""

    #: The Dockerfile it was built from.
    dockerfile: Dockerfile
    #: The folder standing in for the image's root file system.
    root: Path
    #: ``ENV`` as the container sees it (paths not mapped).
    env: dict[str, str]
    #: The container's working directory.
    workdir: str
    #: ``USER``, or None when unset (root).
    user: str | None
    #: ``ENTRYPOINT`` (shell form becomes ``/bin/sh -c``), or None.
    entrypoint: list[str] | None
    #: ``CMD`` (shell form becomes ``/bin/sh -c``), or None.
    cmd: list[str] | None
    #: The ``HEALTHCHECK CMD`` argv, or None (also for ``HEALTHCHECK NONE``).
    healthcheck: list[str] | None
    #: ``EXPOSE`` ports.
    exposed: list[str]
    #: ``LABEL`` s.
    labels: dict[str, str]
    #: Every ``COPY --from=<image>`` handed to the caller.
    external_copies: list[ExternalCopy]
    _state: _StageState

    def host_path(self, container_path: str) -> Path:
        """Where the container path ``container_path`` lives in :attr:`root`."""
        return self._state.host_path(container_path)

    def host_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a process of the image gets, container paths mapped to the host.

        ``extra`` (what ``docker run -e`` or a pod spec would add) overrides the image's own.
        """
        env = self._state.host_env()
        for key, value in (extra or {}).items():
            env[key] = self._state.map_value(value)
        return env

    def _host_argv(self, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
        program = argv[0]
        if "/" in program:
            resolved: str | None = (
                str(self.host_path(program)) if self._state.is_image_path(program) else program
            )
        else:
            resolved = shutil.which(program, path=env.get("PATH", ""))
        if resolved is None:
            raise DockerfileError(f"{program!r} is not on the image's PATH {env.get('PATH')!r}")
        return [resolved, *argv[1:]]

    def command(self, extra_env: Mapping[str, str] | None = None) -> list[str]:
        """``ENTRYPOINT`` + ``CMD`` as a host argv (the program found on the image's PATH)."""
        argv = [*(self.entrypoint or []), *(self.cmd or [])]
        if not argv:
            raise DockerfileError(f"{self.dockerfile.path}: no ENTRYPOINT or CMD")
        return self._host_argv(argv, self.host_env(extra_env))

    def healthcheck_command(self, extra_env: Mapping[str, str] | None = None) -> list[str]:
        """The ``HEALTHCHECK`` command as a host argv."""
        if not self.healthcheck:
            raise DockerfileError(f"{self.dockerfile.path}: no HEALTHCHECK command")
        return self._host_argv(self.healthcheck, self.host_env(extra_env))

    def host_workdir(self) -> Path:
        """The working directory of the image's processes, on the host."""
        return self.host_path(self.workdir)


def _command_form(instruction: Instruction) -> list[str]:
    exec_form = instruction.exec_form
    return exec_form if exec_form is not None else ["/bin/sh", "-c", instruction.text]


class _Executor:
    def __init__(
        self,
        dockerfile: Dockerfile,
        *,
        context: Path,
        workspace: Path,
        base_env: Mapping[str, str],
        run_env: Mapping[str, str],
        external_images: Callable[[ExternalCopy], None] | None,
        log: Path,
    ) -> None:
        self.dockerfile = dockerfile
        self.context = context
        self.workspace = workspace
        self.base_env = dict(base_env)
        self.run_env = dict(run_env)
        self.external_images = external_images
        self.log = log
        self.states: dict[int, _StageState] = {}
        self.external_copies: list[ExternalCopy] = []

    def where(self, instruction: Instruction | Stage) -> str:
        return f"{self.dockerfile.path}:{instruction.line}"

    def stage_state(self, reference: str) -> _StageState | None:
        for stage in self.dockerfile.stages:
            if (stage.name == reference or str(stage.index) == reference) and (
                stage.index in self.states
            ):
                return self.states[stage.index]
        return None

    def run(self) -> BuiltImage:
        for stage in self.dockerfile.stages:
            self.states[stage.index] = self.run_stage(stage)
        final = self.states[self.dockerfile.final.index]
        return BuiltImage(
            dockerfile=self.dockerfile,
            root=final.root,
            env=dict(final.env),
            workdir=final.workdir,
            user=final.user,
            entrypoint=final.entrypoint,
            cmd=final.cmd,
            healthcheck=final.healthcheck,
            exposed=list(final.exposed),
            labels=dict(final.labels),
            external_copies=list(self.external_copies),
            _state=final,
        )

    def run_stage(self, stage: Stage) -> _StageState:
        root = self.workspace / f"stage-{stage.index}-{stage.name or 'unnamed'}"
        previous = self.stage_state(stage.base)
        if previous is not None:
            shutil.copytree(previous.root, root, symlinks=True)
            state = _StageState(
                root=root,
                env=dict(previous.env),
                workdir=previous.workdir,
                image_dirs=set(previous.image_dirs),
                user=previous.user,
            )
        else:
            root.mkdir(parents=True)
            state = _StageState(root=root, env=dict(self.base_env))
        for instruction in stage.instructions:
            self.execute(instruction, state)
        return state

    def claim(self, state: _StageState, container_path: str) -> None:
        parts = PurePosixPath(container_path).parts
        if len(parts) > 1:
            state.image_dirs.add(parts[1])

    def execute(self, instruction: Instruction, state: _StageState) -> None:
        keyword = instruction.keyword
        if keyword == "WORKDIR":
            [path] = split_words(instruction.text, state.env) or [""]
            state.workdir = state.absolute(path)
            self.claim(state, state.workdir)
            state.host_path(state.workdir).mkdir(parents=True, exist_ok=True)
        elif keyword == "ENV":
            state.env.update(_pairs(instruction, state.env, self.dockerfile.path))
        elif keyword == "LABEL":
            state.labels.update(_pairs(instruction, state.env, self.dockerfile.path))
        elif keyword == "EXPOSE":
            state.exposed.extend(split_words(instruction.text, state.env))
        elif keyword == "USER":
            state.user = " ".join(split_words(instruction.text, state.env))
        elif keyword == "STOPSIGNAL":
            state.stopsignal = instruction.text.strip()
        elif keyword == "ENTRYPOINT":
            state.entrypoint = _command_form(instruction)
            state.cmd = None  # Docker resets CMD when ENTRYPOINT is set
        elif keyword == "CMD":
            state.cmd = _command_form(instruction)
        elif keyword == "HEALTHCHECK":
            self.healthcheck(instruction, state)
        elif keyword == "COPY":
            self.copy(instruction, state)
        elif keyword == "RUN":
            self.run_command(instruction, state)
        else:  # pragma: no cover - the parser refuses everything else
            raise DockerfileError(f"{self.where(instruction)}: {keyword} is not supported")

    def healthcheck(self, instruction: Instruction, state: _StageState) -> None:
        kind, _, rest = instruction.text.strip().partition(" ")
        if kind.upper() == "NONE":
            state.healthcheck = None
            return
        if kind.upper() != "CMD" or not rest.strip():
            raise DockerfileError(f"{self.where(instruction)}: HEALTHCHECK needs CMD or NONE")
        exec_form = _json_array(rest)
        state.healthcheck = exec_form if exec_form is not None else ["/bin/sh", "-c", rest]

    def copy(self, instruction: Instruction, state: _StageState) -> None:
        unsupported = set(instruction.flags) - {"from", "chown", "chmod", "link"}
        if unsupported:
            raise DockerfileError(
                f"{self.where(instruction)}: COPY flags {sorted(unsupported)} are not supported"
            )
        words = instruction.exec_form or split_words(instruction.text, state.env)
        if len(words) < 2:
            raise DockerfileError(f"{self.where(instruction)}: COPY needs a source and a target")
        *sources, destination = words
        origin = instruction.flag("from")
        if origin is not None:
            source_state = self.stage_state(origin)
            if source_state is None:
                copy = ExternalCopy(origin, tuple(sources), destination, instruction.line)
                self.external_copies.append(copy)
                if self.external_images is None:
                    raise DockerfileError(
                        f"{self.where(instruction)}: COPY --from={origin}: no image available"
                    )
                self.external_images(copy)
                return
            found = [self.stage_source(source_state, pattern) for pattern in sources]
        else:
            found = [
                path for pattern in sources for path in self.context_sources(pattern, instruction)
            ]
        target_container = state.absolute(destination)
        self.claim(state, target_container)
        target = state.host_path(target_container)
        into_folder = destination.endswith("/") or len(found) > 1 or target.is_dir()
        for source in found:
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            else:
                file_target = target / source.name if into_folder else target
                file_target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, file_target, follow_symlinks=False)

    def context_sources(self, pattern: str, instruction: Instruction) -> list[Path]:
        relative = os.path.normpath(pattern).lstrip("/")
        if relative.startswith(".."):
            raise DockerfileError(f"{self.where(instruction)}: {pattern!r} is outside the context")
        found = (
            [self.context]
            if relative == "."
            else sorted(self.context.glob(relative))
            if any(char in relative for char in "*?[")
            else [self.context / relative]
        )
        found = [path for path in found if path.exists() or path.is_symlink()]
        if not found:
            raise DockerfileError(
                f"{self.where(instruction)}: COPY {pattern}: not found in the build context "
                "(missing, or left out by .dockerignore)"
            )
        return found

    def stage_source(self, state: _StageState, container_path: str) -> Path:
        path = state.host_path(container_path)
        if not (path.exists() or path.is_symlink()):
            raise DockerfileError(f"COPY --from: {container_path} does not exist in that stage")
        return path

    def run_command(self, instruction: Instruction, state: _StageState) -> None:
        for mount in instruction.flags.get("mount", ()):
            options = dict(item.partition("=")[::2] for item in mount.split(","))
            if options.get("type") != "cache":
                raise DockerfileError(
                    f"{self.where(instruction)}: RUN --mount={mount}: only cache mounts are "
                    "supported (the host's caches stand in for them)"
                )
        if set(instruction.flags) - {"mount"}:
            raise DockerfileError(
                f"{self.where(instruction)}: RUN flags {sorted(instruction.flags)} not supported"
            )
        argv = _command_form(instruction)
        for folder in sorted(state.image_dirs):
            if re.search(rf"(?<![\w.-])/{re.escape(folder)}(?![\w.-])", " ".join(argv)):
                raise DockerfileError(
                    f"{self.where(instruction)}: RUN spells the image path /{folder}, which this "
                    "executor cannot map; use WORKDIR-relative paths or an ENV variable"
                )
        env = state.host_env()
        env.update(self.run_env)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            log.write(f"\n$ [{self.where(instruction)}] {' '.join(argv)}\n".encode())
            log.flush()
            completed = subprocess.run(
                argv,
                cwd=state.host_path(state.workdir),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if completed.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
            raise DockerfileError(
                f"{self.where(instruction)}: RUN exited {completed.returncode}: "
                f"{instruction.text}\n--- {self.log} ---\n{tail}"
            )


def build_offline(
    dockerfile: Dockerfile,
    *,
    context: str | os.PathLike[str],
    workspace: str | os.PathLike[str],
    base_env: Mapping[str, str] | None = None,
    run_env: Mapping[str, str] | None = None,
    external_images: Callable[[ExternalCopy], None] | None = None,
) -> BuiltImage:
    """Execute every stage of ``dockerfile`` on the host; return the final stage.

    ``context`` is the build context as the build sees it (see :meth:`DockerIgnore.copy_context`);
    ``workspace`` an empty folder for the stages' roots and ``build.log``. ``base_env`` is the
    environment an image starts with (default: the host's ``PATH`` and ``HOME``), ``run_env``
    what ``RUN`` steps get on top of the stage's own (e.g. which Python and cache to use).
    ``external_images`` receives each ``COPY --from=<image>``; without it such a copy fails.
    """
    folder = Path(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    if base_env is None:
        base_env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    executor = _Executor(
        dockerfile,
        context=Path(context),
        workspace=folder,
        base_env=base_env,
        run_env=run_env or {},
        external_images=external_images,
        log=folder / "build.log",
    )
    return executor.run()
