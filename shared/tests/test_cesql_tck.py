"""The CloudEvents SQL TCK (cloudevents/spec ``cesql/cesql_tck``, copied unchanged under
``data/cesql_tck``), every case run against springhead.cesql.

Each case gives an expression, and optionally an input event (whole, or overrides on any valid
event), the expected value and the expected error kind. A ``parse`` error must come from
:func:`parse`; any other error from evaluation, beside the expected value.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from springhead.cesql import CesqlParseError, ErrorKind, parse

TCK = Path(__file__).parent / "data" / "cesql_tck"

#: "any valid event" for cases that give only overrides, or nothing.
VALID_EVENT = {"specversion": "1.0", "id": "tck", "source": "/springhead/tck", "type": "tck.case"}


def _cases() -> list[Any]:
    cases = []
    for path in sorted(TCK.glob("*.yaml")):
        text = path.read_text()
        # Values are typed as YAML types them, but an expression is the text as written (an
        # unquoted TRUE would otherwise be read as YAML's boolean).
        typed, raw = yaml.safe_load(text), yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506
        for case, written in zip(typed["tests"], raw["tests"], strict=True):
            case["expression"] = written["expression"]
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def _canonical(value: Any) -> Any:
    # YAML reads an unquoted timestamp as a datetime; CESQL sees its RFC 3339 text.
    return value.isoformat() if isinstance(value, datetime.datetime) else value


def test_the_tck_is_all_there() -> None:
    assert len(list(TCK.glob("*.yaml"))) == 18
    assert len(_cases()) == 275


@pytest.mark.parametrize("case", _cases())
def test_tck(case: dict[str, Any]) -> None:
    expected_error = case.get("error")
    if expected_error == ErrorKind.PARSE:
        with pytest.raises(CesqlParseError):
            parse(case["expression"])
        return
    event = case.get("event") or {**VALID_EVENT, **(case.get("eventOverrides") or {})}
    result = parse(case["expression"]).evaluate({k: _canonical(v) for k, v in event.items()})
    assert (result.error.kind if result.error else None) == expected_error, result.error
    if "result" in case:
        expected = _canonical(case["result"])
        assert result.value == expected
        assert type(result.value) is type(expected)
