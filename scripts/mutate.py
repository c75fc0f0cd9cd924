"""Mutation testing of the pure modules with cosmic-ray: ``make mutate``.

Each module listed under ``[tool.springhead.mutation]`` in pyproject.toml is mutated by
cosmic-ray (every operator, every place) and each mutant runs the module's own package's unit
tests; a mutant the tests do not fail *survives*. The run happens in a copy of the committed tree
with its own virtual environment, so an interrupted run never leaves a mutated file behind.

    uv run --group mutation python scripts/mutate.py [--only NAME,...] [--output FILE]

Prints a per-module table (mutants, killed, survived, timeouts, score) and writes it with the
date to bench/MUTATION.md (``--output`` elsewhere). Each module's outcome is kept in
bench/mutation.json, so ``--only`` re-runs some modules and the table still shows every module,
each with the date and commit it was last run at. Survivors are listed with their operator and
line, so a gap can be read off. Equivalent mutants (changes no test can tell apart) are counted
out only where the config names them, with the reason beside them.

Not part of ``.ci/run``: it runs the test files once per mutant (minutes per module).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    """What happened to one module's mutants."""

    name: str
    module: str
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    timeouts: int = 0
    annotations: int = 0
    seconds: float = 0.0
    run: str = ""  # when and at which commit, e.g. "2026-12-02 cfd7ff0"

    @property
    def counted(self) -> int:
        return self.killed + len(self.survived)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def _config() -> dict[str, dict[str, object]]:
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())
    modules: dict[str, dict[str, object]] = settings["tool"]["springhead"]["mutation"]["modules"]
    return modules


def _copy_tree(target: Path) -> None:
    """The committed tree (what CI would test), without untracked or ignored files."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)


def _run_module(tree: Path, python: str, name: str, spec: dict[str, object]) -> Outcome:
    module = str(spec["module"])
    tests = [str(path) for path in spec["tests"]]  # type: ignore[attr-defined]
    equivalent = {str(key): str(why) for key, why in dict(spec.get("equivalent", {})).items()}  # type: ignore[call-overload]
    outcome = Outcome(name, module)
    work = tree / ".mutation" / name
    work.mkdir(parents=True)
    test_command = " ".join(
        [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "'not integration'"]
        + tests
    )
    (work / "config.toml").write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    session = work / "session.sqlite"
    cosmic_ray = str(Path(python).parent / "cosmic-ray")
    started = time.monotonic()
    config = str(work / "config.toml")
    subprocess.run([cosmic_ray, "init", config, str(session)], cwd=tree, check=True, env=_env(work))
    outcome.annotations = _skip_annotations(session, tree / module)
    subprocess.run([cosmic_ray, "exec", config, str(session)], cwd=tree, check=True, env=_env(work))
    dump = subprocess.run(
        [cosmic_ray, "dump", str(session)], cwd=tree, check=True, capture_output=True, text=True
    ).stdout
    outcome.seconds = time.monotonic() - started
    for line in dump.splitlines():
        item, result = json.loads(line)
        [mutation] = item["mutations"]
        where = f"{mutation['operator_name'].rpartition('/')[2]} line {mutation['start_pos'][0]}"
        key = f"{mutation['operator_name']}@{mutation['start_pos'][0]}:{mutation['occurrence']}"
        if result is not None and result["worker_outcome"] == "skipped":
            continue  # inside an annotation: counted in outcome.annotations
        if result is None or result["worker_outcome"] == "abnormal":
            outcome.timeouts += 1
            outcome.killed += 1  # a mutant that hangs the tests is caught by their timeout
        elif result["test_outcome"] == "survived":
            if key in equivalent:
                outcome.equivalent.append(f"{where}: {equivalent[key]}")
            else:
                outcome.survived.append(f"{where} ({key})")
        else:
            outcome.killed += 1
    return outcome


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            found.append(node.annotation)
        for annotation in found:
            if annotation is not None and annotation.end_lineno is not None:
                start = (annotation.lineno, annotation.col_offset)
                spans.append((start, (annotation.end_lineno, annotation.end_col_offset or 0)))
    return spans


def _skip_annotations(session: Path, module: Path) -> int:
    """Mark the mutants inside type annotations skipped; return how many. Every module has
    ``from __future__ import annotations``: its annotations are strings never evaluated at run
    time, so no test can tell such a mutant apart (pyproject.toml names this rule)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    source = module.read_text()
    if "from __future__ import annotations" not in source:
        raise SystemExit(f"{module}: its annotations are evaluated; the skipping rule is wrong")
    spans = _annotation_spans(source)
    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as database:
        for item in list(database.pending_work_items):
            position = tuple(item.mutations[0].start_pos)
            if any(start <= position < end for start, end in spans):
                database.set_result(
                    item.job_id,
                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=None, diff=None),
                )
                skipped += 1
    return skipped


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(work / "hypothesis")
    return env


