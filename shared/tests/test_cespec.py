"""springhead.cespec: the CloudEvents type system, rule by rule (the HTTP source's test_types.py
sends the same kinds of values through a real process)."""

from __future__ import annotations

import calendar
import re
from typing import Any

import pytest
from springhead.cespec import (
    InvalidAttribute,
    binary_headers,
    check_attributes,
    check_context_attribute,
    check_extension,
)

BASE = {"specversion": "1.0", "id": "1", "type": "t", "source": "/s"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("time", "2018-04-05T17:31:00Z"),
        ("time", "1985-04-12T23:20:50.52Z"),
        ("time", "1996-12-19T16:39:57-08:00"),
        ("time", "1990-12-31T23:59:60Z"),
        ("time", "2018-04-05t17:31:00z"),
        ("time", "2000-02-29T00:00:00Z"),  # 2000 is a leap year (divisible by 400)
        ("time", "2024-02-29T00:00:00Z"),
        ("time", "2018-04-30T00:00:00Z"),
        ("time", "2018-12-31T23:59:59+23:59"),
        ("time", "0000-01-01T00:00:00Z"),
        ("datacontenttype", "application/json"),
        ("datacontenttype", "text/plain ; charset=utf-8"),
        ("datacontenttype", 'multipart/form-data; boundary="a \\" b"'),
        ("source", "https://github.com/cloudevents"),
        ("source", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
        ("source", "1-555-123-4567"),
        ("source", "/a%20b?q=1#f"),
        ("source", "a+b.c-d:x"),  # a scheme may hold + . -
        ("dataschema", "https://example.com/s.json"),
        ("subject", "ünïcödé ☁"),
        ("subject", "\u00a0"),  # U+00A0 follows the C1 controls, and is allowed
    ],
)
def test_valid_context_attributes_pass_unchanged(name: str, value: str) -> None:
    check_context_attribute(name, value)
    assert check_attributes({**BASE, name: value})[name] == value


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("time", "2018-04-05T17:31Z", "RFC 3339"),
        ("time", "2018-04-05T17:31:00+01", "RFC 3339"),
        ("time", "2018-00-05T17:31:00Z", "RFC 3339"),
        ("time", "2018-13-05T17:31:00Z", "RFC 3339"),
        ("time", "2018-04-00T17:31:00Z", "RFC 3339"),
        ("time", "2018-04-31T17:31:00Z", "RFC 3339"),
        ("time", "1900-02-29T00:00:00Z", "RFC 3339"),  # not a leap year (divisible by 100)
        ("time", "2023-02-29T00:00:00Z", "RFC 3339"),
        ("time", "2018-04-05T24:00:00Z", "RFC 3339"),
        ("time", "2018-04-05T23:60:00Z", "RFC 3339"),
        ("time", "2018-04-05T23:59:61Z", "RFC 3339"),
        ("time", "2018-04-05T23:59:59+24:00", "RFC 3339"),
        ("time", "2018-04-05T23:59:59+00:60", "RFC 3339"),
        ("time", "2018-04-05T23:59:59.Z", "RFC 3339"),
        ("time", " 2018-04-05T23:59:59Z", "RFC 3339"),
        ("datacontenttype", "json", "RFC 2046"),
        ("datacontenttype", "text/plain;", "RFC 2046"),
        ("datacontenttype", "text/plain; charset", "RFC 2046"),
        ("datacontenttype", "te(x)t/plain", "RFC 2046"),
        ("source", "a b", "may not appear in a URI"),
        ("source", "%zz", "may not appear in a URI"),
        ("source", "1x:y", "URI-reference"),
        ("dataschema", "relative/path", "absolute URI"),
        ("dataschema", "1x:y", "absolute URI"),
        ("subject", "", "must not be empty"),
        ("subject", "a\x7fb", "U+007F"),
        ("subject", "a\x9fb", "U+009F"),
        ("subject", "a\ufdd0b", "U+FDD0"),
        ("subject", "a\ufffeb", "U+FFFE"),
        ("subject", "a\U0001ffffb", "U+1FFFF"),
        ("id", "\ud800", "U+D800"),
    ],
)
def test_invalid_context_attributes_name_the_attribute_and_the_rule(
    name: str, value: str, rule: str
) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        check_attributes({**BASE, name: value})
    assert caught.value.name == name
    assert str(caught.value).startswith(f"attribute {name}: ")
    assert rule in caught.value.rule


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (2**31, "32 bits"),
        (-(2**31) - 1, "32 bits"),
        (1.5, "not JSON number"),
        ([1], "not JSON array"),
        ({"a": 1}, "not JSON object"),
        ("a\x00", "U+0000"),
    ],
)
def test_invalid_extension_values(value: Any, rule: str) -> None:
    with pytest.raises(InvalidAttribute, match=re.escape(rule)):
        check_attributes({**BASE, "ext": value})
    with pytest.raises(InvalidAttribute, match=re.escape(rule)):
        check_extension("ext", value)


