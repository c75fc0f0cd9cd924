"""Springhead HTTP source: forwards any HTTP POST, or an incoming CloudEvent, as a CloudEvent."""

from __future__ import annotations

__all__: list[str] = []
