"""springhead.httpbinding: the HTTP binding's decoding that the HTTP source and the display share
(each also tests it end to end through a real process)."""

from __future__ import annotations

from typing import Any

import pytest
from springhead.httpbinding import (
    MalformedEvent,
    binary_attributes,
    envelope,
    json_body,
    media_type,
)

BASE = {"specversion": "1.0", "id": "1", "type": "t", "source": "/s"}


def test_binary_attributes_are_percent_decoded_and_checked() -> None:
    ce = {**BASE, "subject": "caf%C3%A9 %2F x"}
    got = binary_attributes(ce, "application/json; charset=utf-8")
    assert got == {
        **BASE,
        "subject": "café / x",
        "datacontenttype": "application/json; charset=utf-8",
    }
    assert "datacontenttype" not in binary_attributes(BASE, None)


@pytest.mark.parametrize(
    ("ce", "reason"),
    [
        ({**BASE, "subject": "%FF"}, "header ce-subject percent-encodes bytes that are not UTF-8"),
        ({**BASE, "time": "yesterday"}, "malformed CloudEvent: attribute time"),
        ({k: v for k, v in BASE.items() if k != "id"}, "attribute id: required, and missing"),
    ],
)
def test_bad_binary_attributes_say_why(ce: dict[str, str], reason: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        binary_attributes(ce, None)
    assert reason in caught.value.reason
    assert caught.value.status == 400


def test_an_envelope_splits_attributes_and_data() -> None:
    plain = envelope({**BASE, "data": {"a": 1}})
    assert (plain.attributes, plain.data, plain.data_base64, plain.has_data) == (
        BASE,
        {"a": 1},
        None,
        True,
    )
    encoded = envelope({**BASE, "data_base64": "AAEC"})
    assert (encoded.data, encoded.data_base64, encoded.has_data) == (None, b"\x00\x01\x02", True)
    empty = envelope(BASE)
    assert (empty.data, empty.data_base64, empty.has_data) == (None, None, False)
    assert envelope({**BASE, "data": None}).has_data is True


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "an event must be a JSON object"),
        ({**BASE, "data": 1, "data_base64": "AA=="}, "both data and data_base64 are present"),
        ({**BASE, "data_base64": 5}, "data_base64 must be a string"),
        ({**BASE, "data_base64": "not base64!"}, "data_base64 is not RFC 4648 base64"),
        ({**BASE, "specversion": "0.3"}, "CloudEvents 1.0"),
    ],
)
def test_bad_envelopes_say_why_and_where(value: Any, reason: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        envelope(value, "event 2 of the batch: ")
    assert caught.value.reason.startswith("malformed CloudEvent: event 2 of the batch: ")
    assert reason in caught.value.reason


def test_json_bodies_and_media_types() -> None:
    assert json_body(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(MalformedEvent, match="body is not JSON"):
        json_body(b"{")
    with pytest.raises(MalformedEvent, match="body is not JSON"):
        json_body(b"\xff")
    assert media_type(" Application/CloudEvents+JSON ; charset=utf-8") == (
        "application/cloudevents+json"
    )
    assert media_type(None) == ""
