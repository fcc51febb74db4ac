"""Column-major chunks of rows and their encodings: JSON records, CSV, JSON lines and Arrow/Parquet.

One chunk is what one database fetch returns; every format encodes a chunk on its own, so a stream
holds one chunk in memory however long the export is. Times are int µs since epoch UTC inside and
``…Z`` ISO 8601 strings (or Arrow ``timestamp[us, UTC]``) outside.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

KINDS = ("time", "float", "int", "bool", "text", "json", "text_list")
_ARROW_TYPES = {
    "time": pa.timestamp("us", tz="UTC"),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "json": pa.string(),
    "text_list": pa.list_(pa.string()),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # one of KINDS

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass(slots=True)
class Chunk:
    """Rows as one list per column, in ``columns`` order."""

    columns: Sequence[Column]
    values: list[list[Any]]

    def __len__(self) -> int:
        return len(self.values[0]) if self.values else 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> list[Any]:
        return self.values[self.names.index(name)]


def time_strings(times_us: Sequence[int | None]) -> list[str | None]:
    """int µs → ISO 8601 UTC with ``Z``; whole seconds without a fraction, others to the microsecond."""
    if not times_us:
        return []
    missing = None in times_us
    raw = np.array([0 if t is None else t for t in times_us] if missing else times_us, dtype=np.int64)
    stamps = raw.astype("datetime64[us]")
    text = np.datetime_as_string(stamps, unit="s")
    fractional = raw % 1_000_000 != 0
    if fractional.any():
        text = np.where(fractional, np.datetime_as_string(stamps, unit="us"), text)
    out: list[str | None] = np.char.add(text, "Z").tolist()
    if missing:
        out = [None if t is None else s for t, s in zip(times_us, out, strict=True)]
    return out


def _text_values(chunk: Chunk) -> list[list[Any]]:
    """Columns as JSON-ready values: times as strings, JSON as parsed, the rest unchanged."""
    out = []
    for column, values in zip(chunk.columns, chunk.values, strict=True):
        out.append(time_strings(values) if column.kind == "time" else values)
    return out


def to_records(chunk: Chunk) -> list[dict[str, Any]]:
    names = chunk.names
    return [dict(zip(names, row, strict=True)) for row in zip(*_text_values(chunk), strict=True)]


def to_ndjson(chunk: Chunk) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in to_records(chunk))


def csv_header(columns: Sequence[Column]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([c.name for c in columns])
    return buffer.getvalue()


def to_csv(chunk: Chunk) -> str:
    """Rows only (the header is written once per response); lists joined by ``;``, JSON as text."""
    columns = []
    for column, values in zip(chunk.columns, _text_values(chunk), strict=True):
        if column.kind == "json":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        elif column.kind == "text_list":
            values = [None if v is None else ";".join(v) for v in values]
        columns.append(values)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.kind]) for c in columns])


def to_arrow(chunk: Chunk) -> pa.RecordBatch:
    arrays = []
    for column, values in zip(chunk.columns, chunk.values, strict=True):
        if column.kind == "json":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(pa.array(values, type=_ARROW_TYPES[column.kind]))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(chunk.columns))
