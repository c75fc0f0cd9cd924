"""The terminal view: Knative event_display's format (the CloudEvents Go SDK's rendering of an
event after a ``☁️  cloudevents.Event`` line)."""

from __future__ import annotations

import pytest
from springhead_display.received import ReceivedEvent
from springhead_display.terminal import event_bytes, format_event, format_time

BASE = {"specversion": "1.0", "type": "dev.example.t", "source": "/s", "id": "1"}


def test_all_context_attributes_in_the_go_sdk_order_then_sorted_extensions_then_json() -> None:
    event = ReceivedEvent(
        {
            "datacontenttype": "application/json",
            "zeta": "last",
            "id": "e0272eaa",
            "time": "2026-11-22T02:18:51.120000Z",
            "alpha": True,
            "count": 7,
            "source": "/apis/v1/namespaces/demo/pingsources/p",
            "type": "dev.knative.sources.ping",
            "specversion": "1.0",
            "subject": "sub",
            "dataschema": "https://example.com/schema",
        },
        b'{"message": "Hello", "n": [1, {}]}',
    )
    assert format_event(event) == (
        "☁️  cloudevents.Event\n"
        "Context Attributes,\n"
        "  specversion: 1.0\n"
        "  type: dev.knative.sources.ping\n"
        "  source: /apis/v1/namespaces/demo/pingsources/p\n"
        "  subject: sub\n"
        "  id: e0272eaa\n"
        "  time: 2026-11-22T02:18:51.12Z\n"
        "  dataschema: https://example.com/schema\n"
        "  datacontenttype: application/json\n"
        "Extensions,\n"
        "  alpha: true\n"
        "  count: 7\n"
        "  zeta: last\n"
        "Data,\n"
        "  {\n"
        '    "message": "Hello",\n'
        '    "n": [\n'
        "      1,\n"
        "      {}\n"
        "    ]\n"
        "  }\n"
    )


def test_an_event_without_data_or_extensions_ends_after_its_attributes() -> None:
    assert format_event(ReceivedEvent(dict(BASE))) == (
        "☁️  cloudevents.Event\nContext Attributes,\n"
        "  specversion: 1.0\n  type: dev.example.t\n  source: /s\n  id: 1\n"
    )


@pytest.mark.parametrize(
    ("content_type", "data", "shown"),
    [
        ("text/plain", b"hello\nworld", "Data,\n  hello\nworld\n"),
        # The Go SDK indents only application/json (parameters aside); other JSON stays as sent.
        ("application/json; charset=utf-8", b'{"a":1}', 'Data,\n  {\n    "a": 1\n  }\n'),
        ("application/cloudevents-ish+json", b'{"a":1}', 'Data,\n  {"a":1}\n'),
        ("application/json", b"not json", "Data,\n  not json\n"),
    ],
)
def test_data_by_media_type(content_type: str, data: bytes, shown: str) -> None:
    text = format_event(ReceivedEvent({**BASE, "datacontenttype": content_type}, data))
    assert text.endswith(shown)


def test_data_base64_is_marked_binary() -> None:
    text = format_event(ReceivedEvent(dict(BASE), b"abc", base64=True))
    assert text.endswith("Data (binary),\n  abc\n")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2026-11-22T02:18:51Z", "2026-11-22T02:18:51Z"),
        ("2026-11-22T02:18:51+00:00", "2026-11-22T02:18:51Z"),
        ("2026-11-22t02:18:51.000000000z", "2026-11-22T02:18:51Z"),
        ("2026-11-22T02:18:51.500-05:00", "2026-11-22T02:18:51.5-05:00"),
    ],
)
def test_time_as_go_writes_rfc3339nano(sent: str, shown: str) -> None:
    assert format_time(sent) == shown


def test_integers_beyond_64_bits_stay_exact() -> None:
    big = "123456789012345678901234567890"
    event = ReceivedEvent({**BASE, "datacontenttype": "application/json"}, f"[{big}]".encode())
    assert format_event(event).endswith(f"Data,\n  [\n    {big}\n  ]\n")


def test_data_that_is_not_utf8_is_written_byte_for_byte() -> None:
    event = ReceivedEvent({**BASE, "datacontenttype": "application/octet-stream"}, b"\xff\x00")
    assert event_bytes(event).endswith(b"Data,\n  \xff\x00\n")


def test_json_data_without_datacontenttype_is_not_indented_as_go_does() -> None:
    event = ReceivedEvent(dict(BASE), b'{"x":1}', json_data=True)
    assert format_event(event).endswith('Data,\n  {"x":1}\n')
