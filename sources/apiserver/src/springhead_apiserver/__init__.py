"""Springhead ApiServerSource: Kubernetes changes -> CloudEvents, each exactly once."""

from __future__ import annotations

__all__: list[str] = []
