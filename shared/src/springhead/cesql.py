"""CloudEvents SQL (CESQL) 1.0.0: an expression parsed once, evaluated against many events.

The language is the CloudEvents specification's (cloudevents/spec ``cesql/spec.md``), and the
spec's own TCK passes in full (``shared/tests/test_cesql_tck.py``). :func:`parse` builds the
tree with lark from the spec's grammar and compiles it into nested closures, so evaluating a
Trigger's filter costs a few function calls per event and no tree walk.

What the spec leaves to an engine, as the TCK pins it down:

- **Fail fast.** The first error stops evaluation. The operator or function where it arose still
  returns its own value with it (``LEFT('abc', -2)`` gives ``'abc'`` and a FunctionEvaluationError);
  every operator around it returns the zero value of its type (``TRUE AND (1 != 1 / 0)`` gives
  ``FALSE`` and a MathError).
- **A missing attribute** is such an error, raised where it is read. An expression that is only
  that attribute gives ``FALSE``.
- **Implicit casts** follow spec section 3.7. An Integer cast to Boolean implicitly (``NOT 10``) is
  a CastError, while the explicit ``BOOL(10)`` is ``TRUE``.
- **AND, OR and XOR** share one precedence and group to the right, as the spec's ANTLR grammar has
  them; AND and OR short-circuit.
- **Integers** are 32-bit: a literal outside the range is a parse error, and arithmetic whose result
  leaves it is a MathError with the value 0.

A filter wants :meth:`Expression.matches`: TRUE and no error, as the spec's section 1.2 asks.
"""

from __future__ import annotations

import base64
import datetime
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

__all__ = [
    "CesqlError",
    "CesqlParseError",
    "ErrorKind",
    "Expression",
    "Result",
    "Value",
    "attribute_value",
    "parse",
]

#: A CESQL value: Boolean, Integer or String. (``bool`` is tested before ``int`` everywhere, as
#: Python's ``bool`` is an ``int``.)
Value = bool | int | str

_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1

#: Spec 3.4.4: EXISTS is TRUE for these whatever the input, as it is always a valid event.
_REQUIRED: Final = frozenset({"specversion", "id", "source", "type"})


class ErrorKind(enum.StrEnum):
    """The error kinds of spec section 3.3, named as the TCK names them."""

    PARSE = "parse"
    MATH = "math"
    CAST = "cast"
    MISSING_FUNCTION = "missingFunction"
    FUNCTION_EVALUATION = "functionEvaluation"
    MISSING_ATTRIBUTE = "missingAttribute"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class CesqlError:
    """An error met while evaluating: its kind and what happened, in words."""

    kind: ErrorKind
    message: str


class CesqlParseError(ValueError):
    """The expression is not CESQL; the message says where (1-based column) and why."""

    kind: Final = ErrorKind.PARSE

    def __init__(self, expression: str, reason: str, column: int | None = None) -> None:
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"invalid CESQL expression{where}: {reason}: {expression!r}")
        self.expression = expression
        self.column = column


@dataclass(frozen=True, slots=True)
class Result:
    """An evaluation's value and the error that stopped it, if one did."""

    value: Value
    error: CesqlError | None = None


class _Context:
    """One evaluation: the event's attributes and the first error met."""

    __slots__ = ("attributes", "error")

    def __init__(self, attributes: Mapping[str, object]) -> None:
        self.attributes = attributes
        self.error: CesqlError | None = None

    def fail(self, kind: ErrorKind, message: str) -> None:
        if self.error is None:
            self.error = CesqlError(kind, message)


