"""What no committed file may hold: an unresolved merge's conflict markers, or a path of the
machine it was written on (this project's checkouts live under /work; a path there means a
local file leaked into the repository)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The markers git writes into a file it could not merge; each starts a line and a space follows.
CONFLICT = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)
MACHINE_PATH = re.compile(r"(?<![\w.])/work/")


def _tracked_text_files() -> list[tuple[str, str]]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        files.append((name.decode(), data.decode("utf-8", errors="replace")))
    return files


def test_no_file_holds_merge_conflict_markers() -> None:
    found = [
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}"
        for name, text in _tracked_text_files()
        for match in CONFLICT.finditer(text)
    ]
    assert found == [], f"unresolved merge conflict markers: {found}"


def test_no_file_names_a_path_of_the_machine_it_was_written_on() -> None:
    found = [
        name
        for name, text in _tracked_text_files()
        if name != "tests/scripts/test_repository.py" and MACHINE_PATH.search(text)
    ]
    assert found == [], f"machine paths in: {found}"
