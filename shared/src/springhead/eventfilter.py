"""Knative's event filters: a Trigger's ``spec.filter.attributes`` and its ``spec.filters``
(``exact``, ``prefix``, ``suffix``, ``all``, ``any``, ``not``, ``cesql``), with Knative's
validation and its three-valued answers.

Semantics are Knative Eventing's (``pkg/eventfilter``, ``pkg/apis/eventing/v1/
trigger_validation.go``, ``pkg/broker/filter/filter_handler.go``):

- A filter answers :attr:`Verdict.PASS`, :attr:`Verdict.FAIL` or :attr:`Verdict.NO_FILTER`
  (nothing to decide). Only FAIL keeps an event from a subscriber.
- ``filter.attributes``: every entry must match exactly. The value ``""`` asks only that the
  attribute is present and not empty; a missing attribute fails.
- ``filters`` is a list, AND-ed. Each item has exactly one dialect.
  - ``exact``, ``prefix`` and ``suffix`` compare the attribute's text, case-sensitively, and a
    missing attribute fails. An item with an empty name or value is dropped, as Knative drops it.
  - ``all`` stops at the first FAIL, and ``any`` at the first PASS. Otherwise each answers as its
    last member did, NO_FILTER for an empty list.
  - ``not`` swaps PASS and FAIL.
  - ``cesql`` passes only on TRUE without an error (:mod:`springhead.cesql`).
- A non-empty ``filters`` makes ``filter`` ignored.

Attributes are given as a mapping of lower-case names (context attributes and extensions) to
values. An integer, Boolean, timestamp or binary value is compared as its CloudEvents text.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from springhead.cesql import CesqlParseError, attribute_value, parse

__all__ = ["Filter", "FilterSpecError", "Verdict", "attributes_filter", "filters", "trigger_filter"]

#: Knative's rule for a filter's attribute names (trigger_validation.go).
_ATTRIBUTE_NAME: Final = re.compile(r"[a-z][a-z0-9]*")

_DIALECTS: Final = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class Verdict(enum.Enum):
    """A filter's answer; only :attr:`FAIL` keeps an event from the subscriber."""

    PASS = enum.auto()
    FAIL = enum.auto()
    NO_FILTER = enum.auto()


#: A compiled filter: an event's attributes in, a verdict out.
Filter = Callable[[Mapping[str, object]], Verdict]