_Eval = Callable[[_Context], Value]


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled subexpression and its static type (``None``: an attribute's, known only when
    read; its zero value is then Boolean's, as spec 3.2 says)."""

    run: _Eval
    type: type[Value] | None


def _zero(kind: type[Value] | None) -> Value:
    if kind is int:
        return 0
    if kind is str:
        return ""
    return False


def _type_of(value: Value) -> type[Value]:
    if isinstance(value, bool):
        return bool
    return int if isinstance(value, int) else str


_INTEGER_TEXT: Final = re.compile(r"[+-]?[0-9]+")


def _to_str(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_int(context: _Context, value: Value) -> int:
    if isinstance(value, int):  # a bool too: TRUE is 1
        return int(value)
    if _INTEGER_TEXT.fullmatch(value) and _INT_MIN <= (number := int(value)) <= _INT_MAX:
        return number
    context.fail(ErrorKind.CAST, f"cannot cast {value!r} to Integer")
    return 0


def _to_bool(context: _Context, value: Value, explicit: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if explicit:
            return value != 0
        context.fail(ErrorKind.CAST, f"cannot cast the Integer {value} to Boolean implicitly")
        return False
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    context.fail(ErrorKind.CAST, f"cannot cast {value!r} to Boolean")
    return False


def _cast(context: _Context, value: Value, target: type[Value], explicit: bool = False) -> Value:
    """Spec 3.7's casts; a failed one records a CastError and gives the target's zero value.
    Integer to Boolean is allowed only ``explicit``ly (the ``BOOL`` function), as the TCK has it."""
    if target is str:
        return _to_str(value)
    if target is int:
        return _to_int(context, value)
    return _to_bool(context, value, explicit)


def _checked(context: _Context, number: int, what: str) -> int:
    if _INT_MIN <= number <= _INT_MAX:
        return number
    context.fail(ErrorKind.MATH, f"{what} overflows a 32-bit Integer")
    return 0


def attribute_value(value: object) -> Value:
    """An attribute as CESQL sees it: Boolean, Integer and String as they are, anything else as the
    String of its CloudEvents canonical form (timestamps RFC 3339, binary base64)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return str(value)


# --- nodes --------------------------------------------------------------------------------------


def _literal(value: Value) -> _Node:
    return _Node(lambda context: value, _type_of(value))


def _attribute(name: str) -> _Node:
    def run(context: _Context) -> Value:
        value = context.attributes.get(name)
        if value is None:
            context.fail(ErrorKind.MISSING_ATTRIBUTE, f"the event has no attribute {name!r}")
            return False
        return attribute_value(value)

    return _Node(run, None)


def _exists(name: str) -> _Node:
    if name in _REQUIRED:
        return _literal(True)
    return _Node(lambda context: context.attributes.get(name) is not None, bool)


def _not(operand: _Node) -> _Node:
    inner = operand.run

    def run(context: _Context) -> Value:
        value = inner(context)
        if context.error:
            return False
        return not _to_bool(context, value)

    return _Node(run, bool)


def _negate(operand: _Node) -> _Node:
    inner = operand.run

    def run(context: _Context) -> Value:
        value = inner(context)
        if context.error:
            return 0
        return _checked(context, -_to_int(context, value), "negation")

    return _Node(run, int)


def _divide(context: _Context, left: int, right: int) -> int:
    if right == 0:
        context.fail(ErrorKind.MATH, "division by zero")
        return 0
    quotient = abs(left) // abs(right)  # rounded towards 0
    return _checked(context, quotient if (left < 0) == (right < 0) else -quotient, "division")


def _modulo(context: _Context, left: int, right: int) -> int:
    if right == 0:
        context.fail(ErrorKind.MATH, "modulo by zero")
        return 0
    remainder = abs(left) % abs(right)  # the sign of the dividend
    return remainder if left >= 0 else -remainder


_ARITHMETIC: Final[dict[str, Callable[[_Context, int, int], int]]] = {
    "+": lambda context, a, b: _checked(context, a + b, "addition"),
    "-": lambda context, a, b: _checked(context, a - b, "subtraction"),
    "*": lambda context, a, b: _checked(context, a * b, "multiplication"),
    "/": _divide,
    "%": _modulo,
}

_ORDER: Final[dict[str, Callable[[int, int], bool]]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _arithmetic(left: _Node, operator: str, right: _Node) -> _Node:
    first, second, apply = left.run, right.run, _ARITHMETIC[operator]

    def run(context: _Context) -> Value:
        a = first(context)
        if context.error:
            return 0
        b = second(context)
        if context.error:
            return 0
        return apply(context, _to_int(context, a), _to_int(context, b))

    return _Node(run, int)


def _comparison(left: _Node, operator: str, right: _Node) -> _Node:
    first, second = left.run, right.run
    if operator in _ORDER:
        order = _ORDER[operator]

        def ordered(context: _Context) -> Value:
            a = first(context)
            if context.error:
                return False
            b = second(context)
            if context.error:
                return False
            return order(_to_int(context, a), _to_int(context, b))

        return _Node(ordered, bool)
    equal = operator == "="

    def equality(context: _Context) -> Value:
        # "=" is ambiguous (Boolean, Integer and String): the right operand's type decides (3.7).
        a = first(context)
        if context.error:
            return False
        b = second(context)
        if context.error:
            return False
        return (_cast(context, a, _type_of(b)) == b) is equal

    return _Node(equality, bool)


def _logic(left: _Node, operator: str, right: _Node) -> _Node:
    first, second = left.run, right.run
    short_circuit = {"AND": False, "OR": True}.get(operator)

    def run(context: _Context) -> Value:
        a = first(context)
        if context.error:
            return False
        x = _to_bool(context, a)
        if x is short_circuit:
            return x
        b = second(context)
        if context.error:
            return False
        y = _to_bool(context, b)
        return x is not y if short_circuit is None else y

    return _Node(run, bool)


def _like_pattern(pattern: str) -> re.Pattern[str]:
    """Spec 3.4.3: ``%`` any run, ``_`` one character, ``\\%`` and ``\\_`` themselves, any other
    character itself (a lone backslash too)."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and pattern[index + 1 : index + 2] in ("%", "_"):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _like(operand: _Node, negated: bool, pattern: str) -> _Node:
    inner, regex = operand.run, _like_pattern(pattern)

    def run(context: _Context) -> Value:
        value = inner(context)
        if context.error:
            return False
        return (regex.fullmatch(_to_str(value)) is not None) is not negated

    return _Node(run, bool)


def _in(operand: _Node, negated: bool, members: Sequence[_Node]) -> _Node:
    inner, runs = operand.run, [member.run for member in members]

    def run(context: _Context) -> Value:
        value = inner(context)
        if context.error:
            return False
        target = _type_of(value)  # the left operand's type decides (3.7)
        for member in runs:
            candidate = member(context)
            if context.error:
                return False
            cast = _cast(context, candidate, target)
            if context.error:
                return False
            if cast == value:
                return not negated
        return negated

    return _Node(run, bool)


# --- functions ----------------------------------------------------------------------------------


def _substring(context: _Context, text: str, start: int, length: int | None = None) -> str:
    size = len(text)
    if start > size or start < -size:
        context.fail(ErrorKind.FUNCTION_EVALUATION, f"SUBSTRING position {start} is out of range")
        return ""
    if length is not None and length < 0:
        context.fail(ErrorKind.FUNCTION_EVALUATION, f"SUBSTRING length {length} is negative")
        return ""
    if start == 0:
        return ""
    begin = start - 1 if start > 0 else size + start
    return text[begin:] if length is None else text[begin : begin + length]


def _edge(name: str, pick: Callable[[str, int], str]) -> Callable[[_Context, str, int], str]:
    def function(context: _Context, text: str, count: int) -> str:
        if count < 0:
            context.fail(ErrorKind.FUNCTION_EVALUATION, f"{name} count {count} is negative")
            return text
        return pick(text, count)

    return function


def _abs(context: _Context, number: int) -> int:
    if number == _INT_MIN:  # spec 3.5.2: the largest Integer, and a MathError
        context.fail(ErrorKind.MATH, "ABS(-2147483648) overflows a 32-bit Integer")
        return _INT_MAX
    return abs(number)


@dataclass(frozen=True, slots=True)
class _Function:
    """A built-in: parameter types (the last one repeats if ``variadic``; ``None`` takes any
    type, uncast), the result type, and the implementation (context first)."""

    parameters: tuple[type[Value] | None, ...]
    result: type[Value]
    call: Callable[..., Value]
    variadic: bool = False
    explicit: bool = False  # a cast function: Integer to Boolean allowed

    def accepts(self, arity: int) -> bool:
        fixed = len(self.parameters) - 1 if self.variadic else len(self.parameters)
        return arity >= fixed if self.variadic else arity == fixed

    def parameter(self, index: int) -> type[Value] | None:
        return self.parameters[min(index, len(self.parameters) - 1)]


_FUNCTIONS: Final[dict[str, tuple[_Function, ...]]] = {
    "LENGTH": (_Function((str,), int, lambda context, text: len(text)),),
    "CONCAT": (_Function((str,), str, lambda context, *texts: "".join(texts), variadic=True),),
    "CONCAT_WS": (
        _Function((str, str), str, lambda context, sep, *texts: sep.join(texts), variadic=True),
    ),
    "LOWER": (_Function((str,), str, lambda context, text: text.lower()),),
    "UPPER": (_Function((str,), str, lambda context, text: text.upper()),),
    "TRIM": (_Function((str,), str, lambda context, text: text.strip()),),
    "LEFT": (_Function((str, int), str, _edge("LEFT", lambda text, count: text[:count])),),
    "RIGHT": (_Function((str, int), str, _edge("RIGHT", lambda text, n: text[-n:] if n else "")),),
    "SUBSTRING": (
        _Function((str, int), str, _substring),
        _Function((str, int, int), str, _substring),
    ),
    "ABS": (_Function((int,), int, _abs),),
    "INT": (_Function((int,), int, lambda context, value: value, explicit=True),),
    "BOOL": (_Function((bool,), bool, lambda context, value: value, explicit=True),),
    "STRING": (_Function((str,), str, lambda context, value: value, explicit=True),),
}


def _call(name: str, arguments: Sequence[_Node]) -> _Node:
    function = next((f for f in _FUNCTIONS.get(name, ()) if f.accepts(len(arguments))), None)
    if function is None:

        def missing(context: _Context) -> Value:
            context.fail(
                ErrorKind.MISSING_FUNCTION, f"no function {name} takes {len(arguments)} arguments"
            )
            return False

        return _Node(missing, None)
    runs, zero = [argument.run for argument in arguments], _zero(function.result)
    types = [function.parameter(index) for index in range(len(arguments))]
    call, explicit = function.call, function.explicit

    def run(context: _Context) -> Value:
        values: list[Value] = []
        for argument in runs:
            values.append(argument(context))
            if context.error:
                return zero
        cast = [
            value if kind is None else _cast(context, value, kind, explicit)
            for value, kind in zip(values, types, strict=True)
        ]
        return call(context, *cast)

    return _Node(run, function.result)


# --- parsing ------------------------------------------------------------------------------------

# The spec's grammar (cesql/CESQLParser.g4), one rule per precedence level, loosest first.
# Keywords are case-insensitive; a NAME is validated as an identifier or a function's name where
# it is used, so the lexer needs no second pattern for either.
_GRAMMAR: Final = r"""
?start: expression

?expression: comparison
    | comparison LOGIC expression -> logic

?comparison: sum
    | comparison COMPARE sum -> comparison

?sum: product
    | sum (PLUS | MINUS) product -> arithmetic

?product: postfix
    | product MULTIPLY postfix -> arithmetic

?postfix: unary
    | postfix NOT? LIKE STRING -> like
    | postfix NOT? IN "(" expression ("," expression)* ")" -> in_set

?unary: NOT unary -> not_
    | MINUS unary -> negate
    | EXISTS NAME -> exists
    | NAME "(" [expression ("," expression)*] ")" -> call
    | "(" expression ")"
    | INTEGER -> integer
    | STRING -> string
    | TRUE -> true
    | FALSE -> false
    | NAME -> attribute

LOGIC: "AND"i | "OR"i | "XOR"i
NOT: "NOT"i
LIKE: "LIKE"i
IN: "IN"i
EXISTS: "EXISTS"i
TRUE: "TRUE"i
FALSE: "FALSE"i
COMPARE: "!=" | "<>" | ">=" | "<=" | "=" | "<" | ">"
PLUS: "+"
MINUS: "-"
MULTIPLY: "*" | "/" | "%"
INTEGER.2: /[+-]?[0-9]+(?![a-z0-9_])/i
STRING: /'(?:[^'\\]|\\.|'')*'/s | /"(?:[^"\\]|\\.|"")*"/s
NAME: /[a-z0-9_]+/i

%ignore /[ \t\r\n]+/
"""

_IDENTIFIER: Final = re.compile(r"[a-z0-9]+")
_FUNCTION_NAME: Final = re.compile(r"[A-Z][A-Z_]*")


class _Invalid(Exception):
    """A rule the grammar cannot say (a literal's range, a name's shape): becomes a parse error."""


def _invalid(reason: str) -> NoReturn:
    raise _Invalid(reason)


def _unquote(token: str) -> str:
    """A string literal's value: ``\\'`` and ``\\"`` stand for the quote, as does the delimiter
    doubled; any other backslash stays, so a LIKE pattern keeps its ``\\%`` and ``\\_``."""
    quote, body = token[0], token[1:-1]
    if "\\" not in body and quote * 2 not in body:
        return body
    return re.sub(r"\\(['\"])|" + quote * 2, lambda m: m.group(1) or quote, body)


def _integer(text: str) -> int:
    number = int(text)
    if not _INT_MIN <= number <= _INT_MAX:
        _invalid(f"the Integer {text} is outside the 32-bit range")
    return number


@v_args(inline=True)
class _Compiler(Transformer[Token, _Node]):
    def integer(self, token: Token) -> _Node:
        return _literal(_integer(token))

    def string(self, token: Token) -> _Node:
        return _literal(_unquote(token))

    def true(self, token: Token) -> _Node:
        return _literal(True)

    def false(self, token: Token) -> _Node:
        return _literal(False)

    def attribute(self, token: Token) -> _Node:
        name = token.lower()
        if not _IDENTIFIER.fullmatch(name):
            _invalid(f"{str(token)!r} is not an attribute name (letters and digits only)")
        return _attribute(name)

    def exists(self, keyword: Token, token: Token) -> _Node:
        name = token.lower()
        if not _IDENTIFIER.fullmatch(name):
            _invalid(f"{str(token)!r} is not an attribute name (letters and digits only)")
        return _exists(name)

    def call(self, token: Token, *arguments: _Node | None) -> _Node:
        name = token.upper()
        if not _FUNCTION_NAME.fullmatch(name):
            _invalid(f"{str(token)!r} is not a function name (letters and '_')")
        return _call(name, [a for a in arguments if a is not None])

    def not_(self, keyword: Token, operand: _Node) -> _Node:
        return _not(operand)

    def negate(self, sign: Token, operand: _Node) -> _Node:
        return _negate(operand)

    def like(self, operand: _Node, *rest: Token) -> _Node:
        return _like(operand, len(rest) == 3, _unquote(rest[-1]))

    def in_set(self, operand: _Node, *rest: Token | _Node) -> _Node:
        negated = isinstance(rest[0], Token) and rest[0].type == "NOT"
        members = [member for member in rest if isinstance(member, _Node)]
        return _in(operand, negated, members)

    def arithmetic(self, left: _Node, operator: Token, right: _Node) -> _Node:
        return _arithmetic(left, str(operator), right)

    def comparison(self, left: _Node, operator: Token, right: _Node) -> _Node:
        return _comparison(left, str(operator), right)

    def logic(self, left: _Node, operator: Token, right: _Node) -> _Node:
        return _logic(left, operator.upper(), right)


_PARSER: Final = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=True)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed CESQL expression. Immutable, and safe to evaluate from many tasks at once."""

    text: str
    _root: _Node

    def evaluate(self, attributes: Mapping[str, object]) -> Result:
        """Evaluate against an event's context attributes and extensions (``attributes``: names
        in lower case, as CloudEvents spells them; a ``None`` value counts as absent)."""
        context = _Context(attributes)
        value = self._root.run(context)
        return Result(value, context.error)

    def matches(self, attributes: Mapping[str, object]) -> bool:
        """The filter's answer (spec 1.2): the value is Boolean TRUE and no error occurred."""
        result = self.evaluate(attributes)
        return result.value is True and result.error is None


def parse(expression: str) -> Expression:
    """Parse and compile ``expression``; :class:`CesqlParseError` says where and why it is not
    CESQL."""
    try:
        tree = _PARSER.parse(expression)
        root = _Compiler().transform(tree)
    except UnexpectedEOF:
        raise CesqlParseError(expression, "it ends too soon") from None
    except UnexpectedCharacters as error:
        raise CesqlParseError(expression, "unexpected character", error.column) from None
    except UnexpectedInput as error:
        token = getattr(error, "token", None)
        reason = f"unexpected {str(token)!r}" if token else "it ends too soon"
        raise CesqlParseError(expression, reason, error.column if token else None) from None
    except VisitError as error:
        if isinstance(error.orig_exc, _Invalid):
            raise CesqlParseError(expression, str(error.orig_exc)) from None
        raise
    return Expression(expression, root)
