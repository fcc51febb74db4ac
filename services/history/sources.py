"""Historical files → readings as columns (pure: a path in, columns out; no database).

Three formats, recognised by content (or named with ``--format``):

- ``csv``: the API's own export (``/api/v1/observations/export?format=csv``): columns ``time``,
  ``station_id``, ``variable``, ``value`` and optionally ``unit`` (others, such as ``qc_flag``, are
  ignored: QC is judged again). Empty ``value`` = a missing reading.
- ``netcdf``: NetCDF-CF discrete sampling geometry ``timeSeries`` (CF 1.6+: orthogonal or incomplete
  multidimensional, contiguous or indexed ragged arrays, or one station), as tidewatch, xarray,
  netCDF4 and ERDDAP write it. Data variables are named by their vocabulary id (or mapped with
  ``--map``); a fill value is no reading.
- ``coops``: NOAA CO-OPS water levels as its data API writes CSV (products ``water_level``,
  ``hourly_height``, ``one_minute_water_level``; request ``units=metric&time_zone=gmt`` and the
  station's datum): ``Date Time, Water Level, …`` rows; the file names no station, so ``--station``.

Problems found while reading (a time that is not RFC 3339, a value that is not a number, a short
row) are refusals with the contract's reason codes, kept with their row number and raw text.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from schemas.contract import BAD_TIME, SCHEMA, parse_time_us
from services.history.file_readings import FileFormatError, FileReadings, RowRefusal

FORMATS = ("csv", "netcdf", "coops")
NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def detect_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(NETCDF_MAGIC):
        return "netcdf"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    names = {n.strip().lower() for n in first.split(",")}
    if {"time", "station_id", "variable", "value"} <= names:
        return "csv"
    if first.lower().startswith("date time"):
        return "coops"
    raise FileFormatError(
        f"{path}: not a format tidewatch imports (CSV export with time,station_id,variable,value; "
        "NetCDF-CF timeSeries; NOAA CO-OPS CSV): give --format"
    )


def _row_text(fields: list[str]) -> bytes:
    return ",".join(fields).encode("utf-8", "backslashreplace")


class _Times:
    """RFC 3339 text → µs with the contract's parser, each distinct text parsed once."""

    def __init__(self) -> None:
        self._seen: dict[str, int | str] = {}

    def parse(self, text: str) -> int | str:
        """µs, or the refusal detail."""
        found = self._seen.get(text)
        if found is None:
            try:
                found = parse_time_us(text)
            except ValueError as exc:
                found = str(exc)
            if len(self._seen) < 1_000_000:
                self._seen[text] = found
        return found


def _number(text: str) -> float | str:
    """A value cell: a finite number, empty for missing (NaN), or the refusal detail."""
    if not text.strip():
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return f"value {text!r} is not a number"
    return value if math.isfinite(value) else f"value {text!r} is not a finite number"


class _Columns:
    def __init__(self) -> None:
        self.station: list[str] = []
        self.variable: list[str] = []
        self.time_us: list[int] = []
        self.value: list[float] = []
        self.row: list[int] = []
        self.unit: list[str] = []

    def done(self, path: Path, refused: list[RowRefusal], with_unit: bool) -> FileReadings:
        return FileReadings(
            str(path),
            "row",
            np.array(self.station, dtype=object),
            np.array(self.variable, dtype=object),
            np.array(self.time_us, dtype=np.int64),
            np.array(self.value, dtype=np.float64),
            np.array(self.row, dtype=np.int64),
            np.array(self.unit, dtype=object) if with_unit else None,
            refused,
        )


