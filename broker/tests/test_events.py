"""What the broker does to an event on the way in (pure): decoding, arrival time, the TTL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from springhead.events import validated_event
from springhead.httpbinding import MalformedEvent
from springhead_broker.events import (
    ARRIVAL_TIME,
    MAX_TTL,
    TTL,
    LoopExhausted,
    admit,
    decode_event,
    for_subscriber,
    with_ttl,
)

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


def event(**extensions: object) -> object:
    return validated_event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t",
                            **extensions}, b"x")  # fmt: skip


def test_binary_data_is_kept_byte_for_byte() -> None:
    decoded = decode_event({**BINARY, "content-type": "text/plain"}, b"\xffraw")
    assert decoded.get_data() == b"\xffraw"
    assert decoded.get_attributes()["datacontenttype"] == "text/plain"


def test_binary_attributes_are_percent_decoded() -> None:
    decoded = decode_event({**BINARY, "ce-subject": "a%20b"}, b"")
    assert decoded.get_subject() == "a b"


def test_structured_json_data_gets_its_content_type() -> None:
    body = b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {"a": 1}}'
    decoded = decode_event({"content-type": "application/cloudevents+json"}, body)
    assert decoded.get_data() == {"a": 1}
    assert decoded.get_attributes()["datacontenttype"] == "application/json"


@pytest.mark.parametrize(
    "headers, body, reason",
    [
        ({}, b"", "not a CloudEvent"),
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        ({**BINARY, "ce-specversion": "2.0"}, b"", "specversion"),
        ({"content-type": "application/cloudevents-batch+json"}, b"[]", "batch"),
        ({"content-type": "application/cloudevents+json"}, b"1", "JSON object"),
    ],
)
def test_what_is_not_one_cloudevent_is_refused(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode_event(headers, body)


def test_admit_stamps_the_arrival_and_starts_the_ttl() -> None:
    now = datetime(2026, 12, 3, 5, 0, 1, 250000, tzinfo=UTC)
    admitted = admit(event(), now).get_attributes()
    assert admitted[ARRIVAL_TIME] == "2026-12-03T05:00:01.250000Z"
    assert admitted[TTL] == MAX_TTL


@pytest.mark.parametrize("ttl, left", [(255, 254), ("10", 9), (2, 1)])
def test_admit_decrements_a_ttl(ttl: object, left: int) -> None:
    assert admit(event(knativebrokerttl=ttl)).get_attributes()[TTL] == left


@pytest.mark.parametrize("ttl", [1, 0, -3, "x"])
def test_admit_refuses_an_exhausted_or_unreadable_ttl(ttl: object) -> None:
    with pytest.raises(LoopExhausted, match=TTL):
        admit(event(knativebrokerttl=ttl))


def test_the_subscriber_does_not_see_the_ttl_and_the_reply_gets_it_back() -> None:
    sent, ttl = for_subscriber(event(knativebrokerttl=17))
    assert TTL not in sent.get_attributes() and ttl == 17
    assert with_ttl(event(), ttl).get_attributes()[TTL] == 17
    plain = event()
    assert for_subscriber(plain) == (plain, None)
    assert with_ttl(plain, None) is plain


def test_a_loop_ends_after_max_ttl_rounds() -> None:
    current = admit(event())
    rounds = 1
    while True:
        sent, ttl = for_subscriber(current)
        try:
            current = admit(with_ttl(sent, ttl))
        except LoopExhausted:
            break
        rounds += 1
    assert rounds == MAX_TTL