@pytest.mark.parametrize("value", ["x", True, False, 0, 2**31 - 1, -(2**31)])
def test_valid_extension_values(value: Any) -> None:
    check_extension("ext", value)
    assert check_attributes({**BASE, "ext": value})["ext"] is value


@pytest.mark.parametrize("name", ["Ext", "ex-t", "ex_t", "é", ""])
def test_attribute_names_are_lower_case_letters_and_digits(name: str) -> None:
    with pytest.raises(InvalidAttribute, match="lower-case"):
        check_attributes({**BASE, name: "x"})
    with pytest.raises(InvalidAttribute, match="lower-case"):
        check_extension(name, "x")


def test_a_context_attribute_is_not_an_extension() -> None:
    with pytest.raises(InvalidAttribute, match="a context attribute"):
        check_extension("subject", "x")
    assert check_attributes({**BASE, "a" * 21: "x"})["a" * 21] == "x"  # 20 is a SHOULD


def test_null_is_absent_and_required_attributes_must_be_there() -> None:
    assert check_attributes({**BASE, "subject": None, "ext": None}) == BASE
    for name in ("id", "source", "specversion", "type"):
        with pytest.raises(InvalidAttribute, match=f"attribute {name}: required, and missing"):
            check_attributes({**BASE, name: None})


@pytest.mark.parametrize("version", ["0.3", "1", "1.0.2"])
def test_only_cloudevents_1_0_is_accepted(version: str) -> None:
    with pytest.raises(InvalidAttribute, match="Springhead forwards CloudEvents 1.0"):
        check_attributes({**BASE, "specversion": version})


def test_a_context_attribute_must_be_a_json_string() -> None:
    with pytest.raises(InvalidAttribute, match="must be a string, not JSON number"):
        check_attributes({**BASE, "id": 5})
    with pytest.raises(InvalidAttribute, match="must be a string, not JSON boolean"):
        check_attributes({**BASE, "id": True})


def test_binary_headers_write_booleans_as_the_spec_does() -> None:
    attributes = {**BASE, "yes": True, "no": False, "one": 1, "zero": 0, "text": "True"}
    assert binary_headers(attributes) == {"ce-yes": "true", "ce-no": "false"}


@pytest.mark.parametrize("year", [1900, 1996, 2000, 2001, 2020, 2023, 2024, 2100])
def test_every_month_ends_on_its_calendar_day(year: int) -> None:
    # Each month's last day passes and the day after fails, for leap years by 4, by 400, and
    # the century years that are not leap years.
    for month in range(1, 13):
        last = calendar.monthrange(year, month)[1]
        check_context_attribute("time", f"{year:04d}-{month:02d}-{last:02d}T00:00:00Z")
        with pytest.raises(InvalidAttribute, match="RFC 3339"):
            check_context_attribute("time", f"{year:04d}-{month:02d}-{last + 1:02d}T00:00:00Z")


@pytest.mark.parametrize("code_point", [0xFFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF])
def test_the_last_two_code_points_of_every_plane_are_not_allowed(code_point: int) -> None:
    with pytest.raises(InvalidAttribute, match=f"U\\+{code_point:04X} is not an allowable"):
        check_context_attribute("subject", f"a{chr(code_point)}")


def test_a_uri_error_names_the_first_character_not_allowed() -> None:
    with pytest.raises(InvalidAttribute, match="' ' may not appear in a URI"):
        check_context_attribute("source", "/a b<c")
