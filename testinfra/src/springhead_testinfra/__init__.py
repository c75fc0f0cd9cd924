"""Springhead's test infrastructure: real Apache Kafka, etcd + kube-apiserver and Helm.

Components are obtained from package registries (Maven Central, the Go module proxy), built once
into a cache folder (``$SPRINGHEAD_TESTINFRA_CACHE``, default ``~/.cache/springhead-testinfra``)
and started on loopback. The pytest plugin (:mod:`springhead_testinfra.plugin`) hands them to
tests as session fixtures; ``python -m springhead_testinfra`` fetches and starts them by hand.

This package imports nothing heavy at import time; import the component modules
(:mod:`.kafka`, :mod:`.kube`, :mod:`.helm`) where needed.
"""

from __future__ import annotations

from .process import ComponentError

__all__ = ["ComponentError"]
