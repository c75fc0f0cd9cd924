"""The PingSource spec as the environment, the controller and the multi-tenant ping read it
(pure: no process, no API server)."""

from __future__ import annotations

from typing import Any

import pytest
from springhead_ping.multitenant import ping_target
from springhead_ping.spec import PingSpecError, parse_ping_spec


def test_defaults_and_payloads() -> None:
    spec = parse_ping_spec()
    assert spec.schedule.expression == "* * * * *"
    assert spec.payload is None and spec.content_type == ""
    assert parse_ping_spec(data="x").payload == b"x"
    assert parse_ping_spec(data_base64="AAE=").payload == b"\x00\x01"


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"schedule": "@every 1m"}, "schedule", "unknown descriptor"),
        ({"timezone": "Nowhere/Land"}, "timezone", "unknown time zone"),
        ({"data": "x", "data_base64": "eA=="}, "dataBase64", "data and dataBase64 cannot both"),
        ({"data_base64": "%%"}, "dataBase64", "not valid base64"),
        ({"content_type": "application/json", "data": "1"}, "data", "contentType is application"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(PingSpecError) as caught:
        parse_ping_spec(**spec)
    assert caught.value.field == field
    assert words in caught.value.reason


def source(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "p",
            "creationTimestamp": "2026-12-03T05:00:00Z",
        },
        "spec": {"schedule": "* * * * * *", **spec},
        "status": status
        if status is not None
        else {"sinkUri": "http://sink/", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_a_ready_pingsource_is_a_target_with_its_sink_namespace_and_overrides() -> None:
    target = ping_target(
        source(data="d", contentType="text/plain", ceOverrides={"extensions": {"a": True, "n": 2}})
    )
    assert target is not None
    assert target.source == "/apis/v1/namespaces/ns/pingsources/p"
    assert target.sink.sink == "http://sink/" and target.sink.namespace == "ns"
    assert dict(target.sink.overrides) == {"a": "true", "n": "2"}
    assert target.spec.payload == b"d" and target.spec.content_type == "text/plain"
    assert target.created is not None and target.created.isoformat() == "2026-12-03T05:00:00+00:00"
    same = ping_target(
        source(data="d", contentType="text/plain", ceOverrides={"extensions": {"n": 2, "a": True}})
    )
    assert same is not None and same.identity == target.identity
    other = ping_target(source(data="e", contentType="text/plain"))
    assert other is not None and other.identity != target.identity


@pytest.mark.parametrize(
    "obj",
    [
        source({"sinkUri": "http://sink/", "conditions": [{"type": "Ready", "status": "False"}]}),
        source({"conditions": [{"type": "Ready", "status": "True"}]}),
        source({}),
        source(schedule="not a schedule"),
    ],
    ids=["not-ready", "no-sink-uri", "no-status", "invalid-spec"],
)
def test_pingsources_that_must_not_fire_are_no_target(obj: dict[str, Any]) -> None:
    assert ping_target(obj) is None
