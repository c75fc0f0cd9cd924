"""Springhead controller: Knative's SinkBinding and ContainerSource (``sources.knative.dev/v1``)
reconciled without an admission webhook, under Lease leader election."""

from __future__ import annotations

__all__: list[str] = []