class FilterSpecError(ValueError):
    """A filter spec Knative's validation refuses; ``path`` names the field, as in
    ``filters[1].cesql``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _text(value: object) -> str:
    value = attribute_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _no_filter(attributes: Mapping[str, object]) -> Verdict:
    return Verdict.NO_FILTER


def _names(path: str, spec: object) -> dict[str, str]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise FilterSpecError(path, f"must be a map of attribute names to strings, not {spec!r}")
    for name, value in spec.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise FilterSpecError(
                f"{path}.{name}",
                "Attribute name must start with a letter and can only contain lowercase "
                "alphanumeric",
            )
        if not isinstance(value, str):
            raise FilterSpecError(f"{path}.{name}", f"must be a string, not {value!r}")
    return dict(spec)


def attributes_filter(
    attributes: Mapping[str, str] | None, path: str = "filter.attributes"
) -> Filter:
    """``spec.filter.attributes``: NO_FILTER when absent; PASS when every entry matches."""
    if attributes is None:
        return _no_filter
    wanted = tuple(_names(path, attributes).items())

    def match(event: Mapping[str, object]) -> Verdict:
        for name, expected in wanted:
            value = event.get(name)
            if value is None:
                return Verdict.FAIL
            text = _text(value)
            if text != expected if expected else not text:
                return Verdict.FAIL
        return Verdict.PASS

    return match


def _comparing(pairs: Mapping[str, str], test: Callable[[str, str], bool]) -> Filter | None:
    if any(not name or not value for name, value in pairs.items()):
        return None  # Knative's materializer drops such an item
    wanted = tuple(pairs.items())

    def match(event: Mapping[str, object]) -> Verdict:
        for name, expected in wanted:
            value = event.get(name)
            if value is None or not test(_text(value), expected):
                return Verdict.FAIL
        return Verdict.PASS

    return match


def _all(members: Sequence[Filter]) -> Filter:
    if len(members) == 1:
        return members[0]

    def match(event: Mapping[str, object]) -> Verdict:
        verdict = Verdict.NO_FILTER
        for member in members:
            verdict = member(event)
            if verdict is Verdict.FAIL:
                return verdict
        return verdict

    return match


def _any(members: Sequence[Filter]) -> Filter:
    if len(members) == 1:
        return members[0]

    def match(event: Mapping[str, object]) -> Verdict:
        verdict = Verdict.NO_FILTER
        for member in members:
            verdict = member(event)
            if verdict is Verdict.PASS:
                return verdict
        return verdict

    return match


def _not(member: Filter) -> Filter:
    def match(event: Mapping[str, object]) -> Verdict:
        verdict = member(event)
        if verdict is Verdict.NO_FILTER:
            return verdict
        return Verdict.FAIL if verdict is Verdict.PASS else Verdict.PASS

    return match


def _cesql(path: str, expression: str) -> Filter:
    try:
        compiled = parse(expression)
    except CesqlParseError as error:
        raise FilterSpecError(path, str(error)) from None

    def match(event: Mapping[str, object]) -> Verdict:
        return Verdict.PASS if compiled.matches(event) else Verdict.FAIL

    return match


def _item(path: str, spec: object) -> Filter | None:
    """One ``filters`` item, or None where Knative's materializer leaves nothing."""
    if not isinstance(spec, Mapping):
        raise FilterSpecError(path, f"must be a map with one dialect, not {spec!r}")
    unknown = sorted(set(spec) - set(_DIALECTS))
    if unknown:
        raise FilterSpecError(f"{path}.{unknown[0]}", f"is not a dialect (one of {_DIALECTS})")
    present = [d for d in _DIALECTS if spec.get(d) not in (None, "", {}, [])]
    if len(present) > 1:
        raise FilterSpecError(
            path, "multiple dialects found, filters can have only one dialect set"
        )
    if not present:
        return None
    dialect = present[0]
    value = spec[dialect]
    where = f"{path}.{dialect}"
    if dialect in ("exact", "prefix", "suffix"):
        pairs = _names(where, value)
        tests: dict[str, Callable[[str, str], bool]] = {
            "exact": str.__eq__,
            "prefix": str.startswith,
            "suffix": str.endswith,
        }
        return _comparing(pairs, tests[dialect])
    if dialect in ("all", "any"):
        members = _list(where, value)
        return (_all if dialect == "all" else _any)(members) if members else None
    if dialect == "not":
        member = _item(where, value)
        return _not(member) if member is not None else _no_filter
    if not isinstance(value, str):
        raise FilterSpecError(where, f"must be a string, not {value!r}")
    return _cesql(where, value)


def _list(path: str, spec: object) -> list[Filter]:
    if not isinstance(spec, Sequence) or isinstance(spec, str):
        raise FilterSpecError(path, f"must be a list of filters, not {spec!r}")
    members = (_item(f"{path}[{index}]", item) for index, item in enumerate(spec))
    return [member for member in members if member is not None]


def filters(spec: Sequence[Mapping[str, Any]] | None, path: str = "filters") -> Filter:
    """``spec.filters``: its items AND-ed; NO_FILTER when empty.

    Raises :class:`FilterSpecError` for what Knative's validation refuses: a bad attribute name,
    two dialects in one item, an expression that is not CESQL.
    """
    if not spec:
        return _no_filter
    members = _list(path, spec)
    return _all(members) if members else _no_filter


def trigger_filter(spec: Mapping[str, Any]) -> Filter:
    """A Trigger's filter from its ``spec``: ``filters`` when not empty, else
    ``filter.attributes``, else no filter."""
    if spec.get("filters"):
        return filters(spec["filters"])
    return attributes_filter((spec.get("filter") or {}).get("attributes"))
