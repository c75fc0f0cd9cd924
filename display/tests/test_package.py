"""Package hygiene: sorted ``__all__`` naming what exists; without the page the process never
loads the web framework."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = [
    "springhead_display",
    "springhead_display.adapter",
    "springhead_display.config",
    "springhead_display.parse",
    "springhead_display.received",
    "springhead_display.store",
    "springhead_display.terminal",
    "springhead_display.web",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert all(hasattr(module, item) for item in exported)


def test_without_the_page_fastapi_is_never_imported() -> None:
    code = (
        "import sys; from springhead.metrics import Metrics; from springhead.runtime import "
        "ProcessHost; from springhead_display.adapter import EventDisplay; "
        "from springhead_display.config import DisplaySettings; "
        "EventDisplay.from_settings(DisplaySettings(DISPLAY_WEB='false'), ProcessHost(Metrics())); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
