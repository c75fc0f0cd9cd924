"""Package hygiene: sorted ``__all__`` naming what exists; the receiving process never loads
PyGithub (only the hooks command needs it)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = [
    "springhead_github",
    "springhead_github.adapter",
    "springhead_github.attributes",
    "springhead_github.config",
    "springhead_github.hooks",
    "springhead_github.signature",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert all(hasattr(module, item) for item in exported)


def test_the_receiving_process_does_not_import_pygithub() -> None:
    code = (
        "import sys, springhead_github.__main__, springhead_github.adapter; "
        "print(sorted(m for m in sys.modules if m == 'github' or m.startswith('github.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
