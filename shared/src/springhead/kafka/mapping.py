"""Kafka record -> CloudEvent, as Knative's KafkaSource maps it. Pure functions, no I/O.

A record already in CloudEvents form passes through unchanged (CloudEvents Kafka protocol binding):

- structured mode: the ``content-type`` header is ``application/cloudevents+json`` (parameters
  such as ``charset`` allowed) and the value is the JSON envelope;
- binary mode: a ``ce_specversion`` header; the ``ce_*`` headers are the attributes,
  ``content-type`` is ``datacontenttype`` and the value is the data, byte for byte.

Every other record becomes a plain event (Knative's "invalid CloudEvent" path): type
``dev.knative.kafka.event``, source ``/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>``,
subject ``partition:<P>#<O>``, id ``partition:<P>/offset:<O>``, time = the record's timestamp
(UTC), ``datacontenttype`` = the ``content-type`` header lowercased, data = the value byte for
byte, the key as the ``key`` and ``partitionkey`` extensions (decoded per :class:`KeyType`), and
every other header as an extension ``kafkaheader<name>`` (name lowercased, letters and digits
only; the value decoded as UTF-8). So does a record whose CloudEvents form is broken (invalid
``ce_*`` headers, an envelope that is not a valid event, a CloudEvents format other than JSON):
it is delivered as a plain record and :attr:`MappedRecord.invalid` says why.

The other way, :func:`event_to_record` writes an event as a binary-mode record (what the broker's
ingress stores): ``ce_*`` headers, ``content-type`` for ``datacontenttype``, the data as the value
byte for byte, and the ``partitionkey`` extension as the key.

Every event read gains ``knativekafkapartition`` (an integer) and ``knativekafkaoffset`` (the
offset as a string, as the Java SDK writes a 64-bit number).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import Any, Protocol

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat

from springhead.cespec import binary_headers
from springhead.events import trusted_event, validated_event

__all__ = [
    "KAFKA_EVENT_TYPE",
    "KafkaRecord",
    "KeyType",
    "MappedRecord",
    "OFFSET_EXTENSION",
    "OutgoingRecord",
    "PARTITION_EXTENSION",
    "RecordForm",
    "event_to_record",
    "header_extension_name",
    "java_float_text",
    "kafka_event_source",
    "key_extension",
    "record_to_event",
]

#: CloudEvents ``type`` of records that are not CloudEvents (Knative's).
KAFKA_EVENT_TYPE = "dev.knative.kafka.event"
#: Extension names added to every event.
PARTITION_EXTENSION = "knativekafkapartition"
OFFSET_EXTENSION = "knativekafkaoffset"

_FORMAT = JSONFormat()
_STRUCTURED = "application/cloudevents+json"
_CLOUDEVENTS_FORMATS = "application/cloudevents"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEADER_PREFIX = "kafkaheader"
#: What a malformed CloudEvent raises while the SDK parses or validates it.
_MALFORMED = (
    BaseCloudEventException,
    ValueError,  # includes UnicodeDecodeError, binascii.Error and JSON errors
    TypeError,
    KeyError,
    AttributeError,
    OverflowError,
)


class KeyType(StrEnum):
    """How a record key becomes the ``key``/``partitionkey`` extensions (Knative's
    ``kafkasources.sources.knative.dev/key-type`` label)."""

    STRING = "string"
    """UTF-8 text (malformed bytes replaced)."""
    INT = "int"
    """A 4-byte big-endian signed integer; any other length falls back to string."""
    FLOAT = "float"
    """A 4-byte (float) or 8-byte (double) IEEE 754 number, written as Java writes it; any other
    length falls back to string."""
    BYTE_ARRAY = "byte-array"
    """The bytes, base64-encoded."""


class RecordForm(StrEnum):
    """How a record was read."""

    PLAIN = "plain"
    """Not a CloudEvent (or a broken one): mapped to ``dev.knative.kafka.event``."""
    BINARY = "binary"
    """A binary-mode CloudEvent (``ce_*`` headers), passed through."""
    STRUCTURED = "structured"
    """A structured-mode CloudEvent (``application/cloudevents+json`` value), passed through."""


class KafkaRecord(Protocol):
    """The parts of a consumed record the mapping reads (aiokafka's ``ConsumerRecord`` fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """The event a record becomes, how it was read, and why a CloudEvent was not accepted."""

    event: BaseCloudEvent
    form: RecordForm
    invalid: str | None = None
    """Set when the record looked like a CloudEvent but was not a valid one (then ``form`` is
    plain)."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record to produce: key, value and headers."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def event_to_record(event: BaseCloudEvent) -> OutgoingRecord:
    """``event`` as a binary-mode Kafka record (CloudEvents Kafka protocol binding): ``ce_*``
    headers in the spec's string forms, ``content-type`` = ``datacontenttype``, the data as the
    value (bytes as they are; other data as the JSON format writes it), the ``partitionkey``
    extension as the key (UTF-8)."""
    message = to_binary(event, _FORMAT)
    headers = dict(message.headers)
    for name, text in binary_headers(event.get_attributes()).items():
        headers["ce_" + name[3:]] = text.encode()
    key = message.key
    if isinstance(key, str):
        key = key.encode()
    elif key is not None and not isinstance(key, bytes):
        key = str(key).encode()
    return OutgoingRecord(
        key,
        message.value if message.value else None,
        [
            (name, value if isinstance(value, bytes) else str(value).encode())
            for name, value in headers.items()
        ],
    )


def kafka_event_source(namespace: str, name: str, topic: str) -> str:
    """The ``source`` of plain events: ``/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>``."""
    return f"/apis/v1/namespaces/{namespace}/kafkasources/{name}#{topic}"


def header_extension_name(header: str) -> str:
    """The extension a header becomes: ``kafkaheader`` + the name lowercased, letters and digits
    only (``X-Trace_ID`` -> ``kafkaheaderxtraceid``)."""
    kept = "".join(c for ch in header for c in ch.lower() if ("a" <= c <= "z") or ("0" <= c <= "9"))
    return _HEADER_PREFIX + kept


def key_extension(key: bytes | None, key_type: KeyType) -> str | int | None:
    """The value of the ``key``/``partitionkey`` extensions for a record key; None for no key
    (a missing or empty key, as Knative's key deserializer)."""
    if not key:
        return None
    if key_type is KeyType.INT and len(key) == 4:
        return int.from_bytes(key, "big", signed=True)
    if key_type is KeyType.FLOAT and len(key) == 4:
        return java_float_text(struct.unpack(">f", key)[0], single=True)
    if key_type is KeyType.FLOAT and len(key) == 8:
        return java_float_text(struct.unpack(">d", key)[0], single=False)
    if key_type is KeyType.BYTE_ARRAY:
        return base64.b64encode(key).decode("ascii")
    return key.decode("utf-8", "replace")


def record_to_event(
    record: KafkaRecord, *, namespace: str, name: str, key_type: KeyType = KeyType.STRING
) -> MappedRecord:
    """The CloudEvent ``record`` is delivered as (see the module documentation)."""
    content_type: bytes | None = None
    binary = False
    for header, value in record.headers:
        lowered = header.lower()
        if lowered == "content-type":
            content_type = value
        elif lowered == "ce_specversion":
            binary = True
    media_type = _media_type(content_type)
    mapped: MappedRecord
    try:
        if media_type.startswith(_CLOUDEVENTS_FORMATS):
            mapped = MappedRecord(_structured(record, media_type), RecordForm.STRUCTURED)
        elif binary:
            mapped = MappedRecord(_binary(record), RecordForm.BINARY)
        else:
            mapped = MappedRecord(
                _plain(record, namespace, name, key_type, content_type), RecordForm.PLAIN
            )
    except _MALFORMED as exc:
        reason = str(exc).strip() or type(exc).__name__
        event = _plain(record, namespace, name, key_type, content_type)
        mapped = MappedRecord(event, RecordForm.PLAIN, f"invalid CloudEvent: {reason}")
    return mapped


def _media_type(content_type: bytes | None) -> str:
    if not content_type:
        return ""
    return content_type.decode("utf-8", "replace").split(";", 1)[0].strip().lower()


def _with_kafka_metadata(attributes: dict[str, Any], record: KafkaRecord) -> dict[str, Any]:
    attributes[PARTITION_EXTENSION] = record.partition
    attributes[OFFSET_EXTENSION] = str(record.offset)
    return attributes


def _plain(
    record: KafkaRecord,
    namespace: str,
    name: str,
    key_type: KeyType,
    content_type: bytes | None,
) -> BaseCloudEvent:
    partition, offset = record.partition, record.offset
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"partition:{partition}/offset:{offset}",
        "source": kafka_event_source(namespace, name, record.topic),
        "type": KAFKA_EVENT_TYPE,
        "subject": f"partition:{partition}#{offset}",
    }
    if record.timestamp is not None and record.timestamp >= 0:
        attributes["time"] = _EPOCH + timedelta(milliseconds=record.timestamp)
    key = key_extension(record.key, key_type)
    if key is not None:
        attributes["partitionkey"] = key
        attributes["key"] = key
    for header, value in record.headers:
        if header.lower() == "content-type":
            continue
        text = value.decode("utf-8", "replace") if value is not None else ""
        attributes[header_extension_name(header)] = text
    if content_type:
        attributes["datacontenttype"] = content_type.decode("utf-8", "replace").lower()
    # Valid by construction (tests/test_mapping.py checks it with the SDK's validation): fixed
    # attribute names, non-empty strings, an aware time, extension names of [a-z0-9] only.
    return trusted_event(_with_kafka_metadata(attributes, record), record.value)


def _binary(record: KafkaRecord) -> BaseCloudEvent:
    headers: dict[str, bytes] = {}
    for header, value in record.headers:
        if value is None:
            raise ValueError(f"header {header!r} has no value")
        value.decode("utf-8")  # the SDK decodes too; fail here with the header's name
        headers[header] = value
    # The data stays the raw value: the SDK would parse JSON data and re-serialise it.
    parsed = from_binary(KafkaMessage(headers, None, b""), _FORMAT, validated_event)
    attributes = _with_kafka_metadata(dict(parsed.get_attributes()), record)
    return validated_event(attributes, record.value)


def _structured(record: KafkaRecord, media_type: str) -> BaseCloudEvent:
    if media_type != _STRUCTURED:
        raise ValueError(f"unsupported CloudEvents format {media_type}")
    if not record.value:
        raise ValueError("structured CloudEvent without a value")
    envelope = json.loads(record.value)
    if not isinstance(envelope, dict):
        raise ValueError("a structured CloudEvent must be a JSON object")
    if "data" in envelope and "data_base64" in envelope:
        raise ValueError("both data and data_base64 are present")
    if "data" in envelope and "datacontenttype" not in envelope:
        # JSON-format data without a content type is JSON; binary mode has to say so.
        envelope["datacontenttype"] = "application/json"
    parsed = _FORMAT.read(validated_event, json.dumps(envelope))
    attributes = _with_kafka_metadata(dict(parsed.get_attributes()), record)
    return validated_event(attributes, parsed.get_data())


# --- numbers as Java writes them ---------------------------------------------------------------


def java_float_text(value: float, *, single: bool) -> str:
    """``value`` as Java's ``Float.toString`` (``single``) or ``Double.toString`` writes it
    (JDK 19+): the shortest decimal that reads back as the same number (at least two digits when
    a two-digit one is closer), plain between 10^-3 and 10^7, else ``d.dddE<n>``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    decimal = _shortest_decimal(magnitude, single=single)
    digits = "".join(str(d) for d in decimal.as_tuple().digits).rstrip("0") or "0"
    exponent = decimal.adjusted()
    if 1e-3 <= magnitude < 1e7:
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            fraction = digits[exponent + 1 :] or "0"
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{fraction}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def _interval(value: float, single: bool) -> tuple[Decimal, Decimal, bool]:
    """The decimals halfway to the adjacent representable numbers below and above ``value``
    (> 0, finite), and whether its significand is even (then the halfway points round to it)."""
    exact = Decimal(value)
    if single:
        bits = struct.unpack(">I", struct.pack(">f", value))[0]
        below = Decimal(struct.unpack(">f", struct.pack(">I", bits - 1))[0])
        above = (
            Decimal(struct.unpack(">f", struct.pack(">I", bits + 1))[0])
            if bits + 1 < 0x7F800000
            else exact + (exact - below)
        )
    else:
        bits = struct.unpack(">Q", struct.pack(">d", value))[0]
        below = Decimal(math.nextafter(value, 0.0))
        next_up = math.nextafter(value, math.inf)
        above = exact + (exact - below) if math.isinf(next_up) else Decimal(next_up)
    return (exact + below) / 2, (exact + above) / 2, bits % 2 == 0


def _shortest_decimal(value: float, *, single: bool) -> Decimal:
    """The decimal Java prints for ``value`` (> 0, finite): among the decimals that round to it,
    those of minimal length (length 1 or 2 when 1 suffices), the closest to it (ties: even last
    digit)."""
    with localcontext() as context:
        context.prec = 1200  # exact arithmetic on any double
        exact = Decimal(value)
        low, high, even = _interval(value, single)

        def rounds_to_value(candidate: Decimal) -> bool:
            if even:
                return low <= candidate <= high
            return low < candidate < high

        def candidates(length: int) -> list[Decimal]:
            unit = Decimal(1).scaleb(exact.adjusted() - length + 1)
            nearest = (exact / unit).to_integral_value(ROUND_HALF_EVEN) * unit
            near = (nearest - unit, nearest, nearest + unit)
            return [c for c in near if c > 0 and rounds_to_value(c)]

        for length in range(1, 18):
            found = candidates(length)
            if found:
                if length == 1:
                    found += candidates(2)

                def distance(candidate: Decimal) -> tuple[Decimal, int]:
                    last_digit = int(candidate.normalize().as_tuple().digits[-1])
                    return abs(candidate - exact), last_digit % 2

                return min(found, key=distance).normalize()
    raise AssertionError(f"no decimal rounds to {value!r}")  # pragma: no cover
