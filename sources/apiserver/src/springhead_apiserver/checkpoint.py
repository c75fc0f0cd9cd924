"""How a watch's position is written into the state ConfigMap: checkpoints and journals as text.

A *checkpoint* is an informer's :class:`~springhead.kube.Snapshot` as stored, a *journal* its
:class:`~springhead.kube.Delta`: zlib-compressed JSON (format 1) holding, per object, namespace,
name, uid, resourceVersion, fingerprint and controller owner - never the whole object - as base64
text, the form of a ConfigMap ``binaryData`` value. :mod:`springhead_apiserver.state` decides
which keys hold them.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from springhead.kube import CachedObject, Delta, Snapshot

__all__ = ["checkpoint_from_text", "checkpoint_to_text", "journal_from_text", "journal_to_text"]

_Decoded = TypeVar("_Decoded")

_FORMAT = 1


def checkpoint_to_text(snapshot: Snapshot) -> str:
    """``snapshot`` as a checkpoint's text."""
    document = {
        "format": _FORMAT,
        "selection": snapshot.selection,
        "resourceVersion": snapshot.resource_version,
        "objects": [_row(k) for k in snapshot.objects],
    }
    return _to_text(_compress(document))


def checkpoint_from_text(text: str) -> Snapshot:
    """The snapshot :func:`checkpoint_to_text` wrote; raises ValueError for anything else."""
    return _from_text(text, _decode_checkpoint, "checkpoint")


def journal_to_text(delta: Delta) -> str:
    """``delta`` as a journal's text."""
    document = {
        "format": _FORMAT,
        "selection": delta.selection,
        "resourceVersion": delta.resource_version,
        "set": [_row(k) for k in delta.changes.values() if k is not None],
        "removed": [uid for uid, k in delta.changes.items() if k is None],
    }
    return _to_text(_compress(document))


def journal_from_text(text: str) -> Delta:
    """The delta :func:`journal_to_text` wrote; raises ValueError for anything else."""
    return _from_text(text, _decode_journal, "journal")


def _decode_checkpoint(data: bytes) -> Snapshot:
    try:
        document = _document(data)
        objects = tuple(_known(row) for row in document["objects"])
        return Snapshot(str(document["selection"]), str(document["resourceVersion"]), objects)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a checkpoint: {exc}") from None


def _decode_journal(data: bytes) -> Delta:
    try:
        document = _document(data)
        changes: dict[str, CachedObject | None] = {uid: None for uid in document["removed"]}
        for row in document["set"]:
            known = _known(row)
            changes[known.uid] = known
        return Delta(str(document["selection"]), str(document["resourceVersion"]), changes)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a journal: {exc}") from None


def _row(known: CachedObject) -> list[Any]:
    return [
        known.namespace,
        known.name,
        known.uid,
        known.resource_version,
        known.fingerprint,
        known.controller,
    ]


def _known(row: list[Any]) -> CachedObject:
    namespace, name, uid, rv, fingerprint, controller = row
    return CachedObject(
        uid=str(uid),
        namespace=str(namespace),
        name=str(name),
        resource_version=str(rv),
        fingerprint=fingerprint,
        controller=(str(controller[0]), str(controller[1]), str(controller[2]))
        if controller
        else None,
    )


def _compress(document: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def _to_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _from_text(text: str, decode: Callable[[bytes], _Decoded], what: str) -> _Decoded:
    try:
        return decode(base64.b64decode(text, validate=True))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a {what}: {exc}") from None


def _document(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(zlib.decompress(data))
    except zlib.error as exc:
        raise ValueError(f"not compressed: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError("unknown format")
    return document
