"""springhead.cesql beyond the TCK: parse errors that say where, the engine's choices the spec
leaves open (fail fast, 32-bit overflow, right-grouping logic), attribute types, and the filter's
answer."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from springhead.cesql import CesqlParseError, ErrorKind, Result, parse

EVENT = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


def evaluate(expression: str, **attributes: object) -> Result:
    return parse(expression).evaluate({**EVENT, **attributes})


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "ends too soon"),
        ("1 +", "ends too soon"),
        ("(TRUE", "ends too soon"),
        ("1 2", "at column 3: unexpected '2'"),
        ("a # b", "at column 3: unexpected character"),
        ("x LIKE y", "unexpected 'y'"),  # the pattern must be a string literal
        ("x IN ()", "unexpected ')'"),  # no empty set
        ("2147483648", "the Integer 2147483648 is outside the 32-bit range"),
        ("-2147483649", "outside the 32-bit range"),
        ("my_ext = 'a'", "'my_ext' is not an attribute name"),
        ("EXISTS my_ext", "'my_ext' is not an attribute name"),
        ("ABC1(1)", "'ABC1' is not a function name"),
        ("'unterminated", "unexpected character"),
    ],
)
def test_a_parse_error_says_where_and_why(expression: str, says: str) -> None:
    with pytest.raises(CesqlParseError, match="invalid CESQL expression") as raised:
        parse(expression)
    assert says in str(raised.value)
    assert raised.value.expression == expression
    assert raised.value.kind == ErrorKind.PARSE


def test_the_32_bit_bounds_are_literals() -> None:
    assert evaluate("-2147483648").value == -(2**31)
    assert evaluate("2147483647").value == 2**31 - 1
    assert evaluate("+7").value == 7


@pytest.mark.parametrize(
    "expression",
    ["2147483647 + 1", "-2147483648 - 1", "65536 * 65536", "-2147483648 / -1", "--2147483648"],
)
def test_arithmetic_leaving_32_bits_is_a_math_error_with_zero(expression: str) -> None:
    result = evaluate(expression)
    assert result.value == 0
    assert result.error is not None and result.error.kind == ErrorKind.MATH


ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@given(ints, ints.filter(bool))
def test_division_truncates_and_the_remainder_takes_the_dividends_sign(x: int, y: int) -> None:
    quotient = evaluate(f"{x} / {y}")
    remainder = evaluate(f"{x} % {y}")
    assert isinstance(quotient.value, int) and isinstance(remainder.value, int)
    if (x, y) == (-(2**31), -1):  # the one quotient outside 32 bits
        assert quotient.error is not None and quotient.error.kind == ErrorKind.MATH
    else:
        assert quotient.error is None
        assert quotient.value * y + remainder.value == x
    assert remainder.error is None
    assert abs(remainder.value) < abs(y)
    assert remainder.value == 0 or (remainder.value < 0) == (x < 0)


def test_logic_groups_to_the_right_at_one_precedence() -> None:
    # (FALSE AND FALSE) OR TRUE would be TRUE; the spec's grammar reads FALSE AND (FALSE OR TRUE).
    assert evaluate("FALSE AND FALSE OR TRUE").value is False
    assert evaluate("TRUE OR FALSE AND FALSE").value is True


def test_unary_operators_bind_tighter_than_comparison() -> None:
    assert evaluate("NOT FALSE = FALSE").value is False  # (NOT FALSE) = FALSE
    assert evaluate("-1 + 2").value == 1
    assert evaluate("1 + 2 * 3 - 4 / 2").value == 5
    assert evaluate("'ab' LIKE 'a%' = TRUE").value is True


def test_the_first_error_stops_evaluation() -> None:
    result = evaluate("missing + (1 / 0)")
    assert result.value == 0
    assert result.error is not None
    assert result.error.kind == ErrorKind.MISSING_ATTRIBUTE
    assert "'missing'" in result.error.message


def test_keywords_and_names_are_case_insensitive_but_strings_are_not() -> None:
    assert evaluate("exists SUBJECT", subject="x").value is True
    assert evaluate("Type = 't' and concat_ws('-', 'a', 'b') = 'a-b'").value is True
    assert evaluate("type = 'T'").value is False


def test_a_doubled_delimiter_is_one_quote() -> None:
    assert evaluate("'it''s'").value == "it's"
    assert evaluate('"say ""hi"""').value == 'say "hi"'
    assert evaluate("\"it''s\"").value == "it''s"  # only the delimiter doubles


