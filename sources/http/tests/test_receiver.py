"""The HTTP source's pure request -> events mapping."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.v1.event import CloudEvent
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from springhead.config import load_settings
from springhead.webhook import Rejection, WebhookRequest
from springhead_http.adapter import http_receiver
from springhead_http.config import HttpSettings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def receive(headers: dict[str, str], body: bytes, **env: str):  # type: ignore[no-untyped-def]
    settings = load_settings(
        HttpSettings, {"K_SINK": "http://sink/", "NAMESPACE": "ns", "NAME": "hooks", **env}
    )
    return http_receiver(settings)(WebhookRequest("POST", "/", headers, body))


def test_plain_body_becomes_an_event_byte_for_byte() -> None:
    body = b'{ "spaced" :  true,\n "k": [1,2] }'
    [event] = receive({"Content-Type": "application/json; charset=utf-8"}, body)
    assert event.get_type() == "dev.springhead.sources.http"
    assert event.get_source() == "/apis/v1/namespaces/ns/httpsources/hooks"
    assert event.get_datacontenttype() == "application/json; charset=utf-8"
    assert event.get_data() == body
    assert event.get_time() is not None


def test_configured_type_and_source() -> None:
    [event] = receive({}, b"x", HTTP_EVENT_TYPE="com.example.order", HTTP_EVENT_SOURCE="shop")
    assert (event.get_type(), event.get_source()) == ("com.example.order", "shop")
    assert event.get_datacontenttype() is None


def test_idempotency_key_gives_a_stable_id() -> None:
    first = receive({"Idempotency-Key": "order-17"}, b"x")[0]
    again = receive({"idempotency-key": "order-17"}, b"x")[0]
    other = receive({}, b"x")[0]
    assert first.get_id() == again.get_id() == "order-17"
    assert other.get_id() != "order-17"
    [custom] = receive({"X-Request-Id": "r-1"}, b"x", HTTP_IDEMPOTENCY_HEADER="X-Request-Id")
    assert custom.get_id() == "r-1"


def test_mapped_headers_and_trace_context_become_extensions() -> None:
    headers = {
        "X-Tenant": "acme",
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "Authorization": "Bearer secret",
    }
    [event] = receive(headers, b"x", HTTP_HEADER_EXTENSIONS="X-Tenant=tenant")
    attributes = event.get_attributes()
    assert attributes["tenant"] == "acme"
    assert attributes["traceparent"] == TRACEPARENT
    assert attributes["tracestate"] == "vendor=1"
    assert "secret" not in json.dumps({k: str(v) for k, v in attributes.items()})


def test_binary_cloudevent_forwarded_as_is() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e1",
        "ce-type": "t",
        "ce-source": "/s",
        "ce-subject": "a%20b",
        "ce-myext": "v",
        "Content-Type": "application/json",
    }
    [event] = receive(headers, b'{ "raw" : 1 }')
    attributes = event.get_attributes()
    assert attributes == {
        "specversion": "1.0",
        "id": "e1",
        "type": "t",
        "source": "/s",
        "subject": "a b",
        "myext": "v",
        "datacontenttype": "application/json",
    }
    assert event.get_data() == b'{ "raw" : 1 }'


def test_structured_cloudevent() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "e2",
        "type": "t",
        "source": "/s",
        "datacontenttype": "text/plain",
        "data": "hello",
    }
    [event] = receive(
        {"Content-Type": "application/cloudevents+json; charset=utf-8"},
        json.dumps(envelope).encode(),
    )
    assert event.get_id() == "e2" and event.get_data() == "hello"
    assert "time" not in event.get_attributes()


def test_structured_json_data_without_content_type_is_json() -> None:
    envelope = {"specversion": "1.0", "id": "e3", "type": "t", "source": "/s", "data": {"a": 1}}
    [event] = receive(
        {"Content-Type": "application/cloudevents+json"}, json.dumps(envelope).encode()
    )
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == {"a": 1}


def test_batch() -> None:
    batch = [
        {"specversion": "1.0", "id": "b1", "type": "t", "source": "/s"},
        {"specversion": "1.0", "id": "b2", "type": "t", "source": "/s", "data_base64": "AAE="},
    ]
    events = receive(
        {"Content-Type": "application/cloudevents-batch+json"}, json.dumps(batch).encode()
    )
    assert [e.get_id() for e in events] == ["b1", "b2"]
    assert events[1].get_data() == b"\x00\x01"


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, b"", 400, "id"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b"", 400, "type"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"}, b"", 400, "source"),
        (
            {"ce-specversion": "9.9", "ce-id": "1", "ce-type": "t", "ce-source": "/s"},
            b"",
            400,
            "specversion",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-type": "t",
                "ce-source": "/s",
                "ce-Bad_Name": "x",
            },
            b"",
            400,
            "bad_name",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-type": "t",
                "ce-source": "/s",
                "ce-time": "yesterday",
            },
            b"",
            400,
            "malformed",
        ),
        ({"Content-Type": "application/cloudevents+json"}, b"{nope", 400, "not JSON"),
        ({"Content-Type": "application/cloudevents+json"}, b"[1]", 400, "JSON object"),
        (
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion":"1.0","id":"1","type":"t"}',
            400,
            "source",
        ),
        (
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion":"1.0","id":"1","type":"t","source":"/s","data":1,"data_base64":"AA=="}',
            400,
            "both data and data_base64",
        ),
        ({"Content-Type": "application/cloudevents-batch+json"}, b'{"a":1}', 400, "JSON array"),
        ({"Content-Type": "application/cloudevents-batch+json"}, b"[1, 2]", 400, "JSON object"),
        ({"Content-Type": "application/cloudevents+avro"}, b"x", 415, "unsupported"),
    ],
)
def test_malformed_cloudevents_are_rejected(
    headers: dict[str, str], body: bytes, status: int, reason: str
) -> None:
    with pytest.raises(Rejection) as caught:
        receive(headers, body)
    assert caught.value.status == status
    assert reason in caught.value.reason


# --- plain events are built without the SDK's validation: they must always pass it ----------------

_HEADER_VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from([" ", "\t", "text/plain", "application/json; charset=utf-8", "\udcff"]),
)


@settings(max_examples=300, deadline=None)
@given(
    key=_HEADER_VALUES,
    content_type=_HEADER_VALUES,
    traceparent=_HEADER_VALUES,
    tenant=_HEADER_VALUES,
    body=st.binary(max_size=16),
    event_source=st.text(max_size=8),
)
def test_plain_events_pass_the_sdks_validation(
    key: str | None,
    content_type: str | None,
    traceparent: str | None,
    tenant: str | None,
    body: bytes,
    event_source: str,
) -> None:
    assume(not _media(content_type).startswith("application/cloudevents"))
    given_headers = {
        "Idempotency-Key": key,
        "Content-Type": content_type,
        "traceparent": traceparent,
        "X-Tenant": tenant,
    }
    headers = {name: value for name, value in given_headers.items() if value is not None}
    undecodable = [name for name, value in headers.items() if "\udcff" in value]
    # not a String by the spec (control characters), or not a media type: refused too
    # (a key of white space alone is no key: the id is then a UUID)
    not_text = [
        name
        for name, value in headers.items()
        if any(ord(c) < 32 for c in (value.strip() if name == "Idempotency-Key" else value))
    ]
    try:
        [event] = receive(
            headers,
            body,
            HTTP_EVENT_SOURCE=event_source,
            HTTP_HEADER_EXTENSIONS="X-Tenant=tenant",
        )
    except Rejection as rejection:  # bytes that are not UTF-8 never reach an event
        assert rejection.status == 400
        named = rejection.reason.lower()
        assert named.startswith("header"), named  # the reason names the header, and the rule
        rules = ("is not valid utf-8", "is not an allowable character", "media type")
        assert any(rule in named for rule in rules), named
        return
    assert not undecodable
    assert not not_text
    attributes = dict(event.get_attributes())
    CloudEvent._validate_attribute(attributes)  # raises CloudEventValidationError when invalid
    assert CloudEvent(attributes, body or None).get_attributes() == attributes  # nothing defaulted


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()
