"""springhead.kube.informer on the real kube-apiserver: list, watch, 410 relists, permissions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    KubeClient,
    Selection,
)
from springhead.metrics import WatchMetrics
from springhead_testinfra.kube import KubeCluster
from springhead_testing.kube import service_account_kubeconfig

CONFIGMAPS = ApiResource("v1", "ConfigMap", "configmaps", namespaced=True)


class Recorder:
    """A handler recording every change, with a way to wait for a count."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self._changed = asyncio.Condition()
        self.gate: asyncio.Event | None = None

    async def __call__(self, change: Change) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.changes.append(change)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 60.0) -> list[Change]:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: len(self.changes) >= count)
            except TimeoutError:
                raise AssertionError(
                    f"{len(self.changes)} of {count} changes within {timeout}s: "
                    f"{summary(self.changes)}"
                ) from None
        return self.changes

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(predicate)
            except TimeoutError:
                raise AssertionError(
                    f"condition not met within {timeout}s: {summary(self.changes)}"
                ) from None


def summary(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.type.value, c.object["metadata"]["name"], c.resource_version) for c in changes]


def triples(changes: list[Change]) -> list[tuple[str, str, str]]:
    """(type, uid, resourceVersion) - a delete names the last version seen before it."""
    out = []
    for change in changes:
        version = change.resource_version
        if change.type is ChangeType.DELETE and change.previous is not None:
            version = change.previous.resource_version
        out.append((change.type.value, change.uid, version))
    return out


@pytest.fixture
def admin(kube: KubeCluster) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def namespace(admin: KubeClient) -> str:
    name = f"inf-{uuid.uuid4().hex[:8]}"
    admin.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    return name


