"""SinkBinding against a real kube-apiserver, with the controller running: every subject kind by
name and by selector, every kind of sink, changes on every side, deletion, validation, labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from springhead_controller.controller import Controller
from springhead_controller.sinkbindings import FINALIZER
from springhead_testing.kube import custom_resource_definition

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.usefixtures("controller")

SB = "SinkBinding"
SINK_URL = "http://display.example.com/events"
KINDS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
MUTABLE_KINDS = [k for k in KINDS if k != "Job"]


def pod_template(app: str, *, restart: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "initContainers": [{"name": "setup", "image": "registry.example/setup:1"}],
        "containers": [
            {
                "name": "main",
                "image": "registry.example/app:1",
                "env": [{"name": "KEEP", "value": "me"}],
            },
            {"name": "sidecar", "image": "registry.example/side:1"},
        ],
    }
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


def workload(kind: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata = {"name": name, "labels": labels or {}}
    selector = {"matchLabels": {"app": name}}
    spec: dict[str, Any]
    if kind == "Job":
        spec = {"template": pod_template(name, restart="Never")}
    elif kind == "CronJob":
        spec = {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": pod_template(name, restart="Never")}},
        }
    else:
        spec = {"selector": selector, "template": pod_template(name)}
        if kind == "StatefulSet":
            spec["serviceName"] = name
    return {"apiVersion": KINDS[kind], "kind": kind, "metadata": metadata, "spec": spec}


def sink_binding(
    name: str, subject: dict[str, Any], sink: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": SB,
        "metadata": {"name": name},
        "spec": {"subject": subject, "sink": sink or {"uri": SINK_URL}, **spec},
    }


def named(kind: str, name: str) -> dict[str, Any]:
    """A SinkBinding subject: the ``kind`` object called ``name``."""
    return {"apiVersion": KINDS[kind], "kind": kind, "name": name}


def labelled(kind: str, **labels: str) -> dict[str, Any]:
    """A SinkBinding subject: every ``kind`` object carrying these labels."""
    return {"apiVersion": KINDS[kind], "kind": kind, "selector": {"matchLabels": labels}}


def bound(sink: str, overrides: str = "", **extra: str) -> dict[str, dict[str, str]]:
    values = {"K_SINK": sink, "K_CE_OVERRIDES": overrides, **extra}
    return {"setup": values, "main": values, "sidecar": values}


UNBOUND: dict[str, dict[str, str]] = {"setup": {}, "main": {}, "sidecar": {}}


async def wait_status(cluster: Cluster, namespace: str, name: str, field: str, value: str) -> None:
    async def check() -> bool:
        binding = await cluster.get("sources.knative.dev/v1", SB, namespace, name)
        return ((binding or {}).get("status") or {}).get(field) == value

    await cluster.eventually(check, f"status.{field} of {name} to be {value!r}")


async def wait_deleted(cluster: Cluster, namespace: str, name: str) -> None:
    """Wait until the SinkBinding is gone (its finalizer ran)."""

    async def gone() -> bool:
        return await cluster.get("sources.knative.dev/v1", SB, namespace, name) is None

    await cluster.eventually(gone, f"SinkBinding {name} to be deleted once its finalizer ran")


async def wait_injected(
    cluster: Cluster, kind: str, namespace: str, name: str, expected: dict[str, Any]
) -> None:
    async def check() -> bool:
        return await cluster.injected(KINDS[kind], kind, namespace, name) == expected

    await cluster.eventually(check, f"{kind} {name} to carry {expected}")


@pytest.mark.parametrize("kind", MUTABLE_KINDS)
async def test_bind_by_name(cluster: Cluster, namespace: str, kind: str) -> None:
    await cluster.create(workload(kind, "app"), namespace)
    overrides = {"extensions": {"team": "blue", "additional": 42}}
    subject = named(kind, "app")
    await cluster.create(sink_binding("bind", subject, ceOverrides=overrides), namespace)
    expected_overrides = '{"extensions":{"additional":"42","team":"blue"}}'
    await wait_injected(cluster, kind, namespace, "app", bound(SINK_URL, expected_overrides))
    ready = await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
    assert ready["lastTransitionTime"]
    binding = await cluster.get("sources.knative.dev/v1", SB, namespace, "bind")
    assert binding is not None
    assert binding["status"]["sinkUri"] == SINK_URL
    assert binding["status"]["observedGeneration"] == binding["metadata"]["generation"]
    assert FINALIZER in binding["metadata"]["finalizers"]
    conditions = {c["type"]: c["status"] for c in binding["status"]["conditions"]}
    assert conditions == {"Ready": "True", "SinkBindingAvailable": "True", "SinkProvided": "True"}
    obj = await cluster.get(KINDS[kind], kind, namespace, "app")
    assert obj is not None
    env = json.dumps(obj)
    assert '{"name": "KEEP", "value": "me"}' in env, "the workload's own variables stay"


@pytest.mark.parametrize("kind", MUTABLE_KINDS)
async def test_bind_by_selector(cluster: Cluster, namespace: str, kind: str) -> None:
    await cluster.create(workload(kind, "one", {"role": "emitter"}), namespace)
    await cluster.create(workload(kind, "two", {"role": "emitter"}), namespace)
    await cluster.create(workload(kind, "other", {"role": "web"}), namespace)
    subject = {
        "apiVersion": KINDS[kind],
        "kind": kind,
        "selector": {
            "matchExpressions": [{"key": "role", "operator": "In", "values": ["emitter"]}]
        },
    }
    await cluster.create(sink_binding("bind", subject), namespace)
    await wait_injected(cluster, kind, namespace, "one", bound(SINK_URL))
    await wait_injected(cluster, kind, namespace, "two", bound(SINK_URL))
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
    assert await cluster.injected(KINDS[kind], kind, namespace, "other") == UNBOUND
    # A subject appearing: created matching, or relabelled to match.
    await cluster.create(workload(kind, "three", {"role": "emitter"}), namespace)
    await wait_injected(cluster, kind, namespace, "three", bound(SINK_URL))
    await cluster.merge_patch(
        KINDS[kind], kind, namespace, "other", {"metadata": {"labels": {"role": "emitter"}}}
    )
    await wait_injected(cluster, kind, namespace, "other", bound(SINK_URL))


@pytest.mark.parametrize("by", ["name", "selector"])
async def test_a_job_cannot_be_patched_and_the_status_says_why(
    cluster: Cluster, namespace: str, by: str
) -> None:
    await cluster.create(workload("Job", "once", {"role": "batch"}), namespace)
    subject = named("Job", "once") if by == "name" else labelled("Job", role="batch")
    await cluster.create(sink_binding("bind", subject), namespace)
    failed = await cluster.wait_condition(
        SB, namespace, "bind", "SinkBindingAvailable", "False", "BindingFailed"
    )
    assert "Job once: a Job's pod template cannot change" in failed["message"]
    assert await cluster.injected("batch/v1", "Job", namespace, "once") == UNBOUND


async def test_a_job_selector_binds_the_cronjobs_creating_such_jobs(
    cluster: Cluster, namespace: str
) -> None:
    cronjob = await cluster.create(workload("CronJob", "nightly"), namespace)
    cronjob = await cluster.merge_patch(
        "batch/v1", "CronJob", namespace, "nightly",
        {"spec": {"jobTemplate": {"metadata": {"labels": {"app": "heartbeat"}}}}},
    )  # fmt: skip
    other = workload("CronJob", "unrelated")
    await cluster.create(other, namespace)
    # A Job the CronJob created earlier (no controller-manager runs here: the test makes it).
    job = workload("Job", "nightly-29000000", {"app": "heartbeat"})
    job["metadata"]["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
         "uid": cronjob["metadata"]["uid"], "controller": True},
    ]  # fmt: skip
    await cluster.create(job, namespace)
    await cluster.create(sink_binding("bind", labelled("Job", app="heartbeat")), namespace)
    await wait_injected(cluster, "CronJob", namespace, "nightly", bound(SINK_URL))
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
    assert await cluster.injected("batch/v1", "CronJob", namespace, "unrelated") == UNBOUND
    assert await cluster.injected("batch/v1", "Job", namespace, "nightly-29000000") == UNBOUND
    await cluster.delete("sources.knative.dev/v1", SB, namespace, "bind")
    await wait_injected(cluster, "CronJob", namespace, "nightly", UNBOUND)


async def test_a_job_created_bound_counts_as_bound(cluster: Cluster, namespace: str) -> None:
    job = workload("Job", "ready-made")
    variables = [{"name": "K_SINK", "value": SINK_URL}, {"name": "K_CE_OVERRIDES", "value": ""}]
    for container in job["spec"]["template"]["spec"]["containers"]:
        container["env"] = [*container.get("env", []), *variables]
    for container in job["spec"]["template"]["spec"]["initContainers"]:
        container["env"] = variables
    await cluster.create(job, namespace)
    await cluster.create(sink_binding("bind", named("Job", "ready-made")), namespace)
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")


async def test_sink_is_a_service_possibly_with_a_path(cluster: Cluster, namespace: str) -> None:
    await cluster.create(workload("Deployment", "app"), namespace)
    await cluster.create(workload("Deployment", "api"), namespace)
    ref = {"apiVersion": "v1", "kind": "Service", "name": "display"}
    await cluster.create(
        sink_binding("plain", named("Deployment", "app"), {"ref": ref}),
        namespace,
    )
    missing = await cluster.wait_condition(
        SB, namespace, "plain", "SinkProvided", "False", "NoAddressable"
    )
    assert "not found" in missing["message"]
    assert await cluster.injected("apps/v1", "Deployment", namespace, "app") == UNBOUND
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "display"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "display"}},
    }
    await cluster.create(service, namespace)
    url = f"http://display.{namespace}.svc.cluster.local"
    await wait_injected(cluster, "Deployment", namespace, "app", bound(url))
    await cluster.create(
        sink_binding(
            "with-path",
            named("Deployment", "api"),
            {"ref": ref, "uri": "/extra/path"},
        ),
        namespace,
    )
    await wait_injected(cluster, "Deployment", namespace, "api", bound(url + "/extra/path"))
    await wait_status(cluster, namespace, "with-path", "sinkUri", url + "/extra/path")


ADDRESS_STATUS = {
    "type": "object",
    "properties": {"address": {"type": "object", "properties": {"url": {"type": "string"}}}},
}
ADDRESSABLE_CRD = custom_resource_definition(
    "test.springhead.dev", "EventDisplay", plural="eventdisplays", status=ADDRESS_STATUS
)


async def test_sink_is_a_custom_addressable_appearing_later_and_moving(
    cluster: Cluster, namespace: str
) -> None:
    await cluster.ensure_crd(ADDRESSABLE_CRD)
    await cluster.create(workload("Deployment", "app"), namespace)
    ref = {"apiVersion": "test.springhead.dev/v1", "kind": "EventDisplay", "name": "display"}
    subject = named("Deployment", "app")
    await cluster.create(sink_binding("bind", subject, {"ref": ref}), namespace)
    await cluster.wait_condition(SB, namespace, "bind", "SinkProvided", "False", "NoAddressable")
    display = {
        "apiVersion": "test.springhead.dev/v1",
        "kind": "EventDisplay",
        "metadata": {"name": "display"},
        "spec": {},
    }
    await cluster.create(display, namespace)
    no_address = await cluster.wait_condition(
        SB, namespace, "bind", "SinkProvided", "False", "NoAddressable"
    )
    await cluster.eventually(
        lambda: _message_contains(cluster, namespace, "no address"), "the no-address message"
    )
    assert no_address["status"] == "False"
    first = "http://display-1.example.com/"
    await cluster.publish_address(
        "test.springhead.dev/v1", "EventDisplay", namespace, "display", first
    )
    await wait_injected(cluster, "Deployment", namespace, "app", bound(first))
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
    second = "http://display-2.example.com/in"
    await cluster.publish_address(
        "test.springhead.dev/v1", "EventDisplay", namespace, "display", second
    )
    await wait_injected(cluster, "Deployment", namespace, "app", bound(second))
    await wait_status(cluster, namespace, "bind", "sinkUri", second)


async def _message_contains(cluster: Cluster, namespace: str, words: str) -> bool:
    found = await cluster.condition(SB, namespace, "bind", "SinkProvided")
    return found is not None and words in found.get("message", "")


async def test_deleting_the_binding_removes_exactly_its_variables(
    cluster: Cluster, namespace: str
) -> None:
    await cluster.create(workload("Deployment", "app"), namespace)
    await cluster.create(sink_binding("bind", named("Deployment", "app")), namespace)
    await wait_injected(cluster, "Deployment", namespace, "app", bound(SINK_URL))
    await cluster.delete("sources.knative.dev/v1", SB, namespace, "bind")
    await wait_injected(cluster, "Deployment", namespace, "app", UNBOUND)
    await wait_deleted(cluster, namespace, "bind")
    deployment = await cluster.get("apps/v1", "Deployment", namespace, "app")
    assert deployment is not None
    main = deployment["spec"]["template"]["spec"]["containers"][0]
    assert main["env"] == [{"name": "KEEP", "value": "me"}]


async def test_a_vanished_subject_does_not_block_deletion(cluster: Cluster, namespace: str) -> None:
    await cluster.create(workload("StatefulSet", "app"), namespace)
    await cluster.create(sink_binding("bind", named("StatefulSet", "app")), namespace)
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
    await cluster.delete("apps/v1", "StatefulSet", namespace, "app")
    await cluster.delete("sources.knative.dev/v1", SB, namespace, "bind")
    await wait_deleted(cluster, namespace, "bind")


async def test_subject_deleted_and_recreated(cluster: Cluster, namespace: str) -> None:
    await cluster.create(workload("Deployment", "app"), namespace)
    await cluster.create(sink_binding("bind", named("Deployment", "app")), namespace)
    await wait_injected(cluster, "Deployment", namespace, "app", bound(SINK_URL))
    await cluster.delete("apps/v1", "Deployment", namespace, "app")
    missing = await cluster.wait_condition(
        SB, namespace, "bind", "SinkBindingAvailable", "False", "SubjectMissing"
    )
    assert '"app" not found' in missing["message"]
    ready = await cluster.wait_condition(SB, namespace, "bind", "Ready", "False", "SubjectMissing")
    assert ready["status"] == "False"
    await cluster.create(workload("Deployment", "app"), namespace)
    await wait_injected(cluster, "Deployment", namespace, "app", bound(SINK_URL))
    await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")


async def test_stripped_variables_are_restored(cluster: Cluster, namespace: str) -> None:
    await cluster.create(workload("DaemonSet", "app"), namespace)
    await cluster.create(sink_binding("bind", named("DaemonSet", "app")), namespace)
    await wait_injected(cluster, "DaemonSet", namespace, "app", bound(SINK_URL))
    await cluster.json_patch(
        "apps/v1", "DaemonSet", namespace, "app",
        [
            {"op": "remove", "path": "/spec/template/spec/containers/1/env"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/env",
             "value": [{"name": "KEEP", "value": "me"}, {"name": "K_SINK", "value": "http://evil/"}]},
        ],
    )  # fmt: skip
    await wait_injected(cluster, "DaemonSet", namespace, "app", bound(SINK_URL))


async def test_binding_changes_reach_the_subjects(cluster: Cluster, namespace: str) -> None:
    await cluster.create(workload("CronJob", "nightly"), namespace)
    await cluster.create(sink_binding("bind", named("CronJob", "nightly")), namespace)
    await wait_injected(cluster, "CronJob", namespace, "nightly", bound(SINK_URL))
    moved = "http://elsewhere.example.com/"
    await cluster.merge_patch(
        "sources.knative.dev/v1", SB, namespace, "bind",
        {"spec": {"sink": {"uri": moved}, "ceOverrides": {"extensions": {"env": "prod"}}}},
    )  # fmt: skip
    await wait_injected(
        cluster, "CronJob", namespace, "nightly", bound(moved, '{"extensions":{"env":"prod"}}')
    )
    await cluster.merge_patch(
        "sources.knative.dev/v1", SB, namespace, "bind", {"spec": {"ceOverrides": None}}
    )
    await wait_injected(cluster, "CronJob", namespace, "nightly", bound(moved))


async def test_ca_certificates_of_the_sink_are_injected(cluster: Cluster, namespace: str) -> None:
    pem = cluster.kube.ca_file.read_text()
    await cluster.create(workload("ReplicaSet", "app"), namespace)
    subject = named("ReplicaSet", "app")
    sink = {"uri": "https://secure.example.com/", "CACerts": pem}
    await cluster.create(sink_binding("bind", subject, sink), namespace)
    await wait_injected(
        cluster,
        "ReplicaSet",
        namespace,
        "app",
        bound("https://secure.example.com/", K_CA_CERTS=pem),
    )
    await wait_status(cluster, namespace, "bind", "sinkCACerts", pem)


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "name and selector",
        {
            "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app",
                        "selector": {"matchLabels": {"app": "app"}}},
            "sink": {"uri": SINK_URL},
        },
        "SinkBindingAvailable",
        "InvalidSubject",
    ),
    (
        "absolute uri with a ref",
        {
            "subject": named("Deployment", "app"),
            "sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "s"},
                     "uri": "http://absolute.example.com/"},
        },
        "SinkProvided",
        "InvalidSink",
    ),
    (
        "unknown kind",
        {"subject": {"apiVersion": "v1", "kind": "Pod", "name": "app"}, "sink": {"uri": SINK_URL}},
        "SinkBindingAvailable",
        "InvalidSubject",
    ),
    (
        "override of a spec attribute",
        {
            "subject": named("Deployment", "app"),
            "sink": {"uri": SINK_URL},
            "ceOverrides": {"extensions": {"source": "elsewhere"}},
        },
        "SinkBindingAvailable",
        "InvalidOverrides",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "condition", "reason"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
async def test_invalid_bindings_patch_nothing_and_say_why(
    cluster: Cluster, namespace: str, spec: dict[str, Any], condition: str, reason: str
) -> None:
    await cluster.create(workload("Deployment", "app"), namespace)
    obj = {
        "apiVersion": "sources.knative.dev/v1",
        "kind": SB,
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    await cluster.create(obj, namespace)
    found = await cluster.wait_condition(SB, namespace, "bad", condition, "False", reason)
    assert found["message"]
    ready = await cluster.condition(SB, namespace, "bad", "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == reason
    assert await cluster.injected("apps/v1", "Deployment", namespace, "app") == UNBOUND
    binding = await cluster.get("sources.knative.dev/v1", SB, namespace, "bad")
    assert binding is not None and not binding["metadata"].get("finalizers")


EXCLUDE = {"bindings.knative.dev/exclude": "true"}
INCLUDE = {"bindings.knative.dev/include": "true"}


async def test_excluded_objects_and_namespaces_are_left_alone(
    cluster: Cluster, namespace: str
) -> None:
    await cluster.create(workload("Deployment", "open", {"tier": "x"}), namespace)
    await cluster.create(workload("Deployment", "closed", {"tier": "x", **EXCLUDE}), namespace)
    await cluster.create(sink_binding("all", labelled("Deployment", tier="x")), namespace)
    await wait_injected(cluster, "Deployment", namespace, "open", bound(SINK_URL))
    await cluster.wait_condition(SB, namespace, "all", "Ready", "True")
    assert await cluster.injected("apps/v1", "Deployment", namespace, "closed") == UNBOUND
    await cluster.create(sink_binding("named", named("Deployment", "closed")), namespace)
    excluded = await cluster.wait_condition(
        SB, namespace, "named", "SinkBindingAvailable", "False", "SubjectExcluded"
    )
    assert "bindings.knative.dev/exclude" in excluded["message"]
    # Excluding the whole namespace later: nothing new is bound there.
    await cluster.merge_patch("v1", "Namespace", None, namespace, {"metadata": {"labels": EXCLUDE}})
    await cluster.create(sink_binding("probe", named("Deployment", "open")), namespace)
    await cluster.wait_condition(
        SB, namespace, "probe", "SinkBindingAvailable", "False", "SubjectExcluded"
    )  # the controller has seen the namespace's label
    await cluster.create(workload("Deployment", "late", {"tier": "x"}), namespace)
    await cluster.create(sink_binding("late", named("Deployment", "late")), namespace)
    await cluster.wait_condition(
        SB, namespace, "late", "SinkBindingAvailable", "False", "SubjectExcluded"
    )
    await cluster.wait_condition(SB, namespace, "all", "Ready", "True")
    assert await cluster.injected("apps/v1", "Deployment", namespace, "late") == UNBOUND


async def test_inclusion_mode_binds_only_included_objects_in_included_namespaces(
    cluster: Cluster,
    namespace: str,
    controller: Controller,
    start_controller: Callable[..., Any],
) -> None:
    await controller.stop()  # the default (exclusion-mode) controller of this test stops
    async with start_controller(SINK_BINDING_SELECTION_MODE="inclusion"):
        await cluster.create(workload("Deployment", "in", {"tier": "x", **INCLUDE}), namespace)
        await cluster.create(workload("Deployment", "out", {"tier": "x"}), namespace)
        await cluster.create(sink_binding("bind", labelled("Deployment", tier="x")), namespace)
        await cluster.wait_condition(SB, namespace, "bind", "Ready", "True")
        assert await cluster.injected("apps/v1", "Deployment", namespace, "in") == UNBOUND
        await cluster.merge_patch(
            "v1", "Namespace", None, namespace, {"metadata": {"labels": INCLUDE}}
        )
        await wait_injected(cluster, "Deployment", namespace, "in", bound(SINK_URL))
        assert await cluster.injected("apps/v1", "Deployment", namespace, "out") == UNBOUND
