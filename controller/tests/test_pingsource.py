"""PingSources on the real kube-apiserver: the controller's reconciler (status, conditions, bad
specs) and the multi-tenant ping (``PING_MULTI_TENANT``, real ``python -m springhead_ping``
processes) firing them into a real loopback sink.

Schedules with seconds fire every second; assertions are about which ticks arrived (their
``time`` and ``id``), never how fast. Knative Serving is not installed: its ``Service`` kind is a
minimal CRD whose Addressable status the test writes, as its controller would.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from cloudevents.core.base import BaseCloudEvent
from springhead.kube import KubeApiError, KubeClient
from springhead_ping.replicas import CATCHUP_EXTENSION
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink, SourceProcess
from springhead_testing.kube import custom_resource_definition, service_account_kubeconfig

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.usefixtures("controller")

DATA = Path(__file__).parent / "data" / "knative-docs"
SOURCES = "sources.knative.dev/v1"
SECOND = timedelta(seconds=1)
EVERY_SECOND = "* * * * * *"
#: PingSources created, changed and deleted while the multi-tenant ping runs (the issue's 200;
#: the bench runs 1,000).
MANY = (200,)


def ping_source(name: str, sink: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCES,
        "kind": "PingSource",
        "metadata": {"name": name},
        "spec": {"schedule": EVERY_SECOND, "sink": {"uri": sink}, **spec},
    }


def source_of(namespace: str, name: str) -> str:
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


def tick_of(event: BaseCloudEvent) -> datetime:
    moment = event.get_time()
    assert moment is not None
    return moment.astimezone(UTC)


def by_source(sink: RecordingSink) -> dict[str, list[BaseCloudEvent]]:
    grouped: dict[str, list[BaseCloudEvent]] = defaultdict(list)
    for event in sink.events:
        grouped[event.get_source()].append(event)
    return grouped


def assert_once_each(sink: RecordingSink) -> None:
    counts = Counter(event.get_id() for event in sink.events)
    repeated = {k: v for k, v in counts.items() if v > 1}
    assert not repeated, f"ticks delivered more than once: {repeated}"


def assert_contiguous(events: list[BaseCloudEvent]) -> None:
    ticks = sorted({tick_of(e) for e in events})
    gaps = [(a, b) for a, b in zip(ticks, ticks[1:], strict=False) if b - a != SECOND]
    assert not gaps, f"ticks missing between {gaps}"


def mt_env(kube: KubeCluster, lease: str, **extra: str) -> dict[str, str]:
    """A multi-tenant ping's environment: no K_SINK, no PING_SCHEDULE."""
    return {
        "NAMESPACE": "default",
        "NAME": "pingsource-mt-adapter",
        "K_COMPONENT": "pingsource-mt-adapter",
        "SPRINGHEAD_PORT": "0",
        "SPRINGHEAD_HOST": "127.0.0.1",
        "SPRINGHEAD_SHUTDOWN_GRACE": "PT20S",
        "PING_MULTI_TENANT": "true",
        "PING_LEADER_ELECTION": "true",
        "PING_LEASE_NAME": lease,
        "PING_KUBECONFIG": str(kube.kubeconfig),
        "PING_LEASE_DURATION": "PT2S",
        "PING_LEASE_RENEW_DEADLINE": "PT1.5S",
        "PING_LEASE_RETRY_PERIOD": "PT0.3S",
        **extra,
    }


@pytest.fixture
def lease() -> str:
    return f"mtping-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def start_ping(
    kube: KubeCluster, lease: str
) -> Callable[..., contextlib.AbstractAsyncContextManager[SourceProcess]]:
    """``async with start_ping(**env) as ping``: a multi-tenant ping that leads."""

    @contextlib.asynccontextmanager
    async def start(**extra: str) -> AsyncIterator[SourceProcess]:
        async with SourceProcess("springhead_ping", mt_env(kube, lease, **extra)) as process:
            await process.wait_for_log("became the leader", timeout=60)
            yield process

    return start