def test_like_takes_regex_characters_literally() -> None:
    assert evaluate("source LIKE '/s.x%'", source="/s.x(y)").value is True
    assert evaluate("source LIKE '/s.x%'", source="/sax").value is False
    assert evaluate("subject LIKE 'a%'", subject="a\nb").value is True
    assert evaluate("subject NOT LIKE 'a\\%'", subject="a%").value is False


def test_attributes_that_are_not_cesql_types_are_read_as_strings() -> None:
    when = datetime.datetime(2026, 12, 3, 5, 0, tzinfo=datetime.UTC)
    assert evaluate("time", time=when).value == "2026-12-03T05:00:00Z"
    assert evaluate("time LIKE '2026-12-%'", time=when).value is True
    assert evaluate("blob", blob=b"\x00\xff").value == "AP8="
    assert evaluate("count + 1", count=41).value == 42
    assert evaluate("flag AND TRUE", flag=True).value is True


def test_an_absent_attribute_is_none_or_missing() -> None:
    result = evaluate("subject = 'x'", subject=None)
    assert result.value is False
    assert result.error is not None and result.error.kind == ErrorKind.MISSING_ATTRIBUTE
    assert evaluate("EXISTS subject", subject=None).value is False


def test_an_unknown_function_is_an_evaluation_error_not_a_parse_error() -> None:
    expression = parse("NOPE(1) OR TRUE")
    result = expression.evaluate(EVENT)
    assert result.value is False
    assert result.error is not None and result.error.kind == ErrorKind.MISSING_FUNCTION
    assert "NOPE" in result.error.message


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("type = 't'", True),
        ("type = 'u'", False),
        ("'true'", False),  # a filter needs a Boolean, not a String
        ("1", False),
        ("subject = 'x' OR TRUE", False),  # an error never passes, whatever the value
        ("EXISTS subject OR TRUE", True),
    ],
)
def test_matches_is_boolean_true_and_no_error(expression: str, matches: bool) -> None:
    assert parse(expression).matches(EVENT) is matches


def test_an_expression_keeps_its_text_and_is_reusable() -> None:
    expression = parse("type LIKE 'dev.%'")
    assert expression.text == "type LIKE 'dev.%'"
    assert [expression.matches({**EVENT, "type": t}) for t in ("dev.a", "x", "dev.")] == [
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(("left", "right"), [(1, 2), (2, 2), (3, 2), (-3, 2), (2, -3)])
@pytest.mark.parametrize("operator", ["<", "<=", ">", ">=", "=", "!=", "<>"])
def test_comparisons_order_integers(left: int, right: int, operator: str) -> None:
    python = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "==", "!=": "!=", "<>": "!="}
    expected = eval(f"{left} {python[operator]} {right}")  # noqa: S307 -- two int literals
    assert evaluate(f"{left} {operator} {right}") == Result(expected)
    # A String on the left is cast to the right's Integer, for ordering and for equality alike.
    assert evaluate(f"'{left}' {operator} {right}") == Result(expected)


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("2 <= missing", ErrorKind.MISSING_ATTRIBUTE),
        ("2 = missing", ErrorKind.MISSING_ATTRIBUTE),
        ("2 != missing", ErrorKind.MISSING_ATTRIBUTE),
        ("missing IN (1, 2)", ErrorKind.MISSING_ATTRIBUTE),
        ("1 IN (missing, 1)", ErrorKind.MISSING_ATTRIBUTE),
        ("1 IN ('x', 1)", ErrorKind.CAST),
        ("1 NOT IN ('x')", ErrorKind.CAST),
        ("1 = TRUE", ErrorKind.CAST),  # an Integer is not cast to Boolean implicitly
        ("TRUE AND 1", ErrorKind.CAST),
        ("LENGTH()", ErrorKind.MISSING_FUNCTION),
        ("LENGTH('a', 'b')", ErrorKind.MISSING_FUNCTION),
        ("SUBSTRING('a')", ErrorKind.MISSING_FUNCTION),
        ("ABS(1, 2)", ErrorKind.MISSING_FUNCTION),
    ],
)
def test_an_error_in_an_operand_gives_false(expression: str, kind: ErrorKind) -> None:
    result = evaluate(expression)
    assert result.value is False
    assert result.error is not None and result.error.kind == kind