def _export_times(texts: list[str], times: _Times) -> tuple[np.ndarray, list[str | None]]:
    """µs per time text, and the refusal detail of each one refused (None where accepted).

    The export's own form, ``YYYY-MM-DDThh:mm:ssZ``, is checked and parsed column-wise; any
    other text goes through the contract's RFC 3339 parser one distinct text at a time.
    """
    out = np.zeros(len(texts), dtype=np.int64)
    problems: list[str | None] = [None] * len(texts)
    column = np.array(texts, dtype=str)
    fast = np.zeros(len(texts), dtype=bool)
    if column.dtype.itemsize // 4 >= 20:
        chars = column.view(np.uint32).reshape(len(texts), -1)
        fast = (chars[:, 20:] == 0).all(axis=1) if chars.shape[1] > 20 else np.ones(len(texts), dtype=bool)
        for position, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "Z")):
            fast &= chars[:, position] == ord(char)
        digits = chars[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]]
        fast &= ((digits >= ord("0")) & (digits <= ord("9"))).all(axis=1)
        where = np.flatnonzero(fast)
        try:
            stamps = column[where].astype("U19").astype("datetime64[s]")
            out[where] = stamps.astype(np.int64) * 1_000_000
        except ValueError:  # a month 13 and the like: every text through the contract's parser
            fast[:] = False
    for i in np.flatnonzero(~fast).tolist():
        found = times.parse(texts[i])
        if isinstance(found, str):
            problems[i] = found
        else:
            out[i] = found
    return out, problems


def _values(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of the value column (empty = missing, NaN), and where a text is not a finite number."""
    column = pd.Series(texts, dtype=object)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = column.str.strip().eq("").to_numpy()
    bad = ~np.isfinite(values) & ~empty
    values[empty] = np.nan
    return values, bad


# Bytes of CSV parsed at a time (~300,000 rows of the export): what one block of a file holds in memory.
CSV_BLOCK_BYTES = 16 << 20
# Readings per block of a CO-OPS file (read line by line).
COOPS_BLOCK_ROWS = 500_000

_Block = tuple[list[str], dict[str, np.ndarray], np.ndarray, list[RowRefusal]]


def _tokenised(path: Path, block_bytes: int) -> Iterator[_Block]:
    """(header, text columns, line number of each row, refusals of rows with the wrong field count) per
    block of the file, in order.

    pyarrow's C++ reader splits the file a block at a time; a row with another number of fields than the
    header is handed back with its line number (a blank line is a row of empty fields), so every other
    row's line number follows from them (rows hold no line breaks: ``newlines_in_values`` off).
    """
    refused: list[RowRefusal] = []
    skipped: list[int] = []  # every line handed back, blank or not: the rows' numbers step over them
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        names = next(csv.reader(handle), [])

    def bad_row(row: pa_csv.InvalidRow) -> str:
        skipped.append(row.number or 0)
        if row.text.strip():
            detail = f"{row.actual_columns} fields, the header has {row.expected_columns}"
            refused.append(
                RowRefusal(row.number or 0, SCHEMA, detail, row.text.encode("utf-8", "backslashreplace"))
            )
        return "skip"

    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(encoding="utf8", use_threads=False, block_size=block_bytes),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=bad_row, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False, auto_dict_encode=False, timestamp_parsers=[],
            ),
        )  # fmt: skip
        header = [name.strip().lstrip("\ufeff") for name in reader.schema.names]
        next_line = 2  # the line of the next row read (the header is line 1)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            # Line next_line + k for the k-th row of the block, moved past every skipped line at or
            # after next_line (a skipped line of a later block lies past the block's last row).
            lines = np.arange(batch.num_rows, dtype=np.int64) + next_line
            for line in sorted(x for x in skipped if x >= next_line):
                lines[lines >= line] += 1
            if batch.num_rows:
                next_line = int(lines[-1]) + 1
            columns = {name: batch.column(i).to_numpy(zero_copy_only=False) for i, name in enumerate(header)}
            taken, refused[:] = list(refused), []
            yield header, columns, lines, taken
    except pa.ArrowInvalid as exc:
        raise FileFormatError(f"{path}: not a CSV file ({exc})") from exc
    if refused:
        empty = {name: np.zeros(0, dtype=object) for name in header}
        yield header, empty, np.zeros(0, dtype=np.int64), list(refused)


def iter_csv_export(path: Path, block_bytes: int | None = None) -> Iterator[FileReadings]:
    """The API's CSV export (one reading per row), a block of ``block_bytes`` (default
    ``CSV_BLOCK_BYTES``) of the file at a time."""
    times = _Times()
    for header, columns, lines, refused in _tokenised(path, block_bytes or CSV_BLOCK_BYTES):
        missing = [c for c in ("time", "station_id", "variable", "value") if c not in header]
        if missing:
            raise FileFormatError(f"{path}: CSV header lacks {', '.join(missing)}")
        yield _export_block(path, header, columns, lines, refused, times)


def _export_block(
    path: Path, header: list[str], columns: dict[str, np.ndarray], lines: np.ndarray,
    refused: list[RowRefusal], times: _Times,
) -> FileReadings:  # fmt: skip
    station, variable, value_text = columns["station_id"], columns["variable"], columns["value"]
    stamps, time_problems = _export_times(columns["time"].tolist(), times)
    values, not_numbers = _values(value_text.tolist())

    def raw(i: int) -> bytes:
        return _row_text([str(columns[name][i]) for name in header])

    keep = np.ones(len(lines), dtype=bool)
    for i, problem in enumerate(time_problems):
        if problem is not None:
            keep[i] = False
            refused.append(RowRefusal(int(lines[i]), BAD_TIME, problem, raw(i), station[i]))
    for i in np.flatnonzero(not_numbers & keep).tolist():
        keep[i] = False
        detail = f"{variable[i]!r}: value {value_text[i]!r} is not a finite number"
        refused.append(RowRefusal(int(lines[i]), SCHEMA, detail, raw(i), station[i]))
    pick = np.flatnonzero(keep)
    return FileReadings(
        str(path),
        "row",
        station[pick],
        variable[pick],
        stamps[pick],
        values[pick],
        lines[pick],
        columns["unit"][pick] if "unit" in columns else None,
        sorted(refused, key=lambda r: r.row),
    )


def read_csv_export(path: Path) -> FileReadings:
    """The API's CSV export, whole."""
    return joined(path, "row", list(iter_csv_export(path)))


