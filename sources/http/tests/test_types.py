"""The CloudEvents type system, to the letter: each attribute kind with valid and invalid lexical
forms taken from the spec's text and the RFCs it names, sent through the real HTTP source to the
real sink in both content modes.

Valid values must reach the sink exactly as sent; invalid ones get 400 naming the attribute, and
nothing is forwarded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from springhead_testing import RecordingSink, SourceProcess, adapter_env

BASE = {"specversion": "1.0", "id": "A234-1234-1234", "type": "t", "source": "/s"}

#: (attribute, value) pairs the spec allows; each is sent on top of BASE.
VALID: list[tuple[str, Any]] = [
    # Timestamp, RFC 3339 5.6 and the examples of 5.8; T and Z may be lower case (5.6 NOTE)
    ("time", "2018-04-05T17:31:00Z"),
    ("time", "2018-04-05T17:31:00.000000000Z"),  # fractional seconds kept as sent
    ("time", "1985-04-12T23:20:50.52Z"),
    ("time", "1996-12-19T16:39:57-08:00"),
    ("time", "1990-12-31T23:59:60Z"),  # a leap second
    ("time", "1937-01-01T12:00:27.87+00:20"),
    ("time", "2018-04-05t17:31:00z"),
    ("time", "2000-02-29T00:00:00Z"),
    # datacontenttype, RFC 2046 / RFC 2045 5.1
    ("datacontenttype", "application/json"),
    ("datacontenttype", "text/plain; charset=utf-8"),
    ("datacontenttype", "application/vnd.example.v2+json"),
    ("datacontenttype", 'multipart/form-data; boundary="a b"'),
    ("datacontenttype", "image/png"),
    # source, URI-reference: the spec's own examples (RFC 3986 4.1)
    ("source", "https://github.com/cloudevents"),
    ("source", "mailto:cncf-wg-serverless@lists.cncf.io"),
    ("source", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
    ("source", "cloudevents/spec/pull/123"),
    ("source", "/sensors/tn-1234567/alerts"),
    ("source", "1-555-123-4567"),
    ("source", "/with%20escape?q=1#frag"),
    # dataschema, URI (absolute, RFC 3986 4.3)
    ("dataschema", "https://example.com/schema/v1.json"),
    ("dataschema", "urn:example:schema"),
    # String
    ("subject", "mynewfile.jpg"),
    ("subject", "ünïcödé ☁"),
    ("id", "x"),
    ("type", "com.github.pull_request.opened"),
    # extensions: String, Boolean, Integer (32-bit)
    ("ext", "value"),
    ("ext", True),
    ("ext", False),
    ("ext", 42),
    ("ext", -2147483648),
    ("ext", 2147483647),
    ("averylongextensionname", "a SHOULD, not a MUST: accepted"),
]

#: (attribute, value, the rule the reason names) pairs the spec forbids.
INVALID: list[tuple[str, Any, str]] = [
    ("time", "2018-04-05T17:31Z", "RFC 3339"),  # no seconds
    ("time", "2018-04-05T17:31:00+01", "RFC 3339"),  # offset of hours only
    ("time", "2018-04-05T17:31:00", "RFC 3339"),  # no offset
    ("time", "2018-04-05 17:31:00Z", "RFC 3339"),
    ("time", "2018-13-01T00:00:00Z", "RFC 3339"),
    ("time", "2019-02-29T00:00:00Z", "RFC 3339"),
    ("time", "2018-04-05T24:00:00Z", "RFC 3339"),
    ("time", "", "must not be empty"),
    ("datacontenttype", "json", "RFC 2046"),
    ("datacontenttype", "text/", "RFC 2046"),
    ("datacontenttype", "a b/c", "RFC 2046"),
    ("datacontenttype", "text/plain;", "RFC 2046"),
    ("source", "a b", "URI"),
    ("source", "1x:y", "URI-reference"),
    ("source", "%zz", "URI"),
    ("source", "", "must not be empty"),
    ("dataschema", "relative/path", "absolute URI"),
    ("subject", "", "must not be empty"),
    ("subject", "tab\there", "U+0009"),
    ("id", "\u0000", "U+0000"),
    ("id", "\udcff", "U+DCFF"),  # a lone surrogate, escaped in the JSON text
    ("type", 5, "must be a string"),
    ("specversion", "0.3", "Springhead forwards CloudEvents 1.0"),
    ("specversion", "2.0", "Springhead forwards CloudEvents 1.0"),
    ("ext", 2147483648, "32 bits"),
    ("ext", 1.5, "not JSON number"),
    ("ext", [1], "not JSON array"),
    ("ext", {"a": 1}, "not JSON object"),
    ("Ext", "x", "lower-case"),
    ("ex-t", "x", "lower-case"),
    ("id", None, "required"),  # null is absent, and id is required
]


def _binary_form(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _post(
    session: aiohttp.ClientSession, port: int, event: dict[str, Any]
) -> tuple[int, str]:
    async with session.post(
        f"http://127.0.0.1:{port}/",
        data=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json"},
    ) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_the_type_system_table(sink: RecordingSink, mode: str) -> None:
    env = adapter_env(sink.url, SPRINGHEAD_CONTENT_MODE=mode)
    problems: list[str] = []
    async with SourceProcess("springhead_http", env) as source, aiohttp.ClientSession() as session:
        assert source.port is not None
        for name, value in VALID:
            status, text = await _post(session, source.port, {**BASE, name: value})
            if status != 202:
                problems.append(f"valid {name}={value!r}: {status} {text.strip()}")
                continue
            received = sink.requests[-1]
            if mode == "binary":
                header = "Content-Type" if name == "datacontenttype" else f"ce-{name}"
                sent = received.header(header)
                arrived = sent if name == "datacontenttype" else unquote(sent or "")
                if arrived != _binary_form(value):
                    problems.append(f"valid {name}={value!r} arrived as {sent!r}")
            elif json.loads(received.body).get(name) != value:
                problems.append(f"valid {name}={value!r} arrived as {received.body!r}")
        forwarded = len(sink.requests)
        for name, value, rule in INVALID:
            event = {**BASE, name: value}
            status, text = await _post(session, source.port, event)
            if status != 400 or f"attribute {name}:" not in text or rule not in text:
                problems.append(f"invalid {name}={value!r}: {status} {text.strip()}")
        if len(sink.requests) != forwarded:
            problems.append(f"{len(sink.requests) - forwarded} invalid events were forwarded")
        # null is absent for an optional attribute
        status, text = await _post(session, source.port, {**BASE, "subject": None, "time": None})
        last = sink.requests[-1]
        sent = set(json.loads(last.body)) if mode == "structured" else set(last.headers)
        if status != 202 or {"subject", "time", "ce-subject", "ce-time"} & sent:
            problems.append(f"null optional attributes: {status} {text.strip()}")
    assert problems == []


async def test_binary_input_is_checked_by_the_same_rules(sink: RecordingSink) -> None:
    headers = {f"ce-{k}": v for k, v in BASE.items()}
    async with (
        SourceProcess("springhead_http", adapter_env(sink.url)) as source,
        aiohttp.ClientSession() as session,
    ):
        url = f"http://127.0.0.1:{source.port}/"
        for extra, status in [
            ({"ce-time": "2018-04-05T17:31:00.000000000Z"}, 202),
            ({"ce-time": "2018-04-05T17:31Z"}, 400),
            ({"Content-Type": "json"}, 400),
            ({"ce-subject": "caf%C3%A9"}, 202),  # percent-decoded, as the HTTP binding says
            ({"ce-source": "a%20b"}, 400),  # decoded, a space, which no URI-reference holds
            ({"ce-subject": "%FF"}, 400),  # percent-encodes bytes that are not UTF-8
            ({"ce-specversion": "0.3"}, 400),
        ]:
            async with session.post(url, data=b"x", headers={**headers, **extra}) as response:
                assert response.status == status, (extra, await response.text())
    [first, second] = sink.requests
    assert unquote(first.header("ce-time") or "") == "2018-04-05T17:31:00.000000000Z"
    assert unquote(second.header("ce-subject") or "") == "café"


async def test_a_batch_is_checked_whole(sink: RecordingSink) -> None:
    good = {**BASE, "id": "b1", "time": "2018-04-05T17:31:00.000000000Z"}
    bad = {**BASE, "id": "b2", "time": "2018-04-05T17:31Z"}
    async with (
        SourceProcess("springhead_http", adapter_env(sink.url)) as source,
        aiohttp.ClientSession() as session,
    ):
        url = f"http://127.0.0.1:{source.port}/"
        batch = {"Content-Type": "application/cloudevents-batch+json"}
        async with session.post(url, data=json.dumps([good, bad]), headers=batch) as response:
            assert response.status == 400
            assert "attribute time: not an RFC 3339 timestamp" in await response.text()
        assert sink.requests == []  # one bad event: none of the batch is forwarded
        second = {**good, "id": "b3", "ext": True}
        async with session.post(url, data=json.dumps([good, second]), headers=batch) as response:
            assert response.status == 202
    times = [unquote(request.header("ce-time") or "") for request in sink.requests]
    assert times == ["2018-04-05T17:31:00.000000000Z"] * 2
    # A batch's events are sent together: they may arrive in either order.
    by_id = {request.header("ce-id"): request for request in sink.requests}
    assert by_id.keys() == {"b1", "b3"}
    assert by_id["b3"].header("ce-ext") == "true"
    assert by_id["b1"].header("ce-ext") is None
