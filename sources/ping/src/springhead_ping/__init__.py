"""Springhead PingSource: fires CloudEvents on a cron schedule."""

from __future__ import annotations

__all__: list[str] = []