def joined(path: Path, label: str, blocks: list[FileReadings]) -> FileReadings:
    """Blocks of one file as one (for callers that want the file whole)."""
    if len(blocks) == 1:
        return blocks[0]
    with_unit = any(b.unit is not None for b in blocks)
    return FileReadings(
        str(path),
        label,
        np.concatenate([b.station for b in blocks]) if blocks else np.zeros(0, dtype=object),
        np.concatenate([b.variable for b in blocks]) if blocks else np.zeros(0, dtype=object),
        np.concatenate([b.time_us for b in blocks]) if blocks else np.zeros(0, dtype=np.int64),
        np.concatenate([b.value for b in blocks]) if blocks else np.zeros(0),
        np.concatenate([b.row for b in blocks]) if blocks else np.zeros(0, dtype=np.int64),
        np.concatenate([b.unit if b.unit is not None else np.full(len(b), "", dtype=object) for b in blocks])
        if with_unit
        else None,
        sorted((r for b in blocks for r in b.refused), key=lambda r: r.row),
        blocks[0].ignored if blocks else [],
    )


COOPS_VARIABLE = "water_level_m"
_COOPS_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?")


def iter_coops(path: Path, station: str | None, block_rows: int | None = None) -> Iterator[FileReadings]:
    """NOAA CO-OPS data API CSV: ``Date Time, Water Level, …``; times GMT, metres (``units=metric``);
    ``block_rows`` readings at a time."""
    if not station:
        raise FileFormatError(f"{path}: a NOAA CO-OPS file names no station: give --station")
    out, refused, times = _Columns(), [], _Times()
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [h.strip().lower() for h in next(reader, [])]
        if not header or header[0] != "date time" or "water level" not in header:
            raise FileFormatError(f"{path}: CO-OPS header must start 'Date Time' and name 'Water Level'")
        iv = header.index("water level")
        for fields in reader:
            line = reader.line_num
            if not fields or not fields[0].strip():
                continue
            if fields[0].lstrip().lower().startswith("error"):  # the API's in-band error text
                raise FileFormatError(f"{path}: line {line}: {','.join(fields)[:200]}")
            stamp = fields[0].strip()
            if _COOPS_TIME.fullmatch(stamp) is None:
                refused.append(
                    RowRefusal(
                        line,
                        BAD_TIME,
                        f"time {stamp!r} is not 'YYYY-MM-DD hh:mm' (GMT)",
                        _row_text(fields),
                        station,
                    )
                )
                continue
            at = times.parse(stamp.replace(" ", "T") + (":00Z" if len(stamp) == 16 else "Z"))
            if isinstance(at, str):
                refused.append(RowRefusal(line, BAD_TIME, at, _row_text(fields), station))
                continue
            value = _number(fields[iv] if iv < len(fields) else "")
            if isinstance(value, str):
                refused.append(RowRefusal(line, SCHEMA, value, _row_text(fields), station))
                continue
            out.station.append(station)
            out.variable.append(COOPS_VARIABLE)
            out.time_us.append(at)
            out.value.append(value)
            out.row.append(line)
            if len(out.row) >= (block_rows or COOPS_BLOCK_ROWS):
                yield out.done(path, refused, False)
                out, refused = _Columns(), []
    if out.row or refused:
        yield out.done(path, refused, False)


