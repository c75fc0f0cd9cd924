"""A real headless browser for the display's web page: Debian's ``chromium`` (a browser that a
test tool downloads itself cannot be fetched on these machines)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .debian import ensure_packages
from .process import ComponentError

__all__ = ["chromium", "is_ready"]


def is_ready() -> bool:
    """Whether ``chromium`` is on PATH."""
    return shutil.which("chromium") is not None


def chromium(*, force: bool = False) -> Path:
    """The ``chromium`` executable, installed with apt-get when missing."""
    del force  # a Debian package: apt-get decides whether it is current
    ensure_packages(("chromium",))
    path = shutil.which("chromium")
    if path is None:  # ensure_packages raised already; kept for the type checker
        raise ComponentError("chromium is not on PATH")
    return Path(path)
