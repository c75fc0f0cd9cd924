"""The state ConfigMap: base checkpoints, journal segments, restore, and the real round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from springhead.kube import ApiResource, CachedObject, Delta, KubeClient, Selection, Snapshot
from springhead_apiserver.checkpoint import checkpoint_to_text, journal_to_text
from springhead_apiserver.state import (
    CONFIGMAP_BUDGET,
    StateStore,
    WatchState,
    merge,
    state_key,
)

CONFIGMAPS = ApiResource("v1", "ConfigMap", "configmaps", namespaced=True)
SELECTION = Selection(CONFIGMAPS, "ns")


def known(name: str, rv: int) -> CachedObject:
    return CachedObject(uid=f"uid-{name}", namespace="ns", name=name, resource_version=str(rv))


BASE = Snapshot(SELECTION.key, "10", (known("a", 1), known("b", 2)))
J1 = Delta(SELECTION.key, "12", {"uid-a": known("a", 11), "uid-c": known("c", 12)})
J2 = Delta(SELECTION.key, "15", {"uid-b": None})


def uids(checkpoint: Snapshot | None) -> dict[str, str]:
    assert checkpoint is not None
    return {k.uid: k.resource_version for k in checkpoint.objects}


def test_journal_applies_onto_a_checkpoint() -> None:
    after = J2.apply(J1.apply(BASE))
    assert after.resource_version == "15"
    assert uids(after) == {"uid-a": "11", "uid-c": "12"}
    assert merge(J1, J2) == Delta(
        SELECTION.key, "15", {"uid-a": known("a", 11), "uid-c": known("c", 12), "uid-b": None}
    )
    with pytest.raises(ValueError, match="delta is for"):
        Delta("other", "1", {}).apply(BASE)


def test_restore_base_then_segments_in_numeric_order() -> None:
    key = state_key(SELECTION)
    stored = {
        key: checkpoint_to_text(BASE),
        f"{key}.2": journal_to_text(J2),
        f"{key}.1": journal_to_text(J1),
        "unrelated.key": "x",
    }
    state = StateStore.restore(stored, SELECTION)
    assert uids(state.checkpoint) == {"uid-a": "11", "uid-c": "12"}
    assert state.checkpoint is not None and state.checkpoint.resource_version == "15"
    assert state.segments == [f"{key}.1", f"{key}.2"]
    assert state.next_segment == 3
    assert not state.needs_base
    assert state.saved_version == "15"


@pytest.mark.parametrize(
    ("stored", "restored", "needs_base"),
    [
        ({}, None, True),
        ({"base": "not base64!"}, None, True),
        ({"base": checkpoint_to_text(Snapshot("another watch", "1", ()))}, None, True),
        # An unreadable segment: stop before it, at a consistent position, and rewrite.
        ({"base": checkpoint_to_text(BASE), "1": "garbage", "2": journal_to_text(J2)}, "10", True),
        ({"base": checkpoint_to_text(BASE), "1": journal_to_text(J1)}, "12", False),
    ],
)
def test_restore_tolerates_damage(
    stored: dict[str, str], restored: str | None, needs_base: bool
) -> None:
    key = state_key(SELECTION)
    renamed = {
        (key if k == "base" else f"{key}.{k}" if k.isdigit() else k): v for k, v in stored.items()
    }
    state = StateStore.restore(renamed, SELECTION)
    version = state.checkpoint.resource_version if state.checkpoint else None
    assert (version, state.needs_base) == (restored, needs_base)


@pytest.mark.parametrize(
    ("state", "total", "expected"),
    [
        (WatchState("k"), 0, True),  # nothing stored yet
        (WatchState("k", needs_base=False, base_bytes=400_000, journal_bytes=100_000), 0, False),
        (WatchState("k", needs_base=False, base_bytes=400_000, journal_bytes=200_001), 0, True),
        (WatchState("k", needs_base=False, base_bytes=1_000, journal_bytes=30_000), 0, False),
        (WatchState("k", needs_base=False, base_bytes=1_000, journal_bytes=40_000), 0, True),
        (WatchState("k", needs_base=False), CONFIGMAP_BUDGET + 1, True),
        (WatchState("k", needs_base=False, segments=["s"] * 200), 0, True),
    ],
)
def test_when_the_base_is_rewritten(state: WatchState, total: int, expected: bool) -> None:
    assert state.wants_base(total) is expected


async def test_round_trip_through_the_real_configmap(admin: KubeClient, namespace: str) -> None:
    store = StateStore(admin, namespace=namespace, name="state")
    assert await asyncio.to_thread(store.load) == {}
    state = StateStore.restore({}, SELECTION)
    await asyncio.to_thread(store.write_base, state, BASE)  # creates the ConfigMap
    await asyncio.to_thread(store.write_segment, state, J1)
    await asyncio.to_thread(store.write_segment, state, J2)
    stored = await asyncio.to_thread(store.load)
    assert sorted(stored) == sorted([state.key, f"{state.key}.1", f"{state.key}.2"])
    restored = StateStore.restore(stored, SELECTION)
    assert uids(restored.checkpoint) == {"uid-a": "11", "uid-c": "12"}
    # A new base drops the segments in the same patch.
    assert restored.checkpoint is not None
    await asyncio.to_thread(store.write_base, restored, restored.checkpoint)
    stored = await asyncio.to_thread(store.load)
    assert list(stored) == [state.key]
    assert uids(StateStore.restore(stored, SELECTION).checkpoint) == {"uid-a": "11", "uid-c": "12"}
    config_map: dict[str, Any] = await asyncio.to_thread(
        admin.get, f"/api/v1/namespaces/{namespace}/configmaps/state"
    )
    assert config_map["metadata"]["labels"] == {
        "app.kubernetes.io/component": "apiserver-source-state"
    }