@pytest.mark.parametrize(
    ("expression", "value"),
    [("LENGTH(missing)", 0), ("UPPER(missing)", ""), ("BOOL(missing)", False), ("-missing", 0)],
)
def test_a_function_of_a_missing_attribute_gives_its_types_zero(
    expression: str, value: object
) -> None:
    result = evaluate(expression)
    assert result.value == value and type(result.value) is type(value)
    assert result.error is not None and result.error.kind == ErrorKind.MISSING_ATTRIBUTE


@pytest.mark.parametrize(
    ("expression", "value", "kind"),
    [
        ("'2147483647' + 0", 2**31 - 1, None),
        ("'-2147483648' + 0", -(2**31), None),
        ("'+7' + 0", 7, None),
        ("'2147483648' + 0", 0, ErrorKind.CAST),
        ("'-2147483649' + 0", 0, ErrorKind.CAST),
        ("' 7' + 0", 0, ErrorKind.CAST),
        ("2147483646 + 1", 2**31 - 1, None),
        ("-2147483647 - 1", -(2**31), None),
        ("7 / -2", -3, None),
        ("-1 / 1", -1, None),
        ("1 / -1", -1, None),
        ("-1 / -1", 1, None),
        ("-7 / 2", -3, None),
        ("-7 / -2", 3, None),
        ("0 / -2", 0, None),
        ("-7 % 2", -1, None),
        ("7 % -2", 1, None),
        ("0 % -2", 0, None),
        ("-1 % 5", -1, None),
        ("ABS(-2147483647)", 2**31 - 1, None),
    ],
)
def test_integer_edges(expression: str, value: int, kind: ErrorKind | None) -> None:
    result = evaluate(expression)
    assert result.value == value
    assert (result.error.kind if result.error else None) == kind


@pytest.mark.parametrize(
    ("expression", "value", "kind"),
    [
        ("SUBSTRING('abc', 3)", "c", None),
        ("SUBSTRING('abc', -3)", "abc", None),
        ("SUBSTRING('abc', -1)", "c", None),
        ("SUBSTRING('abc', 4)", "", ErrorKind.FUNCTION_EVALUATION),
        ("SUBSTRING('abc', -4)", "", ErrorKind.FUNCTION_EVALUATION),
        ("SUBSTRING('abc', 1, 0)", "", None),
        ("SUBSTRING('abc', 2, -1)", "", ErrorKind.FUNCTION_EVALUATION),
        ("SUBSTRING('abc', 0, 2)", "", None),
        ("SUBSTRING('abc', -2, 1)", "b", None),
        ("LEFT('abc', 0)", "", None),
        ("LEFT('abc', -1)", "abc", ErrorKind.FUNCTION_EVALUATION),
        ("RIGHT('abc', 0)", "", None),
        ("RIGHT('abc', -1)", "abc", ErrorKind.FUNCTION_EVALUATION),
    ],
)
def test_string_function_edges(expression: str, value: str, kind: ErrorKind | None) -> None:
    result = evaluate(expression)
    assert result.value == value
    assert (result.error.kind if result.error else None) == kind


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'a b!' LIKE 'a b!'", True),
        ("'axb!' LIKE 'a b!'", False),
        ("'a#$' LIKE 'a#$'", True),
        ("'a##' LIKE 'a#$'", False),
        ("'abc' NOT LIKE 'x%'", True),
        ("'abc' NOT LIKE 'a%'", False),
        (r"'a\\' LIKE 'a\\'", True),  # a backslash before anything but % and _ is itself
    ],
)
def test_like_matches_every_other_character_as_itself(expression: str, value: bool) -> None:
    assert evaluate(expression) == Result(value)


def test_what_the_module_hands_out_is_immutable() -> None:
    expression = parse("type = 't'")
    result = expression.evaluate(EVENT)
    error = evaluate("missing").error
    assert error is not None
    for thing, field in ((expression, "text"), (result, "value"), (error, "kind")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(thing, field, None)
