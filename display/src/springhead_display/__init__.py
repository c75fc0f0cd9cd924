"""Springhead event display: a CloudEvents sink that shows what arrives, on the terminal (in
Knative's event_display format) and on a live web page."""

from __future__ import annotations

__all__: list[str] = []