def read_coops(path: Path, station: str | None) -> FileReadings:
    """A CO-OPS file whole."""
    return joined(path, "row", list(iter_coops(path, station)))


def iter_readings(
    path: Path,
    fmt: str | None = None,
    station: str | None = None,
    names: Mapping[str, str] | None = None,
    variables: frozenset[str] = frozenset(),
) -> Iterator[FileReadings]:
    """A file's readings a block at a time (CSV export and CO-OPS; a NetCDF file comes whole, as its
    arrays are read), so an import holds one block of a file in memory, not the file."""
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        yield from iter_csv_export(path)
    elif fmt == "coops":
        yield from iter_coops(path, station)
    else:
        yield read_file(path, fmt, station, names, variables)


def stations_in(path: Path, fmt: str | None = None, station: str | None = None) -> set[str]:
    """The station ids a file names, read without its readings (for the run's configuration digest)."""
    fmt = fmt or detect_format(path)
    if fmt == "coops":
        return {station} if station else set()
    if fmt == "netcdf":
        from services.history.netcdf_source import netcdf_stations

        return netcdf_stations(path, station)
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        header = [name.strip() for name in next(csv.reader(handle), [])]
    missing = [c for c in ("time", "station_id", "variable", "value") if c not in header]
    if missing:
        raise FileFormatError(f"{path}: CSV header lacks {', '.join(missing)}")
    found: set[str] = set()
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(encoding="utf8", use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            convert_options=pa_csv.ConvertOptions(
                include_columns=["station_id"], column_types={"station_id": pa.string()}
            ),
        )
        for batch in reader:
            found.update(str(s) for s in pc.unique(batch.column(0)).to_pylist() if s is not None)
    except pa.ArrowInvalid as exc:
        raise FileFormatError(f"{path}: not a CSV file ({exc})") from exc
    return found


def read_file(
    path: Path,
    fmt: str | None = None,
    station: str | None = None,
    names: Mapping[str, str] | None = None,
    variables: frozenset[str] = frozenset(),
) -> FileReadings:
    """Read one file; ``names`` maps file variable names to vocabulary ids (NetCDF), ``variables``
    are the vocabulary ids (a NetCDF variable so named is a reading)."""
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return read_csv_export(path)
    if fmt == "coops":
        return read_coops(path, station)
    if fmt == "netcdf":
        from services.history.netcdf_source import read_netcdf

        return read_netcdf(path, names or {}, variables, station)
    raise FileFormatError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