async def wait_ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return await cluster.wait_condition("PingSource", namespace, name, "Ready", "True")


# -- the controller's part -------------------------------------------------------------------


async def test_a_pingsource_with_a_uri_sink_becomes_ready(cluster: Cluster, namespace: str) -> None:
    await cluster.create(ping_source("uri", "http://sink.example.com/x"), namespace)
    await wait_ready(cluster, namespace, "uri")
    obj = await cluster.get(SOURCES, "PingSource", namespace, "uri")
    assert obj is not None
    status = obj["status"]
    assert status["sinkUri"] == "http://sink.example.com/x"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["ceAttributes"] == [
        {"type": "dev.knative.sources.ping", "source": source_of(namespace, "uri")}
    ]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"Ready", "Deployed", "SinkProvided", "OIDCIdentityCreated"}
    assert all(c["status"] == "True" for c in conditions.values())


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"schedule": "61 * * * *"}, "InvalidSchedule", "invalid schedule"),
        ({"schedule": "@every 1m"}, "InvalidSchedule", "unknown descriptor"),
        ({"schedule": "* * *"}, "InvalidSchedule", "has 3 fields"),
        ({"timezone": "Mars/Olympus_Mons"}, "InvalidTimezone", "unknown time zone"),
        ({"data": "x", "dataBase64": "eA=="}, "InvalidData", "cannot both be set"),
        ({"dataBase64": "not base64!"}, "InvalidData", "not valid base64"),
        ({"contentType": "application/json", "data": "[1]"}, "InvalidData", "JSON object"),
        ({"ceOverrides": {"extensions": {"id": "x"}}}, "InvalidOverrides", "spec attribute"),
    ],
)
async def test_a_bad_spec_is_a_false_condition_with_a_reason_until_fixed(
    cluster: Cluster, namespace: str, spec: dict[str, Any], reason: str, words: str
) -> None:
    await cluster.create(ping_source("bad", "http://sink.example.com/", **spec), namespace)
    deployed = await cluster.wait_condition(
        "PingSource", namespace, "bad", "Deployed", "False", reason
    )
    assert words in deployed["message"]
    ready = await cluster.wait_condition("PingSource", namespace, "bad", "Ready", "False")
    assert ready["reason"] == reason
    # The controller carries on: the fixed spec becomes Ready.
    fixed = {key: None for key in spec}
    await cluster.merge_patch(SOURCES, "PingSource", namespace, "bad", {"spec": fixed})
    await wait_ready(cluster, namespace, "bad")


async def test_a_missing_sink_is_reported_then_resolved_when_it_appears(
    cluster: Cluster, namespace: str
) -> None:
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    source = ping_source("later", "")
    source["spec"]["sink"] = {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "display"}
    }
    await cluster.create(source, namespace)
    await cluster.wait_condition(
        "PingSource", namespace, "later", "SinkProvided", "False", "NoAddressable"
    )
    await cluster.create(
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "display"},
            "spec": {},
        },
        namespace,
    )
    url = f"http://display.{namespace}.example.com"
    await cluster.publish_address("serving.knative.dev/v1", "Service", namespace, "display", url)
    await wait_ready(cluster, namespace, "later")
    obj = await cluster.get(SOURCES, "PingSource", namespace, "later")
    assert obj is not None and obj["status"]["sinkUri"] == url


# -- Knative's documented examples, fired by the multi-tenant ping ---------------------------


