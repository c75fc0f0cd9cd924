"""The README's run command: an event display and a ping source, no cluster, no broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_run_local_shows_events_flowing() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "run_local.py"),
            "--schedule",
            "* * * * * *",
            "--count",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("type: dev.knative.sources.ping") >= 2
    assert "origin: springhead-local" in result.stdout
    assert '"message": "Hello from Springhead"' in result.stdout
    assert "stopped; " in result.stdout
