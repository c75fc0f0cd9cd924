"""springhead.kafka.mapping's writing side (pure): an event as a binary-mode record, and back."""

from __future__ import annotations

from dataclasses import dataclass, field

from springhead.events import validated_event
from springhead.kafka.mapping import RecordForm, event_to_record, record_to_event


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "t"
    partition: int = 2
    offset: int = 7
    timestamp: int = 0


def test_an_event_round_trips_through_a_binary_record() -> None:
    attributes = {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "subject": "caf\u00e9",
        "partitionkey": "order-7",
        "flag": True,
        "count": 3,
        "datacontenttype": "application/json",
    }
    event = validated_event(attributes, b'{"a": 1}')
    record = event_to_record(event)
    assert record.key == b"order-7"
    assert record.value == b'{"a": 1}'
    headers = dict(record.headers)
    assert headers["ce_flag"] == b"true" and headers["ce_count"] == b"3"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_subject"] == "caf\u00e9".encode()
    back = record_to_event(
        Record(record.key, record.value, record.headers), namespace="n", name="x"
    )
    assert back.form is RecordForm.BINARY and back.invalid is None
    read = back.event.get_attributes()
    assert read["knativekafkapartition"] == 2 and read["knativekafkaoffset"] == "7"
    assert (
        read["id"] == "1" and read["subject"] == "caf\u00e9" and read["partitionkey"] == "order-7"
    )
    assert back.event.get_data() == b'{"a": 1}'


def test_no_partitionkey_no_key_and_no_data_no_value() -> None:
    record = event_to_record(validated_event({"specversion": "1.0", "id": "1", "source": "/s",
                                              "type": "t"}, None))  # fmt: skip
    assert record.key is None and record.value is None
    assert "content-type" not in dict(record.headers)