async def test_the_documented_pingsources_become_ready_and_deliver(
    cluster: Cluster,
    namespace: str,
    sink: RecordingSink,
    start_ping: Callable[..., contextlib.AbstractAsyncContextManager[SourceProcess]],
) -> None:
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    await cluster.create(
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "event-display"},
            "spec": {},
        },
        namespace,
    )
    await cluster.publish_address(
        "serving.knative.dev/v1", "Service", namespace, "event-display", sink.url
    )
    for example in ("ping-source.yaml", "ping-source-binary.yaml"):
        for doc in yaml.safe_load_all((DATA / example).read_text()):
            await cluster.create(doc, namespace)
    for name in ("test-ping-source", "test-ping-source-binary"):
        await wait_ready(cluster, namespace, name)
    async with start_ping():
        # "*/2 * * * *": both fire at the next even minute, at most two minutes away.
        await sink.wait_for(2, timeout=200)
    requests = {r.event.get_source(): r for r in sink.accepted}
    json_request = requests[source_of(namespace, "test-ping-source")]
    binary_request = requests[source_of(namespace, "test-ping-source-binary")]
    assert json_request.header("Content-Type") == "application/json"
    assert json_request.body == b'{"message": "Hello world!"}'
    assert binary_request.header("Content-Type") == "text/plain"
    assert binary_request.body == b"data"
    for request in (json_request, binary_request):
        assert request.header("Kn-Namespace") == namespace
        assert request.event.get_type() == "dev.knative.sources.ping"
        tick = tick_of(request.event)
        assert tick.second == 0 and tick.minute % 2 == 0 and tick.microsecond == 0


# -- many PingSources, changed live -----------------------------------------------------------


async def until(cluster: Cluster, check: Callable[[], bool], what: str) -> None:
    async def poll() -> bool:
        return check()

    await cluster.eventually(poll, what, timeout=120)


class Tally:
    """The sink's events by source, parsed once each as they arrive (the checks poll often)."""

    def __init__(self, sink: RecordingSink) -> None:
        self.sink = sink
        self.seen = 0
        self.groups: dict[str, list[BaseCloudEvent]] = defaultdict(list)

    def __call__(self) -> dict[str, list[BaseCloudEvent]]:
        requests = self.sink.requests
        for request in requests[self.seen :]:
            if request.accepted:
                event = request.event
                self.groups[event.get_source()].append(event)
        self.seen = len(requests)
        return self.groups


