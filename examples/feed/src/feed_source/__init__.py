"""An example custom source: polls an RSS/Atom feed and emits one CloudEvent per new item."""

from __future__ import annotations

__all__: list[str] = []
