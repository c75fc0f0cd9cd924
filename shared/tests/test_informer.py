"""springhead.kube.informer without an API server: the cache, the relist diff, snapshots.

The list/watch thread talks to the event loop through small messages; these tests feed such
messages straight to the informer's event-loop side, as the thread would.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from springhead.kube import (
    ApiResource,
    CachedObject,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    Selection,
    Snapshot,
    StopInformer,
    controller_of,
    guess_plural,
    spec_fingerprint,
)
from springhead.kube import informer as informer_module

CONFIGMAPS = ApiResource("v1", "ConfigMap", "configmaps", namespaced=True)
SELECTION = Selection(CONFIGMAPS, "ns")


def cm(name: str, uid: str, rv: int, owner: str | None = None, **data: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": uid,
        "resourceVersion": str(rv),
    }
    if owner:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "controller": True}
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


class Recorder:
    def __init__(self, stop_on: str | None = None) -> None:
        self.changes: list[Change] = []
        self.stop_on = stop_on

    async def __call__(self, change: Change) -> None:
        if change.object["metadata"]["name"] == self.stop_on:
            raise StopInformer
        self.changes.append(change)

    def summary(self) -> list[tuple[str, str, str]]:
        return [(c.type.value, c.uid, c.resource_version) for c in self.changes]


def make(recorder: Recorder, **options: Any) -> Informer:
    return Informer(cast(Any, None), SELECTION, recorder, **options)


async def feed(informer: Informer, *messages: object) -> None:
    for message in messages:
        await informer._apply(cast(Any, message))


def listing(*objects: dict[str, Any], rv: int) -> list[object]:
    return [
        informer_module._ListBegin(),
        *(informer_module._ListItem(o) for o in objects),
        informer_module._ListEnd(str(rv)),
    ]


def watched(type_: str, obj: dict[str, Any]) -> object:
    return informer_module._Watched(type_, obj)


A1, A2, A3 = cm("a", "uid-a", 11), cm("a", "uid-a", 21), cm("a", "uid-a", 31)
B1 = cm("b", "uid-b", 12)
C1 = cm("c", "uid-c", 13)
A_NEW = cm("a", "uid-a2", 25)

RELIST_CASES = [
    ("nothing changed", [A1, B1], [A1, B1], []),
    ("created in the gap", [A1], [A1, B1], [("add", "uid-b", "12")]),
    ("updated in the gap", [A1, B1], [A2, B1], [("update", "uid-a", "21")]),
    ("updated twice: one update, newest state", [A1], [A3], [("update", "uid-a", "31")]),
    ("deleted in the gap", [A1, B1], [B1], [("delete", "uid-a", "11")]),
    (
        "deleted and recreated under the same name",
        [A1, B1],
        [A_NEW, B1],
        [("add", "uid-a2", "25"), ("delete", "uid-a", "11")],
    ),
    (
        "everything at once",
        [A1, B1],
        [A2, C1],
        [("update", "uid-a", "21"), ("add", "uid-c", "13"), ("delete", "uid-b", "12")],
    ),
    ("an older state is not news", [A2], [A1], []),
]


@pytest.mark.parametrize(
    ("before", "listed", "expected"),
    [case[1:] for case in RELIST_CASES],
    ids=[case[0] for case in RELIST_CASES],
)
async def test_relist_diff_reports_exactly_the_gap(
    before: list[dict[str, Any]], listed: list[dict[str, Any]], expected: list[tuple[str, ...]]
) -> None:
    recorder = Recorder()
    informer = make(recorder)
    await feed(informer, *listing(*before, rv=20))
    assert recorder.changes == []  # the first list only fills the cache
    await feed(informer, *listing(*listed, rv=40))
    assert recorder.summary() == expected
    assert all(c.relisted for c in recorder.changes)
    assert {k.uid for k in informer.known.values()} == {o["metadata"]["uid"] for o in listed}
    assert informer.resource_version == "40"
    # The next relist of the same state reports nothing: nothing is replayed.
    recorder.changes.clear()
    await feed(informer, *listing(*listed, rv=41))
    assert recorder.changes == []


async def test_first_list_is_reported_only_with_emit_existing() -> None:
    quiet, loud = Recorder(), Recorder()
    await feed(make(quiet), *listing(A1, B1, rv=20))
    await feed(make(loud, emit_existing=True), *listing(A1, B1, rv=20))
    assert quiet.changes == []
    assert loud.summary() == [("add", "uid-a", "11"), ("add", "uid-b", "12")]


async def test_a_list_restarted_midway_reports_nothing_twice() -> None:
    """An expired continue token restarts the list: items seen in the aborted pass count."""
    recorder = Recorder()
    informer = make(recorder)
    await feed(informer, *listing(A1, B1, rv=20))
    partial = [informer_module._ListBegin(), informer_module._ListItem(A2)]
    await feed(informer, *partial, *listing(A2, C1, rv=30))
    assert recorder.summary() == [
        ("update", "uid-a", "21"),
        ("add", "uid-c", "13"),
        ("delete", "uid-b", "12"),
    ]


WATCH_CASES = [
    ("add", [watched("ADDED", B1)], [("add", "uid-b", "12")]),
    ("update", [watched("MODIFIED", A2)], [("update", "uid-a", "21")]),
    ("delete", [watched("DELETED", cm("a", "uid-a", 22))], [("delete", "uid-a", "22")]),
    (
        "replayed update",
        [watched("MODIFIED", A2), watched("MODIFIED", A2)],
        [("update", "uid-a", "21")],
    ),
    (
        "stale update",
        [watched("MODIFIED", A3), watched("MODIFIED", A2)],
        [("update", "uid-a", "31")],
    ),
    ("delete of an unknown object", [watched("DELETED", C1)], []),
    ("ADDED for a known object is an update", [watched("ADDED", A2)], [("update", "uid-a", "21")]),
]


@pytest.mark.parametrize(
    ("messages", "expected"), [c[1:] for c in WATCH_CASES], ids=[c[0] for c in WATCH_CASES]
)
async def test_watch_events(messages: list[object], expected: list[tuple[str, ...]]) -> None:
    recorder = Recorder()
    informer = make(recorder)
    await feed(informer, *listing(A1, rv=20), *messages)
    assert recorder.summary() == expected


async def test_watch_moves_the_position_and_bookmarks_too() -> None:
    informer = make(Recorder())
    await feed(informer, *listing(A1, rv=20))
    await feed(informer, watched("ADDED", cm("b", "uid-b", 23)))
    assert informer.resource_version == "23"
    await feed(informer, informer_module._Bookmark("30"))
    assert informer.resource_version == "30"
    await feed(informer, watched("DELETED", cm("zz", "uid-zz", 31)))
    assert informer.resource_version == "31"


async def test_delete_passes_previous_and_id_version() -> None:
    recorder = Recorder()
    informer = make(recorder)
    await feed(informer, *listing(A1, rv=20), watched("MODIFIED", A2))
    await feed(informer, watched("DELETED", cm("a", "uid-a", 40)))
    delete = recorder.changes[-1]
    assert delete.type is ChangeType.DELETE
    assert delete.previous is not None and delete.previous.resource_version == "21"
    assert delete.resource_version == "40"


async def test_relist_delete_carries_the_last_known_state() -> None:
    slim, full = Recorder(), Recorder()
    owned = cm("a", "uid-a", 11, owner="web", k="v")
    for recorder, keep in ((slim, False), (full, True)):
        informer = make(recorder, keep_objects=keep)
        await feed(informer, *listing(owned, rv=20), *listing(rv=30))
    assert full.changes[0].object == owned
    skeleton = slim.changes[0].object
    assert skeleton == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "uid-a",
            "resourceVersion": "11",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}
            ],
        },
    }
    assert controller_of(skeleton) == ("apps/v1", "Deployment", "web")


async def test_fingerprint_hides_updates_that_change_nothing_but_status() -> None:
    recorder = Recorder()
    informer = make(recorder, fingerprint=spec_fingerprint)
    base = cm("a", "uid-a", 11, k="v")
    status_only = {**cm("a", "uid-a", 12, k="v"), "status": {"phase": "Ready"}}
    status_only["metadata"]["managedFields"] = [{"manager": "x"}]
    spec_change = cm("a", "uid-a", 13, k="w")
    await feed(informer, *listing(base, rv=20))
    await feed(informer, watched("MODIFIED", status_only))
    assert recorder.changes == []
    assert informer.known["uid-a"].resource_version == "12"
    await feed(informer, watched("MODIFIED", spec_change))
    assert recorder.summary() == [("update", "uid-a", "13")]
    # Also across a relist.
    await feed(informer, *listing({**spec_change, "status": {"x": 1}}, rv=40))
    assert len(recorder.changes) == 1


async def test_a_stopped_handler_leaves_the_change_unrecorded() -> None:
    recorder = Recorder(stop_on="b")
    informer = make(recorder)
    await feed(informer, *listing(A1, rv=20))
    with pytest.raises(StopInformer):
        await feed(informer, watched("ADDED", B1))
    assert "uid-b" not in informer.known
    assert informer.resource_version == "20"


async def test_snapshot_is_consistent_and_resumes_an_informer() -> None:
    informer = make(Recorder(), fingerprint=spec_fingerprint)
    assert informer.snapshot() is None
    await feed(informer, *listing(A1, cm("b", "uid-b", 12, owner="web"), rv=20))
    await feed(informer, informer_module._ListBegin())
    assert informer.snapshot() is None  # mid-relist: not a consistent position
    await feed(informer, informer_module._ListItem(A1), informer_module._ListItem(B1))
    await feed(informer, informer_module._ListEnd("25"))
    snapshot = informer.snapshot()
    assert snapshot is not None
    assert snapshot.resource_version == "25"
    assert {k.uid: k.controller for k in snapshot.objects} == {
        "uid-a": None,
        "uid-b": ("apps/v1", "Deployment", "web"),
    }
    resumed = make(Recorder(), resume_from=snapshot)
    assert resumed.resource_version == "25"
    assert set(resumed.known) == {"uid-a", "uid-b"}
    other = Selection(CONFIGMAPS, "elsewhere")
    with pytest.raises(ValueError, match="snapshot is for"):
        Informer(cast(Any, None), other, Recorder(), resume_from=snapshot)


def test_known_skeleton_of_a_cluster_scoped_object_has_no_namespace() -> None:
    namespaces = ApiResource("v1", "Namespace", "namespaces", namespaced=False)
    known = CachedObject(uid="u", namespace="", name="prod", resource_version="5")
    assert known.last_state(namespaces)["metadata"] == {
        "name": "prod",
        "uid": "u",
        "resourceVersion": "5",
    }


@pytest.mark.parametrize(
    ("selection", "path", "key"),
    [
        (
            SELECTION,
            "/api/v1/namespaces/ns/configmaps",
            "v1/ConfigMap namespace=ns labels= fields=",
        ),
        (
            Selection(CONFIGMAPS, None, "a=b", "metadata.name=x"),
            "/api/v1/configmaps",
            "v1/ConfigMap namespace=* labels=a=b fields=metadata.name=x",
        ),
        (
            Selection(ApiResource("apps/v1", "Deployment", "deployments", True), "x"),
            "/apis/apps/v1/namespaces/x/deployments",
            "apps/v1/Deployment namespace=x labels= fields=",
        ),
        (
            Selection(ApiResource("v1", "Namespace", "namespaces", False), "ignored"),
            "/api/v1/namespaces",
            "v1/Namespace namespace=* labels= fields=",
        ),
    ],
)
def test_selection_paths_and_keys(selection: Selection, path: str, key: str) -> None:
    assert selection.path == path
    assert selection.key == key


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("ConfigMap", "configmaps"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Endpoints", "endpoints"),
        ("Widget", "widgets"),
        ("", ""),
    ],
)
def test_guess_plural_follows_kubernetes(kind: str, plural: str) -> None:
    assert guess_plural(kind) == plural


@pytest.mark.parametrize(
    ("status", "body", "reason", "message", "gone"),
    [
        (403, b'{"kind":"Status","reason":"Forbidden","message":"no"}', "Forbidden", "no", False),
        (410, b'{"reason":"Expired","message":"too old"}', "Expired", "too old", True),
        (500, b"plain text", "Internal", "plain text", False),
        (404, None, "Not Found", "", False),
    ],
)
def test_api_errors_read_status_objects(
    status: int, body: bytes | None, reason: str, message: str, gone: bool
) -> None:
    fallback = "Internal" if status == 500 else "Not Found"
    error = KubeApiError.from_body(status, body, fallback)
    assert (error.status, error.reason, error.message, error.gone) == (
        status,
        reason,
        message,
        gone,
    )


async def test_delta_holds_what_changed_since_the_last_snapshot() -> None:
    informer = make(Recorder())
    assert informer.take_delta() is None  # before the first list
    await feed(informer, *listing(A1, B1, rv=20))
    base = informer.snapshot()  # also empties the delta
    assert base is not None
    await feed(informer, watched("MODIFIED", A2), watched("ADDED", C1))
    await feed(informer, watched("DELETED", cm("b", "uid-b", 24)))
    delta = informer.take_delta()
    assert delta is not None
    assert delta.resource_version == "24"
    assert {uid: k.resource_version if k else None for uid, k in delta.changes.items()} == {
        "uid-a": "21",
        "uid-c": "13",
        "uid-b": None,
    }
    assert delta.apply(base) == informer.snapshot()
    with pytest.raises(ValueError, match="delta is for"):
        delta.apply(Snapshot("another watch", "20", ()))
    await feed(informer, informer_module._Bookmark("30"))
    quiet = informer.take_delta()
    assert quiet is not None and quiet.changes == {} and quiet.resource_version == "30"
    await feed(informer, informer_module._ListBegin())
    assert informer.take_delta() is None  # mid-relist
