"""Spec validation, sink resolution, label selectors and conditions, as pure functions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from springhead_controller.conditions import Conditions, condition_of
from springhead_controller.selectors import (
    SelectionMode,
    SelectorError,
    considered,
    label_matcher,
)
from springhead_controller.spec import (
    Destination,
    InvalidSpec,
    Reference,
    SinkError,
    parse_binding_spec,
    parse_destination,
    resolve_sink,
)
from springhead_testinfra.certs import make_ca

NS = "team-a"


def binding(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": NS}, "spec": spec}


SUBJECT = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
SINK = {"uri": "http://display.example/"}


def test_a_valid_binding_by_name() -> None:
    spec = parse_binding_spec(binding({"subject": SUBJECT, "sink": SINK}))
    assert spec.subject.kind.kind == "Deployment"
    assert spec.subject.namespace == NS
    assert spec.subject.matches("app", {}) and not spec.subject.matches("other", {})
    assert spec.sink == Destination(ref=None, uri="http://display.example/")
    assert spec.ce_overrides == ""


def test_a_valid_binding_by_selector() -> None:
    subject = {"apiVersion": "batch/v1", "kind": "Job", "selector": {"matchLabels": {"app": "x"}}}
    spec = parse_binding_spec(
        binding({"subject": subject, "sink": SINK, "ceOverrides": {"extensions": {"a": "b"}}})
    )
    assert spec.subject.matches("anything", {"app": "x"})
    assert not spec.subject.matches("anything", {"app": "y"})
    assert spec.ce_overrides == '{"extensions":{"a":"b"}}'


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"sink": SINK}, "InvalidSubject", "required"),
        (
            {"subject": {**SUBJECT, "selector": {"matchLabels": {"a": "b"}}}, "sink": SINK},
            "InvalidSubject",
            "both name and selector",
        ),
        (
            {"subject": {"apiVersion": "apps/v1", "kind": "Deployment"}, "sink": SINK},
            "InvalidSubject",
            "a name or a selector",
        ),
        (
            {"subject": {**SUBJECT, "kind": "Pod", "apiVersion": "v1"}, "sink": SINK},
            "InvalidSubject",
            "cannot bind Pod",
        ),
        ({"subject": {**SUBJECT, "namespace": "other"}, "sink": SINK}, "InvalidSubject", "differs"),
        ({"subject": {**SUBJECT, "namespace": "zeta"}, "sink": SINK}, "InvalidSubject", "differs"),
        (
            {"subject": {"apiVersion": "apps/v1", "name": "app"}, "sink": SINK},
            "InvalidSubject",
            "needs apiVersion and kind",
        ),
        (
            {
                "subject": {
                    **SUBJECT,
                    "name": None,
                    "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]},
                },
                "sink": SINK,
            },
            "InvalidSubject",
            "unknown operator",
        ),
        ({"subject": SUBJECT}, "InvalidSink", "ref, a uri"),
        ({"subject": SUBJECT, "sink": {"uri": "/relative"}}, "InvalidSink", "must be absolute"),
        ({"subject": SUBJECT, "sink": {"uri": "urn:display"}}, "InvalidSink", "must be absolute"),
        (
            {"subject": SUBJECT, "sink": {"uri": "//display.example/"}},
            "InvalidSink",
            "must be absolute",
        ),
        (
            {
                "subject": SUBJECT,
                "sink": {
                    "ref": {"apiVersion": "v1", "kind": "Service", "name": "s"},
                    "uri": "http://abs/",
                },
            },
            "InvalidSink",
            "with a ref it must be relative",
        ),
        (
            {"subject": SUBJECT, "sink": {"ref": {"kind": "Service", "name": "s"}}},
            "InvalidSink",
            "apiVersion",
        ),
        ({"subject": SUBJECT, "sink": {**SINK, "CACerts": "not pem"}}, "InvalidSink", "PEM"),
        (
            {"subject": SUBJECT, "sink": SINK, "ceOverrides": {"extensions": {"type": "x"}}},
            "InvalidOverrides",
            "spec attribute",
        ),
        (
            {"subject": SUBJECT, "sink": SINK, "ceOverrides": {"extensions": {"Bad-Name": "x"}}},
            "InvalidOverrides",
            "lowercase",
        ),
    ],
)
def test_invalid_bindings_name_what_is_wrong(spec: dict[str, Any], reason: str, words: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_binding_spec(binding(spec))
    assert caught.value.reason == reason
    assert words in caught.value.message


SERVICE = Reference("v1", "Service", NS, "display")
BROKER = Reference("eventing.knative.dev/v1", "Broker", NS, "default")


def lookup_from(objects: dict[Reference, dict[str, Any]]) -> Any:
    return objects.get


@pytest.mark.parametrize(
    ("sink", "objects", "url", "ca"),
    [
        ({"uri": "http://a.example/x"}, {}, "http://a.example/x", None),
        (
            {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
            {SERVICE: {}},
            "http://display.team-a.svc.cluster.local",
            None,
        ),
        (
            {
                "ref": {"apiVersion": "v1", "kind": "Service", "name": "display"},
                "uri": "/extra/path",
            },
            {SERVICE: {}},
            "http://display.team-a.svc.cluster.local/extra/path",
            None,
        ),
        (
            {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}},
            {BROKER: {"status": {"address": {"url": "http://broker.example/ns/default"}}}},
            "http://broker.example/ns/default",
            None,
        ),
        (
            {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}},
            {
                BROKER: {
                    "status": {
                        "addresses": [{"url": "https://first/", "CACerts": "PEM"}],
                        "address": {"url": "http://second/"},
                    }
                }
            },
            "https://first/",
            "PEM",
        ),
        (
            {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}},
            {
                BROKER: {
                    "status": {"addresses": [{"url": "http://first/"}, {"url": "http://last/"}]}
                }
            },
            "http://first/",
            None,
        ),
        (
            {
                "ref": {
                    "apiVersion": "eventing.knative.dev/v1",
                    "kind": "Broker",
                    "name": "default",
                },
                "uri": "sub/path",
            },
            {BROKER: {"status": {"address": {"url": "http://broker.example/ns/"}}}},
            "http://broker.example/ns/sub/path",
            None,
        ),
    ],
)
def test_sink_resolution(
    sink: dict[str, Any], objects: dict[Reference, dict[str, Any]], url: str, ca: str | None
) -> None:
    resolved = resolve_sink(parse_destination(sink, NS), lookup_from(objects))
    assert (resolved.url, resolved.ca_certs) == (url, ca)


@pytest.mark.parametrize("api_version", ["serving.knative.dev/v1", "widgets.example.com/v1"])
def test_a_service_outside_the_core_group_is_an_addressable(api_version: str) -> None:
    """Only the core ``v1`` Service becomes a cluster DNS name; a Knative Service (or any other
    group's kind named Service) is resolved through its status address."""
    sink = {"ref": {"apiVersion": api_version, "kind": "Service", "name": "display"}}
    ref = Reference(api_version, "Service", NS, "display")
    objects = {ref: {"status": {"address": {"url": "http://display.team-a.example.com"}}}}
    resolved = resolve_sink(parse_destination(sink, NS), lookup_from(objects))
    assert resolved.url == "http://display.team-a.example.com"


@pytest.mark.parametrize("kind", ["ConfigMap", "ServiceAccount"])
def test_a_core_kind_other_than_service_needs_an_address(kind: str) -> None:
    sink = {"ref": {"apiVersion": "v1", "kind": kind, "name": "display"}}
    objects: dict[Reference, dict[str, Any]] = {Reference("v1", kind, NS, "display"): {"data": {}}}
    with pytest.raises(SinkError, match="no address"):
        resolve_sink(parse_destination(sink, NS), lookup_from(objects))


def test_a_reference_names_its_api_group() -> None:
    assert BROKER.group == "eventing.knative.dev"
    assert SERVICE.group == ""


def test_a_binding_read_from_json_binds_its_named_subject_only() -> None:
    """Names and namespaces are compared by value: a binding decoded from the API server's JSON
    holds strings of its own, equal to but not the same objects as the caller's."""
    document = json.dumps(
        binding({"subject": {**SUBJECT, "namespace": NS, "name": "app"}, "sink": SINK})
    )
    spec = parse_binding_spec(json.loads(document))
    assert spec.subject.namespace == NS
    assert spec.subject.matches("".join(["ap", "p"]), {})
    assert not spec.subject.matches("ab", {})  # sorts before "app"
    assert not spec.subject.matches("apps", {})


def test_validated_specs_cannot_be_changed() -> None:
    spec = parse_binding_spec(binding({"subject": SUBJECT, "sink": SINK}))
    resolved = resolve_sink(spec.sink, lookup_from({}))
    values: list[tuple[Any, str]] = [
        (spec, "ce_overrides"),
        (spec.subject, "name"),
        (spec.sink, "uri"),
        (resolved, "url"),
    ]
    for value, attribute in values:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, attribute, "changed")


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real CA certificate (PEM), made with openssl for these tests."""
    ca = make_ca(tmp_path_factory.mktemp("ca"), common_name="sink CA")
    return ca.cert.read_text()


def test_a_service_sink_with_ca_certificates_is_https(pem: str) -> None:
    sink = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}, "CACerts": pem}
    resolved = resolve_sink(parse_destination(sink, NS), lookup_from({SERVICE: {}}))
    assert resolved.url == "https://display.team-a.svc.cluster.local"
    assert resolved.ca_certs == pem


def test_cluster_domain_is_configurable() -> None:
    sink = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}
    resolved = resolve_sink(
        parse_destination(sink, NS), lookup_from({SERVICE: {}}), cluster_domain="corp.internal"
    )
    assert resolved.url == "http://display.team-a.svc.corp.internal"


@pytest.mark.parametrize(
    ("objects", "words"),
    [
        ({}, "not found"),
        ({BROKER: {}}, "no address"),
        ({BROKER: {"status": {"address": {"url": "/no-host"}}}}, "no URL with a host"),
    ],
)
def test_unresolvable_sinks(objects: dict[Reference, dict[str, Any]], words: str) -> None:
    sink = {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}}
    with pytest.raises(SinkError) as caught:
        resolve_sink(parse_destination(sink, NS), lookup_from(objects))
    assert caught.value.reason == "NoAddressable"
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
    ],
)
def test_label_selectors(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert label_matcher(selector)(labels) is matches


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"operator": "Exists"}]},
        {"matchLabels": ["a"]},
    ],
)
def test_invalid_selectors(selector: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        label_matcher(selector)


EXCLUDE = {"bindings.knative.dev/exclude": "true"}
INCLUDE = {"bindings.knative.dev/include": "true"}


@pytest.mark.parametrize(
    ("mode", "object_labels", "namespace_labels", "expected"),
    [
        (SelectionMode.EXCLUSION, {}, {}, True),
        (SelectionMode.EXCLUSION, EXCLUDE, {}, False),
        (SelectionMode.EXCLUSION, {}, EXCLUDE, False),
        (SelectionMode.EXCLUSION, {"bindings.knative.dev/exclude": "false"}, {}, True),
        (SelectionMode.INCLUSION, {}, {}, False),
        (SelectionMode.INCLUSION, INCLUDE, {}, False),
        (SelectionMode.INCLUSION, {}, INCLUDE, False),
        (SelectionMode.INCLUSION, INCLUDE, INCLUDE, True),
    ],
)
def test_include_exclude_labels(
    mode: SelectionMode,
    object_labels: dict[str, str],
    namespace_labels: dict[str, str],
    expected: bool,
) -> None:
    assert considered(mode, object_labels, namespace_labels) is expected


def test_conditions_summarise_into_ready() -> None:
    clock = iter(["t1", "t2", "t3", "t4", "t5", "t6"])
    conditions = Conditions(["B", "A"], now=lambda: next(clock))
    conditions.true("A")
    first = conditions.render()
    assert [c["type"] for c in first] == ["Ready", "A", "B"]
    assert first[0]["status"] == "Unknown" and first[0]["reason"] == "B"
    again = Conditions(["B", "A"], first, now=lambda: "later")
    again.true("A")
    again.false("B", "Broken", "it broke")
    rendered = again.render()
    ready = condition_of({"conditions": rendered}, "Ready")
    assert ready is not None
    assert ready["status"] == "False" and ready["reason"] == "Broken"
    assert ready["message"] == "it broke"
    a = condition_of({"conditions": rendered}, "A")
    assert a is not None and a["lastTransitionTime"] == first[1]["lastTransitionTime"]
    assert ready["lastTransitionTime"] == "later"
