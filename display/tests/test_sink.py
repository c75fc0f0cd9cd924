"""The sink over real HTTP on loopback: binary, structured and batch mode are accepted (202);
malformed requests get 400 (413, 415, 405) and a reason saying what is wrong."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from springhead_testing.conformance import http_binding_cases

if TYPE_CHECKING:
    from conftest import Running


BINARY = {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s", "ce-id": "1"}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
EVENT = {"specversion": "1.0", "type": "t", "source": "/s", "id": "1"}


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


MALFORMED = [
    (
        "plain post",
        {"Content-Type": "text/plain"},
        "hello",
        400,
        "not a CloudEvent: no ce-* headers (binary mode) and Content-Type is not "
        "application/cloudevents+json or application/cloudevents-batch+json",
    ),
    (
        "binary without specversion",
        without(BINARY, "ce-specversion"),
        "",
        400,
        "malformed CloudEvent: attribute specversion: required, and missing",
    ),
    (
        "binary without id",
        without(BINARY, "ce-id"),
        "",
        400,
        "malformed CloudEvent: attribute id: required, and missing",
    ),
    (
        "binary 0.3",
        {**BINARY, "ce-specversion": "0.3"},
        "",
        400,
        "malformed CloudEvent: attribute specversion: '0.3' is not accepted; "
        "Springhead forwards CloudEvents 1.0",
    ),
    (
        "binary time without seconds",
        {**BINARY, "ce-time": "2026-01-01T10:00Z"},
        "",
        400,
        "malformed CloudEvent: attribute time: not an RFC 3339 timestamp "
        "(YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))",
    ),
    (
        "binary empty type",
        {**BINARY, "ce-type": ""},
        "",
        400,
        "malformed CloudEvent: attribute type: must not be empty",
    ),
    (
        "binary extension name",
        {**BINARY, "ce-bad_name": "x"},
        "",
        400,
        "malformed CloudEvent: attribute bad_name: a name must be lower-case letters a-z and "
        "digits 0-9",
    ),
    (
        "binary percent-encoded non-UTF-8",
        {**BINARY, "ce-subject": "%FF"},
        "",
        400,
        "malformed CloudEvent: header ce-subject percent-encodes bytes that are not UTF-8",
    ),
    (
        "structured not JSON",
        STRUCTURED,
        "{",
        400,
        "malformed CloudEvent: body is not JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
    ),
    (
        "structured array",
        STRUCTURED,
        "[]",
        400,
        "malformed CloudEvent: an event must be a JSON object",
    ),
    (
        "structured number id",
        STRUCTURED,
        json.dumps({**EVENT, "id": 1}),
        400,
        "malformed CloudEvent: attribute id: must be a string, not JSON number",
    ),
    (
        "structured object extension",
        STRUCTURED,
        json.dumps({**EVENT, "ext": {"a": 1}}),
        400,
        "malformed CloudEvent: attribute ext: must be a string, a boolean or an integer, "
        "not JSON object",
    ),
    (
        "structured data and data_base64",
        STRUCTURED,
        json.dumps({**EVENT, "data": 1, "data_base64": "AA=="}),
        400,
        "malformed CloudEvent: both data and data_base64 are present",
    ),
    (
        "structured data_base64 not base64",
        STRUCTURED,
        json.dumps({**EVENT, "data_base64": "not base64!"}),
        400,
        "malformed CloudEvent: data_base64 is not RFC 4648 base64",
    ),
    (
        "batch not an array",
        BATCH,
        json.dumps(EVENT),
        400,
        "malformed CloudEvents batch: expected a JSON array of events",
    ),
    (
        "batch with one bad event",
        BATCH,
        json.dumps([EVENT, {**EVENT, "source": None}]),
        400,
        "malformed CloudEvent: event 1 of the batch: attribute source: required, and missing",
    ),
    (
        "unsupported format",
        {"Content-Type": "application/cloudevents+avro"},
        "x",
        415,
        "unsupported CloudEvents format application/cloudevents+avro; send JSON",
    ),
    (
        "body too large",
        BINARY,
        "x" * (64 * 1024 + 1),
        413,
        "body larger than 65536 bytes",
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
async def test_malformed_requests_get_a_status_and_a_reason(
    running: Running, headers: dict[str, str], body: str, status: int, reason: str
) -> None:
    assert await running.post(body, headers) == (status, reason + "\n")
    assert running.display.store.stats().received == 0
    assert running.out.getvalue() == b""


async def test_other_methods_get_405(running: Running) -> None:
    assert await running.post(method="PUT") == (405, "method not allowed\n")


async def test_binary_mode_keeps_data_byte_for_byte(running: Running) -> None:
    body = bytes(range(256))
    headers = {**BINARY, "ce-subject": "a%20b", "Content-Type": "application/octet-stream"}
    assert await running.post(body, headers) == (202, "")
    page = await running.get_json("/api/events")
    assert isinstance(page, dict)
    [event] = page["events"]
    assert event["attributes"] == {
        "specversion": "1.0",
        "type": "t",
        "source": "/s",
        "id": "1",
        "subject": "a b",
        "datacontenttype": "application/octet-stream",
    }
    assert event["data_kind"] == "binary"
    assert base64.b64decode(event["data_base64"]) == body
    assert event["data_size"] == 256


async def test_structured_json_data_and_base64_data(running: Running) -> None:
    event = json.dumps({**EVENT, "data": {"a": [1, "é"]}})
    assert await running.post(event, STRUCTURED) == (202, "")
    raw = base64.b64encode(b"\x00\x01").decode()
    event = json.dumps({**EVENT, "id": "2", "data_base64": raw})
    assert await running.post(event, STRUCTURED) == (202, "")
    page = await running.get_json("/api/events")
    assert isinstance(page, dict)
    second, first = page["events"]
    assert (first["data_kind"], first["data"]) == ("json", {"a": [1, "é"]})
    assert (second["data_kind"], second["data_base64"], second["data_size"]) == ("binary", raw, 2)
    assert running.out.getvalue().decode().count("☁️  cloudevents.Event\n") == 2
    assert b"Data (binary),\n" in running.out.getvalue()


async def test_a_batch_is_shown_in_order_and_an_empty_batch_is_accepted(running: Running) -> None:
    batch = [
        {**EVENT, "id": str(n), "data": f"text {n}", "datacontenttype": "text/plain"}
        for n in range(3)
    ]
    assert await running.post(json.dumps(batch), BATCH) == (202, "")
    assert await running.post("[]", BATCH) == (202, "")
    page = await running.get_json("/api/events")
    assert isinstance(page, dict)
    assert [e["attributes"]["id"] for e in page["events"]] == ["2", "1", "0"]
    assert page["events"][0]["data"] == "text 2"
    ids = [
        line for line in running.out.getvalue().decode().splitlines() if line.startswith("  id: ")
    ]
    assert ids == ["  id: 0", "  id: 1", "  id: 2"]


# --- CloudEvents conformance (HTTP binding) ----------------------------------------------------

DATA = Path(__file__).parent / "data"


CASES = http_binding_cases(DATA / "http-protocol-binding.feature")


def test_the_feature_file_yields_the_four_documented_cases() -> None:
    assert len(CASES) == 4


@pytest.mark.parametrize(("name", "raw", "attributes", "data"), CASES, ids=[c[0] for c in CASES])
async def test_conformance_cases_are_shown_intact(
    running: Running, name: str, raw: str, attributes: dict[str, str], data: object
) -> None:
    head, _, body = raw.partition("\n\n")
    _request_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    for hop in ("Host", "Content-Length"):
        headers.pop(hop, None)
    assert await running.post(body, headers) == (202, "")
    page = await running.get_json("/api/events")
    assert isinstance(page, dict)
    [event] = page["events"]
    for key, value in attributes.items():
        assert event["attributes"][key] == value, key
    assert event["data_kind"] == "json"
    assert event["data"] == data
