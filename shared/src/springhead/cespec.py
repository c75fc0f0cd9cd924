"""CloudEvents 1.0 context attributes checked by the specification's own type system.

Written from the text of the CloudEvents 1.0.2 specification ("Type System", "Context
Attributes"), its JSON format (section 2: type mapping, ``null`` means absent) and the RFCs it
names: RFC 3339 (Timestamp), RFC 2046 / RFC 2045 (``datacontenttype``), RFC 3986 (URI,
URI-reference). A value that passes is kept exactly as it was sent: a ``time`` stays the string
it came as (the SDK would parse and re-format it, turning ``.000000000Z`` into ``Z``).

Why not the SDK (``cloudevents`` 2.x) alone: it accepts timestamps RFC 3339 forbids (no seconds, an
offset of hours only), any ``datacontenttype``, and rejects a JSON ``null`` for an optional
attribute with a Python error text; in binary mode it writes a Boolean extension as ``True``.
This module is the one place those are decided; :func:`binary_headers` covers the last.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = [
    "CONTEXT_ATTRIBUTES",
    "InvalidAttribute",
    "binary_headers",
    "check_attributes",
    "check_context_attribute",
    "check_extension",
    "check_extension_name",
]

#: The spec version Springhead forwards. 0.3 (superseded in 2019) is refused, not converted:
#: converting would rename and drop attributes the producer chose.
SPECVERSION: Final = "1.0"
#: Attributes every event has.
REQUIRED: Final = ("id", "source", "specversion", "type")


class InvalidAttribute(ValueError):
    """An attribute breaks a rule of the spec; the message names both."""

    def __init__(self, name: str, rule: str) -> None:
        super().__init__(f"attribute {name}: {rule}")
        self.name = name
        self.rule = rule


# --- the types ---------------------------------------------------------------------------------

# String: "Sequence of allowable Unicode characters": not the control characters U+0000-U+001F
# and U+007F-U+009F, not surrogate code points, not the noncharacters U+FDD0-U+FDEF and the last
# two code points of every plane (U+xFFFE, U+xFFFF).
_NOT_ALLOWED = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"\\U{plane:04X}FFFE\\U{plane:04X}FFFF" for plane in range(17))
    + "]"
)


def _string(value: str) -> str | None:
    if value.isascii() and value.isprintable():  # the usual case, without the expression
        return None
    found = _NOT_ALLOWED.search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} is not an allowable character of a String"


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def _timestamp(value: str) -> str | None:
    """RFC 3339 section 5.6 ``date-time``: seconds required, offset ``Z`` or ``+hh:mm``; the
    ``T`` and ``Z`` may be lower case (5.6, NOTE); a leap second (60) is allowed (5.7)."""
    match = _TIMESTAMP.fullmatch(value)
    problem = "not an RFC 3339 timestamp (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))"
    if match is None:
        return problem
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    if not 1 <= month <= 12:
        return problem
    if not 1 <= day <= _days_in_month(year, month):
        return problem
    if hour > 23 or minute > 59 or second > 60:
        return problem
    offset_hours, offset_minutes = match.group(9), match.group(10)
    if offset_hours is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        return problem
    return None


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


# RFC 2045 section 5.1: type "/" subtype *(";" parameter); a token is any US-ASCII CHAR but SPACE,
# controls and tspecials; a parameter value is a token or a quoted-string. Whitespace around ";"
# and "=" is tolerated, as HTTP's Content-Type allows it around ";".
_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"  # noqa: S105  (an RFC 2045 token, not a secret)
_QUOTED = r'"(?:[^"\\\r\n]|\\[\x00-\x7f])*"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*[ \t]*", re.ASCII
)


@functools.lru_cache(maxsize=256)  # a source sees the same few content types again and again
def _media_type(value: str) -> str | None:
    if _MEDIA_TYPE.fullmatch(value) is None:
        return "not an RFC 2046 media type (type/subtype, then ;name=value parameters)"
    return None


# RFC 3986: the characters a URI may hold (unreserved, reserved, and "%" starting pct-encoded).
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2}", re.ASCII)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*", re.ASCII)


def _uri_text(value: str) -> str | None:
    leftover = _URI_CHARACTERS.sub("", value)
    if leftover:
        return f"{leftover[0]!r} may not appear in a URI (RFC 3986; percent-encode it)"
    return None


def _scheme_of(value: str) -> str | None:
    """The text before the first ':' when it comes before any '/', '?' or '#', else None."""
    head = re.split(r"[/?#]", value, maxsplit=1)[0]
    return head.partition(":")[0] if ":" in head else None


def _uri_reference(value: str) -> str | None:
    """RFC 3986 section 4.1: a URI or a relative reference (whose first segment has no ':')."""
    problem = _uri_text(value)
    if problem is not None:
        return problem
    scheme = _scheme_of(value)
    if scheme is not None and _SCHEME.fullmatch(scheme) is None:
        return "not a URI-reference (a ':' in the first path segment must follow a scheme)"
    return None


def _uri(value: str) -> str | None:
    """RFC 3986 section 4.3: an absolute URI, which starts with a scheme."""
    problem = _uri_text(value)
    if problem is not None:
        return problem
    scheme = _scheme_of(value)
    if scheme is None or _SCHEME.fullmatch(scheme) is None:
        return "not an absolute URI (RFC 3986: it must start with a scheme, like https:)"
    return None


#: The context attributes the spec defines, each with its type's check (none may be empty).
CONTEXT_ATTRIBUTES: Final[dict[str, Callable[[str], str | None]]] = {
    "id": _string,
    "source": _uri_reference,
    "specversion": _string,
    "type": _string,
    "datacontenttype": _media_type,
    "dataschema": _uri,
    "subject": _string,
    "time": _timestamp,
}
_NAME = re.compile(r"[a-z0-9]+", re.ASCII)
_INTEGER_RANGE = range(-(2**31), 2**31)


def check_extension_name(name: str) -> None:
    """Attribute names: lower-case ASCII letters and digits (the spec's MUST; its advice to stay
    within 20 characters is a SHOULD, so longer names are accepted)."""
    if _NAME.fullmatch(name) is None:
        raise InvalidAttribute(name, "a name must be lower-case letters a-z and digits 0-9")


def check_context_attribute(name: str, value: str) -> None:
    """One context attribute given as a string (``id``, ``datacontenttype`` ...) by its type;
    :class:`InvalidAttribute` otherwise."""
    if not value:
        raise InvalidAttribute(name, "must not be empty")
    problem = _string(value) or CONTEXT_ATTRIBUTES[name](value)
    if problem is not None:
        raise InvalidAttribute(name, problem)


def check_extension(name: str, value: Any) -> None:
    """One extension attribute: its name, and a String, Boolean or 32-bit Integer value;
    :class:`InvalidAttribute` otherwise."""
    check_extension_name(name)
    if name in CONTEXT_ATTRIBUTES:
        raise InvalidAttribute(name, "a context attribute, not an extension")
    problem = _extension_value(value)
    if problem is not None:
        raise InvalidAttribute(name, problem)


def _extension_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if value in _INTEGER_RANGE else "an Integer must fit in 32 bits"
    if isinstance(value, str):
        return _string(value)
    return f"must be a string, a boolean or an integer, not JSON {_json_type(value)}"


def check_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` checked by the spec's types; returns them without the ``None`` ones.

    ``None`` is the JSON format's ``null``: the attribute is absent. Context attributes must be
    Strings of their type's lexical form (kept as sent); an extension may be a String, a
    Boolean or an Integer in the 32-bit range (JSON gives those types; binary mode gives
    Strings). Raises :class:`InvalidAttribute` naming the attribute and the rule.
    """
    checked: dict[str, Any] = {}
    for name, value in attributes.items():
        if value is None:
            continue
        check_extension_name(name)
        kind = CONTEXT_ATTRIBUTES.get(name)
        if kind is not None:
            if not isinstance(value, str):
                raise InvalidAttribute(name, f"must be a string, not JSON {_json_type(value)}")
            check_context_attribute(name, value)
            problem = None
        else:
            problem = _extension_value(value)
        if problem is not None:
            raise InvalidAttribute(name, problem)
        checked[name] = value
    for name in REQUIRED:
        if name not in checked:
            raise InvalidAttribute(name, "required, and missing")
    if checked["specversion"] != SPECVERSION:
        raise InvalidAttribute(
            "specversion",
            f"{checked['specversion']!r} is not accepted; Springhead forwards CloudEvents 1.0",
        )
    return checked


def binary_headers(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The binary-mode headers whose value the SDK writes other than the spec's string form:
    a Boolean is ``true``/``false`` (the SDK writes Python's ``True``)."""
    return {
        f"ce-{name}": "true" if value else "false"
        for name, value in attributes.items()
        if value is True or value is False
    }


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
