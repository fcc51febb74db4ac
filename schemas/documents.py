"""The configuration files' one way in: read the YAML, check its shape against a typed struct.

Every YAML file tidewatch reads (station registry, QC configuration, alert rules, notification channels,
report settings) is read with ``read_yaml`` and its shape (types, required and unknown fields) checked by
``msgspec.convert`` against ``msgspec.Struct`` types through ``convert``. What msgspec finds wrong comes
back as a ``Problem`` (the field's path, what is wrong, the value found), and the file's loader words
it into its own error with the file, station, rule or channel it is in. What a type cannot say (ranges,
cross-references to the registry or vocabulary) stays in the loaders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec
import yaml

T = TypeVar("T")

# msgspec's names for the types it expected, in the two phrasings of the error messages:
# "field 'latitude' must be int or float" (describe) and "field 'title': expected a mapping" (complaint).
_MUST_BE = {"float": "int or float", "object": "mapping", "array": "list"}
_EXPECTED = {
    "float": "a number",
    "int": "an integer",
    "str": "text",
    "object": "a mapping",
    "array": "a list",
}
_MESSAGE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class _Absent:
    def __repr__(self) -> str:
        return "nothing"


ABSENT = _Absent()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document's shape, at ``path`` (keys and list indices from the root)."""

    path: tuple[str | int, ...]
    kind: str  # "missing", "unknown" (field) or "type" (the value is not of the expected type)
    expected: tuple[str, ...] = ()  # msgspec's type names ("float", "object", "null" …), if known
    value: Any = ABSENT  # the value found (ABSENT for a missing field)

    @property
    def field(self) -> str:
        """The path as one dotted name: ``datum.msl_above_datum_m``, ``stations.ids[0]``."""
        text = ""
        for step in self.path:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text

    def within(self, prefix: str) -> str:
        """The field's dotted name under ``prefix``: ``grading.uptime[0].min``."""
        inner = self.field
        if not prefix or not inner:
            return prefix or inner
        return prefix + inner if inner.startswith("[") else f"{prefix}.{inner}"

    @property
    def name(self) -> str:
        """The last key of the path (the field itself)."""
        keys = [step for step in self.path if isinstance(step, str)]
        return keys[-1] if keys else ""

    @property
    def parent(self) -> str:
        """The dotted path of the mapping the field is in ('' at the top)."""
        return Problem(self.path[:-1], self.kind).field

    def describe(self) -> str:
        """``missing field 'kind'``, ``unknown field 'colour'``, ``field 'latitude' must be int or float,
        got 'north'``."""
        if self.kind == "missing":
            return f"missing field {self.name!r}"
        if self.kind == "unknown":
            return f"unknown field {self.name!r}"
        return f"field {self.name!r} must be {self.must_be}, got {self.value!r}"

    @property
    def must_be(self) -> str:
        return " or ".join(_MUST_BE.get(t, t) for t in self.expected)

    def complaint(self) -> str:
        """What is wrong, for a message that names the field itself: ``missing``, ``unknown field``,
        ``expected a mapping, got None``."""
        if self.kind == "unknown" or (self.kind == "missing" and not self.expected):
            return f"{self.kind} field"
        return f"expected {' or '.join(_EXPECTED.get(t, t) for t in self.expected)}, got {self.value!r}"


def _value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return data


def _type_names(annotation: Any) -> tuple[str, ...]:
    """msgspec's names for a field's type: ``dict[str, Any] | None`` → ("object", "null")."""
    if get_origin(annotation) in (Union, UnionType):
        return tuple(name for arg in get_args(annotation) for name in _type_names(arg))
    origin = get_origin(annotation) or annotation
    if origin is type(None):
        return ("null",)
    if isinstance(origin, type) and (issubclass(origin, msgspec.Struct) or issubclass(origin, Mapping)):
        return ("object",)
    if origin in (list, tuple, set, frozenset):
        return ("array",)
    return (getattr(origin, "__name__", str(origin)),)


def _field_type(into: Any, path: tuple[str | int, ...]) -> Any:
    """The declared type at ``path`` inside ``into`` (None when the path leaves the structs)."""
    for step in path:
        if get_origin(into) in (Union, UnionType):
            structs = [a for a in get_args(into) if isinstance(a, type) and issubclass(a, msgspec.Struct)]
            into = structs[0] if len(structs) == 1 else None
        if isinstance(step, int) and get_origin(into) is list:
            into = get_args(into)[0]
        elif isinstance(step, str) and isinstance(into, type) and issubclass(into, msgspec.Struct):
            by_name = {f.encode_name: f.type for f in msgspec.structs.fields(into)}
            into = by_name.get(step)
        else:
            return None
    return into


def problem_of(error: msgspec.ValidationError, data: Any, into: Any = None) -> Problem:
    """What a msgspec validation error says, as a Problem about ``data`` (converted to ``into``)."""
    match = _MESSAGE.match(str(error))
    what, at = (match["what"], match["path"] or "") if match else (str(error), "")
    path: tuple[str | int, ...] = tuple(
        step.group(1) if step.group(1) is not None else int(step.group(2)) for step in _STEP.finditer(at)
    )
    if field := re.fullmatch(r"Object missing required field `(.+)`", what):
        declared = _field_type(into, (*path, field[1]))
        return Problem((*path, field[1]), "missing", _type_names(declared) if declared else ())
    if field := re.fullmatch(r"Object contains unknown field `(.+)`", what):
        return Problem((*path, field[1]), "unknown")
    if expected := re.match(r"Expected `(.+?)`", what):
        return Problem(path, "type", tuple(expected[1].split(" | ")), _value_at(data, path))
    return Problem(path, "type", (what,), _value_at(data, path))


def convert(data: Any, into: type[T], error: Callable[[Problem], Exception]) -> T:
    """``data`` as an ``into`` (a msgspec Struct or container of them), or ``error(problem)`` raised."""
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as exc:
        raise error(problem_of(exc, data, into)) from None


def parse_yaml(text: str | bytes, error: Callable[[str], Exception]) -> Any:
    """The YAML document in ``text``; YAML that does not parse raises ``error(reason)``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(str(exc)) from exc


def read_yaml(path: Path, error: Callable[[str], Exception]) -> Any:
    """The YAML document in ``path``; a file that cannot be read or parsed raises ``error(reason)``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(exc)) from exc
    return parse_yaml(text, error)