@pytest.mark.parametrize("count", MANY)
async def test_pingsources_created_changed_and_deleted_while_it_runs_across_a_leader_change(
    cluster: Cluster,
    namespace: str,
    sink: RecordingSink,
    kube: KubeCluster,
    lease: str,
    count: int,
) -> None:
    """``count`` PingSources, each firing every second: created one after another while two
    replicas run, then the leader stops (the standby takes over), then half are changed and half
    deleted. Every PingSource fires every tick from its first one on, exactly once, across the
    leader change; a changed one fires its new data from some tick on, a deleted one no more."""
    names = [f"p{i:04d}" for i in range(count)]
    sources = {source_of(namespace, n): n for n in names}
    tally = Tally(sink)

    def counts() -> dict[str, int]:
        grouped = tally()
        return {n: len(grouped.get(source_of(namespace, n), ())) for n in names}

    def each_fired(
        times: int, among: set[str], after: dict[str, int] | None = None
    ) -> Callable[[], bool]:
        def check() -> bool:
            now = counts()
            return all(now[n] >= (after or {}).get(n, 0) + times for n in among)

        return check

    # The Lease's default timings: a loaded machine must not make the leader miss renewals and
    # hand over mid-term (short leases did, under a load average of 15: ticks were then fired
    # again, marked as caught up). The handover tested here is the stopped leader's release,
    # which the standby takes at its next retry.
    env = mt_env(
        kube,
        lease,
        PING_CATCHUP_WINDOW="PT1M",
        PING_LEASE_DURATION="PT15S",
        PING_LEASE_RENEW_DEADLINE="PT10S",
        PING_LEASE_RETRY_PERIOD="PT1S",
    )
    first, second = SourceProcess("springhead_ping", env), SourceProcess("springhead_ping", env)
    async with first, second:
        leader = await leader_of([first, second])
        standby = second if leader is first else first
        created = {}
        for name in names:
            obj = await cluster.create(
                ping_source(
                    name,
                    sink.url,
                    data=f"first {name}",
                    contentType="text/plain",
                    ceOverrides={"extensions": {"pingname": name}},
                ),
                namespace,
            )
            created[name] = datetime.fromisoformat(obj["metadata"]["creationTimestamp"])
        await until(cluster, each_fired(2, set(names)), f"all {count} PingSources firing")

        # The leader stops while every PingSource fires: the standby goes on from its last tick.
        leader.signal(signal.SIGTERM)
        await leader.wait(timeout=60)
        await standby.wait_for_log("became the leader", timeout=60)
        await until(
            cluster, each_fired(2, set(names), counts()), "all firing on after the leader change"
        )

        changed, deleted = set(names[::2]), set(names[1::2])
        for name in sorted(changed):
            await cluster.merge_patch(
                SOURCES, "PingSource", namespace, name, {"spec": {"data": f"second {name}"}}
            )
        for name in sorted(deleted):
            await cluster.delete(SOURCES, "PingSource", namespace, name)

        def changes_seen() -> bool:
            removed = {
                e.get("pingsource") for e in standby.logs if e.get("msg") == "pingsource removed"
            }
            grouped = tally()
            fired_new = all(
                any(e.get_data() == f"second {n}" for e in grouped.get(source_of(namespace, n), []))
                for n in changed
            )
            return fired_new and {f"{namespace}/{n}" for n in deleted} <= removed

        await until(cluster, changes_seen, "changes fired and deletes taken in")
        removed_at = datetime.now(UTC)
        await until(cluster, each_fired(2, changed, counts()), "the changed PingSources firing on")
    grouped = tally()
    assert set(grouped) == set(sources)
    terms = [
        (replica, e.get("msg"), e.get("reason"))
        for replica, process in enumerate((first, second))
        for e in process.logs
        if e.get("msg") in ("became the leader", "no longer the leader")
    ]
    became = [t for t in terms if t[1] == "became the leader"]
    assert len(became) == 2, f"leadership changed hands more than once: {terms}"
    assert_once_each(sink)
    for source, events in grouped.items():
        name = sources[source]
        assert min(tick_of(e) for e in events) >= created[name], "a tick before creation"
        assert all(e.get_extension("pingname") == name for e in events)
        assert_contiguous(events)  # no tick missed, across the leader change too
        if name in deleted:
            late = [e for e in events if tick_of(e) > removed_at]
            assert not late, f"{name} fired after it was deleted"
            assert all(e.get_data() == f"first {name}" for e in events)
        else:
            events = sorted(events, key=tick_of)
            first_new = next(i for i, e in enumerate(events) if e.get_data() != f"first {name}")
            assert all(e.get_data() == f"second {name}" for e in events[first_new:])


# -- a namespace selection, with the least RBAC it needs --------------------------------------

RBAC = "rbac.authorization.k8s.io/v1"
PINGSOURCE_RULE = {
    "apiGroups": ["sources.knative.dev"],
    "resources": ["pingsources"],
    "verbs": ["list", "watch"],
}
NAMESPACE_RULE = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}


async def grant(
    cluster: Cluster, name: str, namespace: str | None, rules: list[dict[str, Any]], home: str
) -> None:
    """A Role in ``namespace`` (None: a ClusterRole) with ``rules``, bound to the ServiceAccount
    ``name`` of ``home``: the RBAC the ping chart renders (tests/charts holds the chart to it)."""
    kind = "Role" if namespace else "ClusterRole"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    await cluster.create({"apiVersion": RBAC, "kind": kind, "metadata": metadata, "rules": rules})
    await cluster.create(
        {
            "apiVersion": RBAC,
            "kind": f"{kind}Binding",
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": home}],
        }
    )


