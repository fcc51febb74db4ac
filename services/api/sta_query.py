"""SensorThings (OData) query options: ``$filter``, ``$orderby``, ``$expand``, ``$select``, ``$top``,
``$skip``, ``$count``, parsed into plain values. Pure: no I/O.

The ``$filter`` subset: ``eq ne gt ge lt le``, ``and or not``, parentheses; literals ``'text'`` (``''``
escapes a quote), numbers, ``true false null`` and unquoted ISO 8601 times; property paths
(``properties/kind``, ``Thing/@iot.id``); functions ``startswith endswith substringof contains tolower
toupper length``. A filter becomes a tree evaluated over the small catalogue entities in Python, or
translated to bound SQL for Observations (``sta_observations``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.api.errors import ApiError
from services.api.params import format_time, parse_time_us

DEFAULT_TOP = 100
MAX_TOP = 10_000
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
FUNCTIONS = {"startswith": 2, "endswith": 2, "substringof": 2, "contains": 2, "tolower": 1, "toupper": 1}
FUNCTIONS["length"] = 1
_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<string>'(?:[^']|'')*')"
    r"|(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z@$_][\w@./]*)"
    r")"
)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any  # str, float, bool, None; times as TimeLiteral


@dataclass(frozen=True, slots=True)
class TimeLiteral:
    us: int

    @property
    def iso(self) -> str:
        return format_time(self.us)


@dataclass(frozen=True, slots=True)
class Path:
    segments: tuple[str, ...]

    @property
    def text(self) -> str:
        return "/".join(self.segments)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # and | or | not
    args: tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ApiError(f"$filter: cannot read {text[pos : pos + 20]!r} (position {pos})")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ApiError("$filter: ends too early")
        self.i += 1
        return token

    def expect(self, value: str) -> None:
        _kind, got = self.take()
        if got != value:
            raise ApiError(f"$filter: expected {value!r}, found {got!r}")

    def word(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.i += 1
            return token[1].lower()
        return None

    def parse(self) -> Any:
        tree = self.or_()
        if self.peek() is not None:
            raise ApiError(f"$filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return tree

    def or_(self) -> Any:
        tree = self.and_()
        while self.word("or"):
            tree = Logical("or", (tree, self.and_()))
        return tree

    def and_(self) -> Any:
        tree = self.not_()
        while self.word("and"):
            tree = Logical("and", (tree, self.not_()))
        return tree

    def not_(self) -> Any:
        if self.word("not"):
            return Logical("not", (self.not_(),))
        left = self.value()
        op = self.word(*COMPARISONS)
        return Compare(op, left, self.value()) if op else left

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "punct" and text == "(":
            tree = self.or_()
            self.expect(")")
            return tree
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(float(text))
        if kind == "time":
            return TimeLiteral(parse_time_us(text, 0, "$filter"))
        if kind == "word":
            lowered = text.lower()
            if lowered in ("true", "false", "null"):
                return Literal({"true": True, "false": False, "null": None}[lowered])
            nxt = self.peek()
            if nxt == ("punct", "("):
                if lowered not in FUNCTIONS:
                    raise ApiError(f"$filter: unknown function {text!r}; use {', '.join(FUNCTIONS)}")
                self.take()
                args = [self.or_()]
                while self.peek() == ("punct", ","):
                    self.take()
                    args.append(self.or_())
                self.expect(")")
                if len(args) != FUNCTIONS[lowered]:
                    raise ApiError(f"$filter: {lowered} takes {FUNCTIONS[lowered]} arguments")
                return Call(lowered, tuple(args))
            return Path(tuple(text.split("/")))
        raise ApiError(f"$filter: unexpected {text!r}")


def parse_filter(text: str | None) -> Any:
    return _Parser(text).parse() if text and text.strip() else None


# ---------------------------------------------------------------------------------------------------
# Evaluation over entity documents (Python): missing properties are null, comparisons with null false.


def evaluate(tree: Any, resolve: Any) -> Any:
    """``resolve(segments)`` → the value of a property path on the entity being tested. Times compare
    as the API's ISO 8601 UTC text, which sorts as the times do."""
    if isinstance(tree, TimeLiteral):
        return tree.iso
    if isinstance(tree, Literal):
        return tree.value
    if isinstance(tree, Path):
        return resolve(tree.segments)
    if isinstance(tree, Logical):
        if tree.op == "not":
            return not evaluate(tree.args[0], resolve)
        results = (bool(evaluate(a, resolve)) for a in tree.args)
        return all(results) if tree.op == "and" else any(results)
    if isinstance(tree, Call):
        args = [evaluate(a, resolve) for a in tree.args]
        if any(a is None for a in args):
            return None
        texts = [str(a) for a in args]
        return {
            "startswith": lambda: texts[0].startswith(texts[1]),
            "endswith": lambda: texts[0].endswith(texts[1]),
            "substringof": lambda: texts[0] in texts[1],
            "contains": lambda: texts[1] in texts[0],
            "tolower": lambda: texts[0].lower(),
            "toupper": lambda: texts[0].upper(),
            "length": lambda: float(len(texts[0])),
        }[tree.name]()
    assert isinstance(tree, Compare)
    left, right = evaluate(tree.left, resolve), evaluate(tree.right, resolve)
    if tree.op == "eq":
        return left == right
    if tree.op == "ne":
        return left != right
    if left is None or right is None:
        return False
    if isinstance(left, int | float) != isinstance(right, int | float):
        raise ApiError(f"$filter: cannot compare {left!r} with {right!r}")
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[tree.op]