class ConfigMaps:
    """Blocking writes of ConfigMaps in one namespace, returning what the server stored."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.path = CONFIGMAPS.collection_path(namespace)

    def create(
        self, name: str, labels: dict[str, str] | None = None, **data: str
    ) -> dict[str, Any]:
        body = {"metadata": {"name": name, "labels": labels or {}}, "data": data}
        return self.client.request("POST", self.path, body=body)

    def update(self, name: str, **data: str) -> dict[str, Any]:
        return self.client.request(
            "PATCH",
            f"{self.path}/{name}",
            body={"data": data},
            content_type="application/merge-patch+json",
        )

    def label(self, name: str, **labels: str | None) -> dict[str, Any]:
        return self.client.request(
            "PATCH",
            f"{self.path}/{name}",
            body={"metadata": {"labels": labels}},
            content_type="application/merge-patch+json",
        )

    def delete(self, name: str) -> None:
        self.client.request("DELETE", f"{self.path}/{name}")


def ident(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"]["uid"], obj["metadata"]["resourceVersion"]


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.create_task(informer.run())
    try:
        yield informer
    finally:
        await informer.stop()
        async with asyncio.timeout(30):
            await task


async def synced(informer: Informer) -> None:
    async with asyncio.timeout(60):
        await informer.wait_synced()


@pytest_asyncio.fixture
async def cms(admin: KubeClient, namespace: str) -> ConfigMaps:
    return ConfigMaps(admin, namespace)


async def test_list_then_watch_reports_adds_updates_deletes_in_order(
    admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    existing = await asyncio.to_thread(cms.create, "existing", n="0")
    recorder = Recorder()
    informer = Informer(admin, Selection(CONFIGMAPS, namespace), recorder)
    async with running(informer):
        await synced(informer)
        assert set(informer.known) == {existing["metadata"]["uid"]}
        created = await asyncio.to_thread(cms.create, "new", n="1")
        updated = await asyncio.to_thread(cms.update, "existing", n="2")
        await asyncio.to_thread(cms.delete, "new")
        await recorder.wait_for(3)
    assert triples(recorder.changes) == [
        ("add", *ident(created)),
        ("update", *ident(updated)),
        ("delete", *ident(created)),
    ]
    assert recorder.changes[1].previous is not None
    assert recorder.changes[1].previous.resource_version == existing["metadata"]["resourceVersion"]
    assert recorder.changes[0].object["kind"] == "ConfigMap"
    assert recorder.changes[0].object["apiVersion"] == "v1"
    assert not any(c.relisted for c in recorder.changes)


async def test_emit_existing_reports_the_first_list_as_adds(
    admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    a = await asyncio.to_thread(cms.create, "a")
    b = await asyncio.to_thread(cms.create, "b")
    recorder = Recorder()
    informer = Informer(admin, Selection(CONFIGMAPS, namespace), recorder, emit_existing=True)
    async with running(informer):
        await recorder.wait_for(2)
        await synced(informer)
    assert sorted(triples(recorder.changes)) == sorted([("add", *ident(a)), ("add", *ident(b))])
    # List items carry kind and apiVersion although the API leaves them out of list items.
    assert {c.object["kind"] for c in recorder.changes} == {"ConfigMap"}


async def test_label_selector_turns_relabelling_into_adds_and_deletes(
    admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    recorder = Recorder()
    selection = Selection(CONFIGMAPS, namespace, label_selector="watched=yes")
    informer = Informer(admin, selection, recorder)
    async with running(informer):
        await synced(informer)
        await asyncio.to_thread(cms.create, "ignored", watched="no")
        labelled = await asyncio.to_thread(cms.create, "plain")
        joined = await asyncio.to_thread(cms.label, "plain", watched="yes")
        left = await asyncio.to_thread(cms.label, "plain", watched=None)
        await recorder.wait_for(2)
        marker = await asyncio.to_thread(cms.create, "marker", {"watched": "yes"})
        await recorder.wait_for(3)
    assert [(c.type.value, c.object["metadata"]["name"]) for c in recorder.changes] == [
        ("add", "plain"),
        ("delete", "plain"),
        ("add", "marker"),
    ]
    assert recorder.changes[0].resource_version == joined["metadata"]["resourceVersion"]
    assert labelled["metadata"]["uid"] == recorder.changes[1].uid
    assert left["metadata"]["resourceVersion"] == recorder.changes[1].resource_version
    assert marker["metadata"]["uid"] == recorder.changes[2].uid


async def test_field_selector_is_applied_by_the_server(
    admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    recorder = Recorder()
    selection = Selection(CONFIGMAPS, namespace, field_selector="metadata.name=chosen")
    informer = Informer(admin, selection, recorder)
    async with running(informer):
        await synced(informer)
        await asyncio.to_thread(cms.create, "other")
        chosen = await asyncio.to_thread(cms.create, "chosen")
        await recorder.wait_for(1)
        await asyncio.to_thread(cms.update, "other", x="1")
        updated = await asyncio.to_thread(cms.update, "chosen", x="1")
        await recorder.wait_for(2)
    assert triples(recorder.changes) == [("add", *ident(chosen)), ("update", *ident(updated))]


async def test_relist_after_410_reports_each_change_of_the_gap_exactly_once(
    kube: KubeCluster, admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    """Stop, change things, compact etcd, resume from the snapshot: the watch gets 410 and the
    relist's diff reports exactly what happened in the gap."""
    keep = await asyncio.to_thread(cms.create, "keep", v="0")
    edit = await asyncio.to_thread(cms.create, "edit", v="0")
    gone = await asyncio.to_thread(cms.create, "gone", v="0")
    again = await asyncio.to_thread(cms.create, "again", v="0")
    first = Recorder()
    informer = Informer(admin, Selection(CONFIGMAPS, namespace), first)
    async with running(informer):
        await synced(informer)
        touched = await asyncio.to_thread(cms.update, "keep", v="1")
        await first.wait_for(1)
    snapshot = informer.snapshot()
    assert snapshot is not None
    assert snapshot.resource_version == touched["metadata"]["resourceVersion"]
    assert {k.uid for k in snapshot.objects} == {
        keep["metadata"]["uid"],
        edit["metadata"]["uid"],
        gone["metadata"]["uid"],
        again["metadata"]["uid"],
    }

    # The gap: changes nobody watches.
    await asyncio.to_thread(cms.update, "edit", v="1")
    edited = await asyncio.to_thread(cms.update, "edit", v="2")
    await asyncio.to_thread(cms.delete, "gone")
    await asyncio.to_thread(cms.delete, "again")
    recreated = await asyncio.to_thread(cms.create, "again", v="new")
    born = await asyncio.to_thread(cms.create, "born", v="0")
    compacted = await asyncio.to_thread(kube.compact)
    assert compacted >= int(born["metadata"]["resourceVersion"])

    second = Recorder()
    registry = CollectorRegistry()
    resumed = Informer(
        admin,
        Selection(CONFIGMAPS, namespace),
        second,
        resume_from=snapshot,
        metrics=WatchMetrics(registry),
    )
    async with running(resumed):
        await second.wait_for(5)
        after = await asyncio.to_thread(cms.update, "keep", v="after")
        await second.wait_for(6)
    # The 410 ended the resumed watch (a restart) and made it list again (a relist).
    labels = {"resource": "configmaps", "watch_namespace": namespace}
    assert (registry.get_sample_value("springhead_watch_relists_total", labels) or 0) >= 1
    assert (registry.get_sample_value("springhead_watch_restarts_total", labels) or 0) >= 1
    gap, live = second.changes[:5], second.changes[5:]
    assert sorted(triples(gap)) == sorted(
        [
            ("update", *ident(edited)),
            ("delete", *ident(gone)),
            ("delete", *ident(again)),
            ("add", *ident(recreated)),
            ("add", *ident(born)),
        ]
    )
    assert all(c.relisted for c in gap)
    assert triples(live) == [("update", *ident(after))]
    assert not live[0].relisted
    # The relist's deletes carry the last known state.
    deleted = {c.object["metadata"]["name"] for c in gap if c.type is ChangeType.DELETE}
    assert deleted == {"gone", "again"}