def _table(outcomes: list[Outcome]) -> str:
    rows = [
        "| module | mutants run | killed | survived | equivalent (named in the config) "
        "| in annotations (not run) | score | run at |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        rows.append(
            f"| `{o.module}` | {o.counted + len(o.equivalent)} | {o.killed} | {len(o.survived)} "
            f"| {len(o.equivalent)} | {o.annotations} | {o.score:.1f} % | {o.run} |"
        )
    return "\n".join(rows)


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return head.stdout.strip() or "unknown"


def _load(path: Path) -> dict[str, Outcome]:
    """Outcomes recorded by earlier runs, by module name (none if there is no record)."""
    if not path.exists():
        return {}
    return {name: Outcome(**fields) for name, fields in json.loads(path.read_text()).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", help="comma-separated module names from the config")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "MUTATION.md")
    parser.add_argument("--record", type=Path, default=REPO / "bench" / "mutation.json")
    args = parser.parse_args()
    modules = _config()
    chosen = args.only.split(",") if args.only else list(modules)
    unknown = sorted(set(chosen) - set(modules))
    if unknown:
        parser.error(f"unknown module names {unknown}; choose from {sorted(modules)}")
    uv = shutil.which("uv") or str(REPO / ".tools/bin/uv")
    run = f"{datetime.now(UTC):%Y-%m-%d} {_commit()}"
    recorded = _load(args.record)
    with tempfile.TemporaryDirectory(prefix="springhead-mutate-") as temporary:
        tree = Path(temporary)
        _copy_tree(tree)
        venv = tree / ".venv"
        subprocess.run(
            [uv, "sync", "--locked", "--group", "mutation", "--quiet"],
            cwd=tree,
            check=True,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        )
        python = str(venv / "bin" / "python")
        for name in chosen:
            print(f"mutating {modules[name]['module']} ...", flush=True)
            outcome = _run_module(tree, python, name, modules[name])
            outcome.run = run
            recorded[name] = outcome
            print(
                f"  {outcome.score:.1f} % ({outcome.killed} killed, {len(outcome.survived)} "
                f"survived) in {outcome.seconds:.0f} s",
                flush=True,
            )
    outcomes = [recorded[name] for name in modules if name in recorded]
    table = _table(outcomes)
    survivors = "\n".join(
        f"- `{o.module}`: {survivor}" for o in outcomes for survivor in o.survived
    )
    equivalents = "\n".join(f"- `{o.module}`: {e}" for o in outcomes for e in o.equivalent)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"# Mutation testing ({stamp})\n\n"
        "`make mutate` (scripts/mutate.py): cosmic-ray, every operator, each module against its "
        "own package's unit tests. Score = killed / (killed + survived); equivalent mutants "
        "named in pyproject.toml are counted out.\n\n"
        f"{table}\n\n## Survivors\n\n{survivors or 'none'}\n\n"
        f"## Equivalent (counted out)\n\n{equivalents or 'none'}\n"
    )
    print("\n" + table)
    args.record.write_text(
        json.dumps(
            {name: dataclasses.asdict(recorded[name]) for name in modules if name in recorded},
            indent=1,
        )
        + "\n"
    )
    if args.output:
        args.output.write_text(text)
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
