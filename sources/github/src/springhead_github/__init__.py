"""Springhead GitHub source: GitHub webhook deliveries -> CloudEvents, and the webhook's
lifecycle through the GitHub API."""

from __future__ import annotations

__all__: list[str] = []
