"""Events with exactly the attributes given: validated when received, trusted when built."""

from __future__ import annotations

from typing import Any

import pytest
from cloudevents.core.exceptions import CloudEventValidationError, MissingRequiredAttributeError
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent
from springhead.events import trusted_event, validated_event

ATTRIBUTES: dict[str, Any] = {"id": "e-1", "source": "/tests", "type": "dev.example.test"}


def test_a_validated_event_has_exactly_its_attributes() -> None:
    given = {**ATTRIBUTES, "specversion": "1.0"}
    event = validated_event(given, {"a": 1})
    given["type"] = "changed afterwards"
    assert isinstance(event, CloudEvent)
    assert event.get_attributes() == {**ATTRIBUTES, "specversion": "1.0"}  # no time added
    assert event.get_data() == {"a": 1}


def test_a_0_3_event_stays_0_3() -> None:
    event = validated_event({**ATTRIBUTES, "specversion": "0.3"})
    assert isinstance(event, CloudEventV03)
    assert event.get_attributes()["specversion"] == "0.3"


def test_any_other_specversion_is_held_to_1_0() -> None:
    with pytest.raises(CloudEventValidationError, match="must be '1.0'"):
        validated_event({**ATTRIBUTES, "specversion": "0.2"})


@pytest.mark.parametrize("missing", ["specversion", "id"])
def test_a_missing_specversion_or_id_is_not_invented(missing: str) -> None:
    attributes = {**ATTRIBUTES, "specversion": "1.0"}
    attributes[missing] = ""
    with pytest.raises(MissingRequiredAttributeError, match=missing):
        validated_event(attributes)
    del attributes[missing]
    with pytest.raises(MissingRequiredAttributeError, match=missing):
        validated_event(attributes)


def test_a_trusted_event_takes_its_attributes_as_they_are() -> None:
    attributes = {**ATTRIBUTES, "specversion": "1.0"}
    event = trusted_event(attributes, b"raw")
    assert isinstance(event, CloudEvent)
    assert event.get_attributes() is attributes
    assert event.get_data() == b"raw"