async def least_privileged(
    cluster: Cluster, lease: str, tmp_path: Path, grants: list[tuple[str | None, list[Any]]]
) -> tuple[str, Path]:
    """A namespace of its own for the ping and a kubeconfig acting as its ServiceAccount, which
    may use the Lease there and holds ``grants`` (namespace or None, rules) and nothing else."""
    home = await cluster.new_namespace("mtping")
    account = f"mtping-{uuid.uuid4().hex[:8]}"
    kubeconfig = await cluster.call(
        service_account_kubeconfig, cluster.client, home, account, tmp_path
    )
    lease_rules = [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]
    await grant(cluster, account, home, lease_rules, home)
    for namespace, rules in grants:
        await grant(cluster, account, namespace, rules, home)
    return home, kubeconfig


def count_of(sink: RecordingSink, namespace: str, name: str) -> int:
    return len(by_source(sink).get(source_of(namespace, name), []))


async def test_listed_namespaces_fire_and_others_never_with_a_role_in_each(
    cluster: Cluster, sink: RecordingSink, kube: KubeCluster, lease: str, tmp_path: Path
) -> None:
    listed = [await cluster.new_namespace("listed") for _ in range(2)]
    other = await cluster.new_namespace("other")
    await asyncio.gather(*(create_ready(cluster, n, sink, ["p"]) for n in [*listed, other]))
    home, kubeconfig = await least_privileged(
        cluster, lease, tmp_path, [(n, [PINGSOURCE_RULE]) for n in listed]
    )
    # The ServiceAccount cannot read PingSources anywhere else: the Roles are all it has.
    restricted = await cluster.call(KubeClient.from_kubeconfig, str(kubeconfig))
    try:
        for path in (
            "/apis/sources.knative.dev/v1/pingsources",
            f"/apis/sources.knative.dev/v1/namespaces/{other}/pingsources",
        ):
            with pytest.raises(KubeApiError) as denied:
                await cluster.call(restricted.get, path)
            assert denied.value.status == 403
    finally:
        restricted.close()
    env = mt_env(kube, lease, NAMESPACE=home, PING_KUBECONFIG=str(kubeconfig))
    env["PING_NAMESPACES"] = ",".join(listed)
    async with SourceProcess("springhead_ping", env) as ping:
        await ping.wait_for_log("became the leader", timeout=60)
        await until(
            cluster,
            lambda: all(count_of(sink, n, "p") >= 3 for n in listed),
            "both listed namespaces firing",
        )
    assert count_of(sink, other, "p") == 0, "a PingSource outside the selection fired"
    assert not [e for e in ping.logs if "permission denied" in str(e.get("msg"))]
    assert_once_each(sink)
    for namespace in listed:
        assert_contiguous(by_source(sink)[source_of(namespace, "p")])


async def test_a_namespace_selector_follows_labels_and_never_fires_outside_it(
    cluster: Cluster, sink: RecordingSink, kube: KubeCluster, lease: str, tmp_path: Path
) -> None:
    label = f"pings-{uuid.uuid4().hex[:8]}"
    selected = await cluster.new_namespace("on", **{label: "on"})
    never = await cluster.new_namespace("never", **{label: "off"})
    later = await cluster.new_namespace("later")
    await asyncio.gather(*(create_ready(cluster, n, sink, ["p"]) for n in (selected, never, later)))
    home, kubeconfig = await least_privileged(
        cluster, lease, tmp_path, [(None, [PINGSOURCE_RULE, NAMESPACE_RULE])]
    )
    env = mt_env(kube, lease, NAMESPACE=home, PING_KUBECONFIG=str(kubeconfig))
    env["PING_NAMESPACE_SELECTOR"] = f'{{"matchLabels": {{"{label}": "on"}}}}'
    async with SourceProcess("springhead_ping", env) as ping:
        await ping.wait_for_log("became the leader", timeout=60)
        await until(cluster, lambda: count_of(sink, selected, "p") >= 2, "the selected firing")
        # Labelled: selected from then on, its existing PingSource fires.
        await cluster.merge_patch(
            "v1", "Namespace", None, later, {"metadata": {"labels": {label: "on"}}}
        )
        await until(cluster, lambda: count_of(sink, later, "p") >= 2, "the newly labelled firing")
        # Unlabelled: no longer selected, its PingSource stops.
        await cluster.merge_patch(
            "v1", "Namespace", None, selected, {"metadata": {"labels": {label: None}}}
        )

        def unselected() -> bool:
            return any(
                e.get("msg") == "namespace no longer selected" and e.get("namespace") == selected
                for e in ping.logs
            )

        await until(cluster, unselected, "the unlabelled namespace dropped")
        dropped_at = datetime.now(UTC)
        fired = count_of(sink, later, "p")
        await until(cluster, lambda: count_of(sink, later, "p") >= fired + 3, "firing on")
    grouped = by_source(sink)
    assert source_of(never, "p") not in grouped, "a PingSource outside the selection fired"
    late = [e for e in grouped[source_of(selected, "p")] if tick_of(e) > dropped_at]
    assert not late, "a PingSource fired after its namespace was unselected"
    assert_once_each(sink)
    for namespace in (selected, later):
        assert_contiguous(grouped[source_of(namespace, "p")])


