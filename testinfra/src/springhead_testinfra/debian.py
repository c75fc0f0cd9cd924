"""Debian packages the tiers need on the machine itself (podman for images, chromium for the
display's browser test), installed with apt-get when missing, once, under a lock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from .cache import cache_root, locked
from .process import ComponentError, progress, run_step, with_tail

__all__ = ["ensure_packages"]


def _missing(commands: Sequence[str]) -> list[str]:
    return [command for command in commands if shutil.which(command) is None]


def ensure_packages(packages: Sequence[str], commands: Sequence[str] | None = None) -> None:
    """Install ``packages`` with apt-get unless every one of ``commands`` (default: the package
    names) is on PATH. Needs root and apt-get; otherwise, or when the install leaves a command
    missing, raises :class:`ComponentError` with the log."""
    wanted = list(commands or packages)
    if not _missing(wanted):
        return
    with locked("apt"):
        missing = _missing(wanted)
        if not missing:
            return
        apt = shutil.which("apt-get")
        if apt is None or os.geteuid() != 0:
            raise ComponentError(
                f"{', '.join(missing)} not on PATH and cannot be installed here (needs root and "
                f"apt-get): install the Debian packages {' '.join(packages)}"
            )
        folder = cache_root() / "apt"
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"{'-'.join(packages)}.log"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        progress(f"installing {' '.join(packages)} with apt-get (log: {log})")
        run_step([apt, "update"], what="apt-get update", log_path=log, env=env, timeout=900)
        run_step(
            [apt, "install", "-y", "--no-install-recommends", *packages],
            what=f"apt-get install {' '.join(packages)}",
            log_path=log,
            env=env,
            timeout=1800,
        )
        still = _missing(wanted)
        if still:
            raise ComponentError(with_tail(f"apt-get installed no {', '.join(still)}", log))
