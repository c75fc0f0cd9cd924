"""The Kubernetes layer of the runtime: a JSON client, an informer and Lease leader election.

It sits above the core (config, sender, delivery, events, backoff ...), which never imports it
(import-linter holds both lines):

- :mod:`springhead.kube.client`: :class:`KubeClient`, a small JSON client on top of the official
  (synchronous) one, and how resources are named (:class:`ApiResource`, :func:`guess_plural`);
- :mod:`springhead.kube.informer`: list, watch, and on 410 relist and diff against the cache, so
  a handler sees every change once (:class:`Informer`);
- :mod:`springhead.kube.leader`: at most one leader among replicas (:class:`LeaderElector`).

Importing any of it imports ``kubernetes``, whose memory every process that loads it pays: only
the sources and the controller that talk to the API server import it, and the ping source only
when leader election is on. Within the layer, the informer and the elector are built on the client
and independent of each other.
"""

from __future__ import annotations

from springhead.kube.client import (
    ApiResource,
    KubeApiError,
    KubeClient,
    WatchStream,
    guess_plural,
    new_api_client,
    split_api_version,
)
from springhead.kube.informer import (
    CachedObject,
    Change,
    ChangeType,
    Delta,
    Informer,
    InformerError,
    Selection,
    Snapshot,
    StopInformer,
    controller_of,
    spec_fingerprint,
)
from springhead.kube.leader import (
    LeaderElector,
    LeaseRecord,
    NotLeaderError,
    Term,
    default_identity,
    format_micro_time,
    parse_micro_time,
)

__all__ = [
    "ApiResource",
    "CachedObject",
    "Change",
    "ChangeType",
    "Delta",
    "Informer",
    "InformerError",
    "KubeApiError",
    "KubeClient",
    "LeaderElector",
    "LeaseRecord",
    "NotLeaderError",
    "Selection",
    "Snapshot",
    "StopInformer",
    "Term",
    "WatchStream",
    "controller_of",
    "default_identity",
    "format_micro_time",
    "guess_plural",
    "new_api_client",
    "parse_micro_time",
    "spec_fingerprint",
    "split_api_version",
]