# -- two replicas ---------------------------------------------------------------------------


async def leader_of(processes: list[SourceProcess]) -> SourceProcess:
    waiters = {
        asyncio.create_task(p.wait_for_log("became the leader", timeout=60)): p for p in processes
    }
    done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waiters[done.pop()]


async def create_ready(
    cluster: Cluster, namespace: str, sink: RecordingSink, names: list[str]
) -> None:
    for name in names:
        await cluster.create(ping_source(name, sink.url), namespace)
    for name in names:
        await wait_ready(cluster, namespace, name)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "crashed"])
async def test_a_leader_change_neither_misses_nor_repeats_a_tick(
    cluster: Cluster,
    namespace: str,
    sink: RecordingSink,
    kube: KubeCluster,
    lease: str,
    stop: signal.Signals,
) -> None:
    names = ["a", "b", "c"]
    await create_ready(cluster, namespace, sink, names)
    # A PingSource whose sink refuses every connection: its sends stay in retries for seconds,
    # and must not hold back the others' progress on the Lease.
    await cluster.create(ping_source("dead", "http://127.0.0.1:9/"), namespace)
    await wait_ready(cluster, namespace, "dead")
    env = mt_env(kube, lease, PING_CATCHUP_WINDOW="PT1M")
    first, second = SourceProcess("springhead_ping", env), SourceProcess("springhead_ping", env)
    async with first, second:
        leader = await leader_of([first, second])
        standby = second if leader is first else first
        before = len(await sink.wait_for(3 * len(names), timeout=60))
        leader.signal(stop)
        await leader.wait(timeout=60)
        await standby.wait_for_log("became the leader", timeout=60)
        await sink.wait_for(before + 3 * len(names), timeout=60)
    grouped = by_source(sink)
    assert set(grouped) == {source_of(namespace, n) for n in names}
    handover = [
        {k: e.get(k) for k in ("msg", "time", "last_fired_tick", "first", "last", "count")}
        for p in (leader, standby)
        for e in p.logs
        if e.get("msg") in ("leading: firing ticks", "catching up missed ticks")
    ]
    for events in grouped.values():
        try:
            assert_contiguous(events)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; handover: {handover}") from None
    if stop is signal.SIGTERM:
        # Ticks due while the Lease changed hands arrive once, caught up by the new leader.
        assert_once_each(sink)
        return
    # A crash can leave ticks delivered but not yet recorded on the Lease: the new leader sends
    # them again with the same id, marked as caught up, so the sink can tell.
    by_id: dict[str, list[BaseCloudEvent]] = defaultdict(list)
    for event in sink.events:
        by_id[event.get_id()].append(event)
    for same in by_id.values():
        assert len(same) <= 2
        if len(same) == 2:
            assert same[1].get_extension(CATCHUP_EXTENSION) == "true"
