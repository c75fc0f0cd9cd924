"""Where the delivered position survives a restart: one ConfigMap, a few keys per watch.

Per watch (informer), under ``binaryData``:

- ``<plural>.<hash of the watch>``: a base checkpoint (an informer's
  :class:`~springhead.kube.Snapshot`) - a position (the resourceVersion up to which every change
  was accepted by the sink) and uid, namespace, name, resourceVersion of every object known
  there - zlib-compressed (:mod:`springhead_apiserver.checkpoint`);
- ``<plural>.<hash>.<n>``: journal segments (each an informer's :class:`~springhead.kube.Delta`),
  each the objects that changed since the previous one and the position they lead to.

Saving the position costs a small segment; once the segments outweigh half the base (or the
ConfigMap nears its 1 MiB limit) the base is rewritten and the segments dropped - in the same
JSON merge patch, so the stored state is always consistent. Watches never overwrite each other's
keys. The blocking calls are meant to run in a thread.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from springhead.kube import Delta, KubeApiError, KubeClient, Selection, Snapshot

from springhead_apiserver.checkpoint import (
    checkpoint_from_text,
    checkpoint_to_text,
    journal_from_text,
    journal_to_text,
)

__all__ = ["CONFIGMAP_BUDGET", "StateStore", "WatchState", "state_key"]

log = logging.getLogger("springhead.apiserver.state")

#: Bytes of binaryData the state may use (a ConfigMap holds at most 1 MiB).
CONFIGMAP_BUDGET = 900 * 1024
#: Journal segments a watch keeps at most before its base is rewritten.
MAX_SEGMENTS = 200
#: A journal this small never forces a base rewrite.
MIN_JOURNAL_BUDGET = 32 * 1024


def state_key(selection: Selection) -> str:
    """The ConfigMap key holding ``selection``'s base checkpoint."""
    digest = hashlib.sha256(selection.key.encode()).hexdigest()[:16]
    return f"{selection.resource.plural}.{digest}"


@dataclass
class WatchState:
    """What is stored for one watch, and what is waiting to be."""

    key: str
    """The base key; segments are ``<key>.<n>``."""
    checkpoint: Snapshot | None = None
    """The restored position (base + segments), when there was one."""
    segments: list[str] = field(default_factory=list)
    next_segment: int = 1
    base_bytes: int = 0
    journal_bytes: int = 0
    needs_base: bool = True
    """The next save must write a base (nothing stored yet, or a base write failed)."""
    pending: Delta | None = None
    """Changes taken from the informer whose segment was not written yet."""
    saved_version: str | None = None

    @property
    def stored_bytes(self) -> int:
        """Bytes this watch occupies in the ConfigMap."""
        return self.base_bytes + self.journal_bytes

    def wants_base(self, total_bytes: int) -> bool:
        """Whether the next save should rewrite the base instead of adding a segment."""
        return (
            self.needs_base
            or len(self.segments) >= MAX_SEGMENTS
            or self.journal_bytes > max(MIN_JOURNAL_BUDGET, self.base_bytes // 2)
            or total_bytes > CONFIGMAP_BUDGET
        )


def merge(older: Delta | None, newer: Delta) -> Delta:
    """Two consecutive deltas as one."""
    if older is None:
        return newer
    return Delta(newer.selection, newer.resource_version, {**older.changes, **newer.changes})


class StateStore:
    """Checkpoints in ConfigMap ``name`` of ``namespace``."""

    def __init__(self, client: KubeClient, *, namespace: str, name: str) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name

    @property
    def path(self) -> str:
        """The ConfigMap's API path."""
        return f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}"

    def load(self) -> dict[str, str]:
        """Every stored key's text; empty when the ConfigMap does not exist."""
        try:
            config_map = self.client.get(self.path)
        except KubeApiError as exc:
            if exc.status == 404:
                return {}
            raise
        stored = config_map.get("binaryData") or {}
        return {str(k): str(v) for k, v in stored.items()} if isinstance(stored, Mapping) else {}

    @staticmethod
    def restore(stored: Mapping[str, str], selection: Selection) -> WatchState:
        """``selection``'s stored state (base plus segments) from :meth:`load`'s result."""
        key = state_key(selection)
        state = WatchState(key)
        text = stored.get(key)
        if text is None:
            return state
        try:
            checkpoint = checkpoint_from_text(text)
        except ValueError as exc:
            log.warning("ignoring an unreadable checkpoint", extra={"key": key, "error": str(exc)})
            return state
        if checkpoint.selection != selection.key:
            return state
        numbered = sorted(
            (int(k.rpartition(".")[2]), k)
            for k in stored
            if k.startswith(key + ".") and k.rpartition(".")[2].isdigit()
        )
        state.base_bytes = len(text)
        state.needs_base = False
        for _, segment in numbered:
            try:
                checkpoint = journal_from_text(stored[segment]).apply(checkpoint)
            except ValueError as exc:
                # Later segments build on this one: stop here, at a consistent position.
                log.warning(
                    "ignoring an unreadable journal segment and those after it",
                    extra={"key": segment, "error": str(exc)},
                )
                state.needs_base = True  # rewrite, so that no later segment builds on a gap
                break
            state.journal_bytes += len(stored[segment])
        state.segments = [k for _, k in numbered]
        state.next_segment = numbered[-1][0] + 1 if numbered else 1
        state.checkpoint = checkpoint
        state.saved_version = checkpoint.resource_version
        return state

    def write_base(self, state: WatchState, checkpoint: Snapshot) -> None:
        """Replace ``state``'s base with ``checkpoint`` and drop its segments (one patch)."""
        text = checkpoint_to_text(checkpoint)
        self._patch({state.key: text, **dict.fromkeys(state.segments)})
        state.base_bytes, state.journal_bytes = len(text), 0
        state.segments, state.next_segment = [], 1
        state.needs_base, state.pending = False, None
        state.saved_version = checkpoint.resource_version

    def write_segment(self, state: WatchState, journal: Delta) -> None:
        """Add ``journal`` as ``state``'s next segment."""
        text = journal_to_text(journal)
        key = f"{state.key}.{state.next_segment}"
        self._patch({key: text})
        state.segments.append(key)
        state.next_segment += 1
        state.journal_bytes += len(text)
        state.pending = None
        state.saved_version = journal.resource_version

    def _patch(self, data: dict[str, Any]) -> None:
        patch = {"binaryData": data}
        try:
            self.client.request(
                "PATCH", self.path, body=patch, content_type="application/merge-patch+json"
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/component": "apiserver-source-state"},
                },
                "binaryData": {k: v for k, v in data.items() if v is not None},
            }
            self.client.request(
                "POST", f"/api/v1/namespaces/{self.namespace}/configmaps", body=body
            )