async def test_410_while_running_loses_and_replays_nothing(
    kube: KubeCluster, admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    """The handler is held while changes pile up, then etcd is compacted and the apiserver
    restarted: part of the gap arrives through the old watch, the rest through a relist."""
    names = [f"cm-{i}" for i in range(6)]
    written: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        written[name] = [await asyncio.to_thread(cms.create, name, v="0")]
    recorder = Recorder()
    informer = Informer(admin, Selection(CONFIGMAPS, namespace), recorder, queue_size=1)
    async with running(informer):
        await synced(informer)
        recorder.gate = asyncio.Event()
        for round_ in range(1, 4):
            for name in names[:4]:
                written[name].append(await asyncio.to_thread(cms.update, name, v=str(round_)))
        await asyncio.to_thread(cms.delete, "cm-4")
        written["cm-6"] = [await asyncio.to_thread(cms.create, "cm-6", v="0")]
        await asyncio.to_thread(kube.compact)
        final = await asyncio.to_thread(cms.update, "cm-5", v="final")
        recorder.gate.set()

        def settled() -> bool:
            return any(
                c.uid == final["metadata"]["uid"]
                and c.resource_version == final["metadata"]["resourceVersion"]
                for c in recorder.changes
            )

        await recorder.wait_until(settled, timeout=120)
    seen = triples(recorder.changes)
    assert len(seen) == len(set(seen)), f"replayed: {seen}"
    by_uid: dict[str, list[tuple[str, str]]] = {}
    for type_, uid, version in seen:
        by_uid.setdefault(uid, []).append((type_, version))
    for name in names[:4]:
        versions = [w["metadata"]["resourceVersion"] for w in written[name][1:]]
        reported = by_uid[written[name][0]["metadata"]["uid"]]
        assert {t for t, _ in reported} == {"update"}
        reported_versions = [v for _, v in reported]
        assert reported_versions == [v for v in versions if v in reported_versions]
        assert reported[-1][1] == versions[-1], f"{name}: final state not reported"
    assert by_uid[written["cm-4"][0]["metadata"]["uid"]] == [
        ("delete", written["cm-4"][0]["metadata"]["resourceVersion"])
    ]
    assert by_uid[written["cm-6"][0]["metadata"]["uid"]] == [
        ("add", written["cm-6"][0]["metadata"]["resourceVersion"])
    ]
    assert by_uid[final["metadata"]["uid"]] == [("update", final["metadata"]["resourceVersion"])]


async def test_bookmarks_and_watch_restarts_move_the_position(
    admin: KubeClient, namespace: str, cms: ConfigMaps
) -> None:
    """A short server-side watch timeout ends the watch again and again; nothing is replayed."""
    recorder = Recorder()
    registry = CollectorRegistry()
    informer = Informer(
        admin,
        Selection(CONFIGMAPS, namespace),
        recorder,
        watch_timeout=1,
        metrics=WatchMetrics(registry),
    )
    labels = {"resource": "configmaps", "watch_namespace": namespace}

    def restarts() -> float:
        return registry.get_sample_value("springhead_watch_restarts_total", labels) or 0

    async with running(informer):
        await synced(informer)
        made = []
        for i in range(5):
            made.append(await asyncio.to_thread(cms.create, f"c{i}"))
            await recorder.wait_for(i + 1)
        assert informer.resource_version is not None
        # The series exist from the start; a watch the server ended is counted once reopened.
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # polled, as springhead_testing's Cluster.eventually does
            if restarts() >= 2 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    assert triples(recorder.changes) == [("add", *ident(m)) for m in made]
    assert restarts() >= 2
    assert registry.get_sample_value("springhead_watch_relists_total", labels) == 0


async def test_forbidden_list_is_reported_with_the_verb(
    admin: KubeClient, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(admin, namespace, "nobody", tmp_path)
    nobody = KubeClient.from_kubeconfig(str(kubeconfig))
    with pytest.raises(KubeApiError) as denied:
        await asyncio.to_thread(nobody.get, CONFIGMAPS.collection_path(namespace))
    assert denied.value.status == 403
    recorder = Recorder()
    informer = Informer(nobody, Selection(CONFIGMAPS, namespace), recorder)
    async with running(informer):
        async with asyncio.timeout(60):
            error = await informer.wait_error()
        assert not informer.synced
    assert error.status == 403
    assert error.verb == "list"
    assert "configmaps" in error.message
    nobody.close()


def test_a_restricted_kubeconfig_needs_the_admins_ca_file(tmp_path: Path) -> None:
    from kubernetes.client import ApiClient, Configuration

    admin = KubeClient(ApiClient(Configuration(host="https://127.0.0.1:1")))
    with pytest.raises(ValueError, match="trusts no CA file"):
        service_account_kubeconfig(admin, "ns", "nobody", tmp_path)
    admin.close()
    assert list(tmp_path.iterdir()) == []
