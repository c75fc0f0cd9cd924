"""Record -> CloudEvent mapping (pure), table-driven: plain, keyed, headers, binary and structured
CloudEvents, broken CloudEvents, Java number formatting, and the CloudEvents Kafka conformance
cases."""

from __future__ import annotations

import base64
import importlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from springhead.kafka.mapping import (
    KAFKA_EVENT_TYPE,
    KeyType,
    RecordForm,
    header_extension_name,
    java_float_text,
    key_extension,
    record_to_event,
)

TIMESTAMP = 1_700_000_000_123
TIME = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    """A consumed record as aiokafka hands it over (the fields the mapping reads)."""

    value: bytes | None = b"hello"
    key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = field(default_factory=tuple)
    topic: str = "orders"
    partition: int = 2
    offset: int = 17
    timestamp: int = TIMESTAMP


def plain(**extra: Any) -> dict[str, Any]:
    """The attributes of record ``Record()`` as a plain event, plus ``extra``."""
    return {
        "specversion": "1.0",
        "id": "partition:2/offset:17",
        "source": "/apis/v1/namespaces/ns/kafkasources/src#orders",
        "type": KAFKA_EVENT_TYPE,
        "subject": "partition:2#17",
        "time": TIME,
        **extra,
        "knativekafkapartition": 2,
        "knativekafkaoffset": "17",
    }


def mapped(record: Record, key_type: KeyType = KeyType.STRING) -> Any:
    return record_to_event(record, namespace="ns", name="src", key_type=key_type)


def test_plain_record() -> None:
    result = mapped(Record())
    assert result.form is RecordForm.PLAIN and result.invalid is None
    assert result.event.get_attributes() == plain()
    assert result.event.get_data() == b"hello"


def test_record_without_value_or_timestamp() -> None:
    result = mapped(Record(value=None, timestamp=-1))
    expected = plain()
    del expected["time"]
    assert result.event.get_attributes() == expected
    assert result.event.get_data() is None


def test_value_bytes_are_kept_exactly() -> None:
    value = bytes(range(256))
    assert mapped(Record(value=value)).event.get_data() == value


KEYS: list[tuple[str, bytes | None, KeyType, str | int | None]] = [
    ("string", b"order-1", KeyType.STRING, "order-1"),
    ("string, malformed UTF-8 replaced", b"a\xffb", KeyType.STRING, "a\ufffdb"),
    ("int", struct.pack(">i", 256), KeyType.INT, 256),
    ("int negative", struct.pack(">i", -2), KeyType.INT, -2),
    ("int of 3 bytes falls back to string", b"abc", KeyType.INT, "abc"),
    ("int of 8 bytes falls back to string", b"12345678", KeyType.INT, "12345678"),
    ("float, 4 bytes", struct.pack(">f", 1.5), KeyType.FLOAT, "1.5"),
    ("float, 4 bytes as Java prints", struct.pack(">f", 0.1), KeyType.FLOAT, "0.1"),
    ("double, 8 bytes", struct.pack(">d", 0.1), KeyType.FLOAT, "0.1"),
    ("double, large", struct.pack(">d", 1e21), KeyType.FLOAT, "1.0E21"),
    ("float of 5 bytes falls back to string", b"12345", KeyType.FLOAT, "12345"),
    ("byte-array", b"\x00\x01\xfe\xff", KeyType.BYTE_ARRAY, "AAH+/w=="),
    ("no key", None, KeyType.STRING, None),
    ("empty key is no key", b"", KeyType.STRING, None),
    ("empty key is no key, any type", b"", KeyType.BYTE_ARRAY, None),
]


@pytest.mark.parametrize(
    ("key", "key_type", "expected"), [k[1:] for k in KEYS], ids=[k[0] for k in KEYS]
)
def test_key_extensions(key: bytes | None, key_type: KeyType, expected: str | int | None) -> None:
    assert key_extension(key, key_type) == expected
    attributes = mapped(Record(key=key), key_type).event.get_attributes()
    if expected is None:
        assert "key" not in attributes and "partitionkey" not in attributes
    else:
        assert attributes["key"] == expected
        assert attributes["partitionkey"] == expected


