"""The stored form of a watch's position: checkpoints and journals survive their text, garbage
does not pass for either."""

from __future__ import annotations

import pytest
from springhead.kube import ApiResource, CachedObject, Delta, Selection, Snapshot
from springhead_apiserver.checkpoint import (
    checkpoint_from_text,
    checkpoint_to_text,
    journal_from_text,
    journal_to_text,
)

SELECTION = Selection(ApiResource("v1", "ConfigMap", "configmaps", namespaced=True), "ns")
PLAIN = CachedObject(uid="uid-a", namespace="ns", name="a", resource_version="11")
OWNED = CachedObject(
    uid="uid-b",
    namespace="ns",
    name="b",
    resource_version="12",
    fingerprint="0123456789abcdef01234567",
    controller=("apps/v1", "Deployment", "web"),
)


def test_a_checkpoint_keeps_everything_but_whole_objects() -> None:
    kept = CachedObject(
        uid="uid-c", namespace="", name="c", resource_version="13", object={"kind": "ConfigMap"}
    )
    snapshot = Snapshot(SELECTION.key, "25", (PLAIN, OWNED, kept))
    restored = checkpoint_from_text(checkpoint_to_text(snapshot))
    assert restored == snapshot
    assert {k.uid: k.controller for k in restored.objects} == {
        "uid-a": None,
        "uid-b": ("apps/v1", "Deployment", "web"),
        "uid-c": None,
    }
    assert restored.objects[1].fingerprint == OWNED.fingerprint
    assert restored.objects[2].object is None  # whole objects are not stored


def test_a_journal_keeps_sets_and_removals() -> None:
    delta = Delta(SELECTION.key, "30", {"uid-a": None, "uid-b": OWNED})
    assert journal_from_text(journal_to_text(delta)) == delta


@pytest.mark.parametrize("garbage", ["", "bm90IHpsaWI=", "eJwDAAAAAAE="])
def test_checkpoint_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ValueError, match="not a checkpoint"):
        checkpoint_from_text(garbage)


@pytest.mark.parametrize("garbage", ["", "bm90IHpsaWI=", "eJwDAAAAAAE="])
def test_journal_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ValueError, match="not a journal"):
        journal_from_text(garbage)


def test_a_checkpoint_is_not_a_journal() -> None:
    text = checkpoint_to_text(Snapshot(SELECTION.key, "1", (PLAIN,)))
    with pytest.raises(ValueError, match="not a journal"):
        journal_from_text(text)
