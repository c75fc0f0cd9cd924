"""Springhead's Broker data plane: the ingress and the Trigger dispatcher."""

from __future__ import annotations

__all__: list[str] = []