HEADER_NAMES = [
    ("X-Trace_ID", "kafkaheaderxtraceid"),
    ("traceparent", "kafkaheadertraceparent"),
    ("Key", "kafkaheaderkey"),
    ("ÜBER-2", "kafkaheaderber2"),
    ("İd", "kafkaheaderid"),
    ("---", "kafkaheader"),
]


@pytest.mark.parametrize(("header", "extension"), HEADER_NAMES)
def test_header_extension_names(header: str, extension: str) -> None:
    assert header_extension_name(header) == extension


def test_headers_become_extensions_and_content_type_the_datacontenttype() -> None:
    record = Record(
        key=b"k",
        headers=(
            ("Content-Type", b"Application/JSON; Charset=UTF-8"),
            ("X-Trace_ID", b"abc"),
            ("empty", None),
            ("bytes", b"\xff"),
            ("dup", b"first"),
            ("dup", b"last"),
        ),
    )
    result = mapped(record)
    assert result.event.get_attributes() == plain(
        partitionkey="k",
        key="k",
        kafkaheaderxtraceid="abc",
        kafkaheaderempty="",
        kafkaheaderbytes="\ufffd",
        kafkaheaderdup="last",
        datacontenttype="application/json; charset=utf-8",
    )


BINARY_HEADERS = (
    ("ce_specversion", b"1.0"),
    ("ce_id", b"abc-1"),
    ("ce_type", b"com.example.order"),
    ("ce_source", b"/shop"),
    ("ce_time", b"2018-04-05T03:56:24Z"),
    ("ce_myext", b"value"),
    ("content-type", b"Application/JSON"),
)


def test_binary_cloudevent_passes_through() -> None:
    value = b'{ "spaced" :  true }'
    result = mapped(Record(value=value, key=b"k", headers=BINARY_HEADERS))
    assert result.form is RecordForm.BINARY and result.invalid is None
    assert result.event.get_attributes() == {
        "specversion": "1.0",
        "id": "abc-1",
        "type": "com.example.order",
        "source": "/shop",
        "time": datetime(2018, 4, 5, 3, 56, 24, tzinfo=UTC),
        "myext": "value",
        "datacontenttype": "Application/JSON",
        "knativekafkapartition": 2,
        "knativekafkaoffset": "17",
    }
    assert result.event.get_data() == value  # byte for byte, not re-serialised


def test_binary_cloudevent_without_time_gets_none() -> None:
    headers = tuple(h for h in BINARY_HEADERS if h[0] != "ce_time")
    assert "time" not in mapped(Record(headers=headers)).event.get_attributes()


ENVELOPE = {
    "specversion": "1.0",
    "id": "abc-2",
    "type": "com.example.order",
    "source": "/shop",
    "datacontenttype": "application/json",
    "data": {"n": 1},
}


@pytest.mark.parametrize(
    "content_type",
    [b"application/cloudevents+json", b"Application/CloudEvents+JSON; charset=utf-8"],
)
def test_structured_cloudevent_passes_through(content_type: bytes) -> None:
    record = Record(
        value=json.dumps(ENVELOPE).encode(), key=b"k", headers=(("content-type", content_type),)
    )
    result = mapped(record)
    assert result.form is RecordForm.STRUCTURED and result.invalid is None
    expected = {k: v for k, v in ENVELOPE.items() if k != "data"}
    assert result.event.get_attributes() == {
        **expected,
        "knativekafkapartition": 2,
        "knativekafkaoffset": "17",
    }
    assert result.event.get_data() == {"n": 1}