# ---------------------------------------------------------------------------------------------------
# $orderby, $expand, $select and the options of one request or one expanded navigation property.


@dataclass(frozen=True, slots=True)
class Order:
    path: tuple[str, ...]
    descending: bool


def parse_orderby(text: str | None) -> tuple[Order, ...]:
    orders = []
    for part in _split_top(text or "", ","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ApiError(f"$orderby: cannot read {part!r}; use 'property [asc|desc]', comma-separated")
        orders.append(Order(tuple(words[0].split("/")), len(words) == 2 and words[1].lower() == "desc"))
    return tuple(orders)


@dataclass(frozen=True, slots=True)
class Options:
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    filter: Any = None
    orderby: tuple[Order, ...] = ()
    select: tuple[str, ...] = ()
    expand: tuple[Expand, ...] = ()


@dataclass(frozen=True, slots=True)
class Expand:
    name: str  # navigation property
    options: Options = field(default_factory=Options)


def _split_top(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth or quoted:
        raise ApiError(f"unbalanced parentheses or quotes in {text!r}")
    tail = "".join(current).strip()
    return [p for p in [*parts, tail] if p]


def _integer(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not re.fullmatch(r"\d+", text.strip()):
        raise ApiError(f"{name}: {text!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(f"{name}: {value} is outside {low} … {high:,}")
    return value


def parse_expand(text: str | None) -> tuple[Expand, ...]:
    items = []
    for part in _split_top(text or "", ","):
        match = re.fullmatch(r"([A-Za-z/]+)\s*(?:\((.*)\))?", part, re.S)
        if not match:
            raise ApiError(f"$expand: cannot read {part!r}")
        path, inner = match.group(1).split("/"), match.group(2)
        options = Options()
        if inner:
            named: dict[str, str | None] = {}
            for option in _split_top(inner, ";"):
                key, _, value = option.partition("=")
                named[key.strip()] = value.strip()
            options = parse_options(named, where=f"$expand {path[-1]}")
        # A/B expands A and, within it, B (with the options on B).
        expand = Expand(path[-1], options)
        for name in reversed(path[:-1]):
            expand = Expand(name, Options(expand=(expand,)))
        items.append(expand)
    return tuple(items)


OPTION_NAMES = ("$top", "$skip", "$count", "$filter", "$orderby", "$select", "$expand")


def parse_options(named: dict[str, str | None], where: str = "") -> Options:
    """The query options of a request, or inside ``$expand=Nav(...)``; unknown names are refused."""
    unknown = [k for k in named if k not in OPTION_NAMES]
    if unknown:
        raise ApiError(f"{unknown[0]!r}: unknown query option {('in ' + where) if where else ''}; "
                       f"use {', '.join(OPTION_NAMES)}")  # fmt: skip
    count_text = (named.get("$count") or "false").strip().lower()
    if count_text not in ("true", "false"):
        raise ApiError(f"$count: {named.get('$count')!r} is not true or false")
    select = tuple(p.strip() for p in (named.get("$select") or "").split(",") if p.strip())
    return Options(
        top=_integer("$top", named.get("$top"), DEFAULT_TOP, 0, MAX_TOP),
        skip=_integer("$skip", named.get("$skip"), 0, 0, 10**12),
        count=count_text == "true",
        filter=parse_filter(named.get("$filter")),
        orderby=parse_orderby(named.get("$orderby")),
        select=select,
        expand=parse_expand(named.get("$expand")),
    )