def test_structured_binary_data() -> None:
    envelope = {k: v for k, v in ENVELOPE.items() if k not in ("data", "datacontenttype")}
    envelope["data_base64"] = base64.b64encode(b"\x00\x01").decode()
    record = Record(
        value=json.dumps(envelope).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    assert mapped(record).event.get_data() == b"\x00\x01"


def test_structured_json_data_without_content_type_says_json() -> None:
    envelope = {k: v for k, v in ENVELOPE.items() if k != "datacontenttype"}
    record = Record(
        value=json.dumps(envelope).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    assert mapped(record).event.get_datacontenttype() == "application/json"


def _without(name: str) -> tuple[tuple[str, bytes | None], ...]:
    return tuple(h for h in BINARY_HEADERS if h[0] != name)


def _replace(name: str, value: bytes | None) -> tuple[tuple[str, bytes | None], ...]:
    return tuple((k, value if k == name else v) for k, v in BINARY_HEADERS)


CE = (("content-type", b"application/cloudevents+json"),)
BROKEN: list[tuple[str, Record, str]] = [
    ("binary without id", Record(headers=_without("ce_id")), "id"),
    ("binary without type", Record(headers=_without("ce_type")), "type"),
    ("binary with a bad time", Record(headers=_replace("ce_time", b"yesterday")), "invalid"),
    ("binary with another specversion", Record(headers=_replace("ce_specversion", b"2.0")), ""),
    (
        "binary with a bad extension name",
        Record(headers=(*BINARY_HEADERS, ("ce_bad-ext", b"x"))),
        "",
    ),
    ("binary with a header without value", Record(headers=_replace("ce_source", None)), "value"),
    ("binary with a non-UTF-8 header", Record(headers=_replace("ce_type", b"\xff")), "utf"),
    ("structured, not JSON", Record(value=b"{not json", headers=CE), ""),
    ("structured, an array", Record(value=b"[1]", headers=CE), "object"),
    (
        "structured, no id",
        Record(value=json.dumps({**ENVELOPE, "id": ""}).encode(), headers=CE),
        "",
    ),
    (
        "structured, data and data_base64",
        Record(value=json.dumps({**ENVELOPE, "data_base64": "AA=="}).encode(), headers=CE),
        "both",
    ),
    ("structured, no value", Record(value=None, headers=CE), "value"),
    (
        "structured, another format",
        Record(value=b"x", headers=(("content-type", b"application/cloudevents+avro"),)),
        "format",
    ),
    (
        "a batch",
        Record(value=b"[]", headers=(("content-type", b"application/cloudevents-batch+json"),)),
        "format",
    ),
]


@pytest.mark.parametrize(("record", "reason"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_cloudevents_are_delivered_as_plain_records(record: Record, reason: str) -> None:
    result = mapped(record)
    assert result.form is RecordForm.PLAIN
    assert result.invalid is not None and result.invalid.startswith("invalid CloudEvent")
    assert reason.lower() in result.invalid.lower()
    attributes = result.event.get_attributes()
    assert attributes["type"] == KAFKA_EVENT_TYPE
    assert attributes["id"] == "partition:2/offset:17"
    assert result.event.get_data() == record.value
    for name, value in record.headers:
        if name.lower() != "content-type":
            text = value.decode("utf-8", "replace") if value is not None else ""
            assert attributes[header_extension_name(name)] == text


FLOATS: list[tuple[float, bool, str]] = [
    (1.1, True, "1.1"),
    (0.1, True, "0.1"),
    (100.0, True, "100.0"),
    (1e7, True, "1.0E7"),
    (9999999.0, True, "9999999.0"),
    (0.001, True, "0.001"),
    (1e-4, True, "1.0E-4"),
    (1e10, True, "1.0E10"),
    (-2.5, True, "-2.5"),
    (16777216.0, True, "1.6777216E7"),
    (3.4028234663852886e38, True, "3.4028235E38"),  # Float.MAX_VALUE
    (1.401298464324817e-45, True, "1.4E-45"),  # Float.MIN_VALUE
    (0.1, False, "0.1"),
    (1.0 / 3, False, "0.3333333333333333"),
    (123456789.0, False, "1.23456789E8"),
    (1e21, False, "1.0E21"),
    (1e-5, False, "1.0E-5"),
    (2e23, False, "2.0E23"),
    (1.7976931348623157e308, False, "1.7976931348623157E308"),  # Double.MAX_VALUE
    (5e-324, False, "4.9E-324"),  # Double.MIN_VALUE
    (2.2250738585072014e-308, False, "2.2250738585072014E-308"),  # Double.MIN_NORMAL
    (0.0, False, "0.0"),
    (-0.0, True, "-0.0"),
    (float("nan"), False, "NaN"),
    (float("inf"), True, "Infinity"),
    (float("-inf"), False, "-Infinity"),
]


@pytest.mark.parametrize(("value", "single", "text"), FLOATS)
def test_numbers_print_as_java_does(value: float, single: bool, text: str) -> None:
    if single:
        value = struct.unpack(">f", struct.pack(">f", value))[0]
    assert java_float_text(value, single=single) == text


def test_every_float_text_reads_back_as_the_same_float() -> None:
    for bits in range(0x00000001, 0x7F800000, 0x00A3D70B):  # ~200 floats across the range
        value = struct.unpack(">f", struct.pack(">I", bits))[0]
        text = java_float_text(value, single=True)
        assert struct.unpack(">f", struct.pack(">f", float(text)))[0] == value, text


# --- plain events are built without the SDK's validation: they must always pass it ----------------

_HEADER_NAMES = st.one_of(
    st.text(max_size=12), st.sampled_from(["Content-Type", "content-type", "CE_ID", "-", "Ü"])
)
_NOT_CLOUDEVENTS = st.one_of(
    st.none(),
    st.binary(max_size=8),
    st.sampled_from([b"", b"text/plain", b"application/json; charset=utf-8", b"\xff\xfe"]),
)


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(st.none(), st.binary(max_size=32)),
    key=st.one_of(st.none(), st.binary(max_size=9)),
    key_type=st.sampled_from(list(KeyType)),
    headers=st.lists(
        st.tuples(_HEADER_NAMES, st.one_of(st.none(), st.binary(max_size=8))), max_size=4
    ),
    content_type=_NOT_CLOUDEVENTS,
    topic=st.text(min_size=1, max_size=10),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    timestamp=st.one_of(st.just(-1), st.integers(0, 253_402_300_799_999)),
)
def test_plain_events_pass_the_sdks_validation(
    value: bytes | None,
    key: bytes | None,
    key_type: KeyType,
    headers: list[tuple[str, bytes | None]],
    content_type: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    timestamp: int,
) -> None:
    plain_headers = [
        (name, header_value)
        for name, header_value in headers
        if name.lower() not in ("content-type", "ce_specversion")
    ]
    if content_type is not None:
        plain_headers.append(("content-type", content_type))
    record = Record(
        value=value,
        key=key,
        headers=tuple(plain_headers),
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=timestamp,
    )
    result = mapped(record, key_type)
    if result.form is not RecordForm.PLAIN:
        return  # a content type of the CloudEvents formats: parsed and validated by the SDK
    attributes = dict(result.event.get_attributes())
    CloudEvent._validate_attribute(attributes)  # raises CloudEventValidationError when invalid
    assert CloudEvent(attributes, value).get_attributes() == attributes  # nothing defaulted


# --- CloudEvents conformance (Kafka protocol binding) ----------------------------------------


def test_the_feature_file_yields_the_three_documented_cases(
    all_conformance_cases: list[Any],
) -> None:
    assert len(all_conformance_cases) == 3


def test_conformance_cases(conformance_case: Any) -> None:
    result = mapped(Record(value=conformance_case.value, headers=conformance_case.headers))
    assert result.invalid is None
    received = result.event.get_attributes()
    for key, value in conformance_case.attributes.items():
        if key == "time":
            assert received["time"] == datetime.fromisoformat(value)
        else:
            assert received[key] == value, key
    payload = result.event.get_data()
    data = json.loads(payload) if isinstance(payload, bytes | str) else payload
    assert data == conformance_case.data


# mapping, metrics and offsets moved to springhead.kafka: shared/tests/test_public_api.py
# checks them.
@pytest.mark.parametrize("module", ["__init__", "adapter", "config"])
def test_public_names_are_sorted(module: str) -> None:
    name = "springhead_kafka" if module == "__init__" else f"springhead_kafka.{module}"
    exported = importlib.import_module(name).__all__
    assert list(exported) == sorted(exported)
