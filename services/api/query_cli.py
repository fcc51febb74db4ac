"""``tidewatch query …``: the HTTP API from a terminal, printed as an aligned table, CSV or JSON.

A thin client: it builds the same URLs a browser or R would use (printed with ``--url``), so what works
here works everywhere. Only the standard library, so the command needs nothing the API does not.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import IO

from services.config import Settings

TIMEOUT_S = 300
COPY_BYTES = 1 << 16
WHAT = {
    "stations": "/api/v1/stations",
    "observations": "/api/v1/observations",
    "indicators": "/api/v1/indicators",
    "alerts": "/api/v1/alerts",
    "alert-events": "/api/v1/alerts/events",
}
STREAMED = {"observations", "indicators"}  # these have /export


class QueryError(RuntimeError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=list(WHAT), help="what to list")
    parser.add_argument(
        "--base-url",
        help="API address (default: TIDEWATCH_API_URL, else http://127.0.0.1:8080)",
    )
    parser.add_argument("-s", "--station", action="append", help="station id (repeat or comma-separate)")
    parser.add_argument("-V", "--variable", action="append", help="variable id (observations)")
    parser.add_argument("-i", "--indicator", action="append", help="indicator id (indicators)")
    parser.add_argument("--kind", action="append", help="station kind (stations)")
    parser.add_argument("--start", help="UTC ISO 8601 time, 'now' or relative (-7d, now-6h)")
    parser.add_argument("--end", help="UTC ISO 8601 time, 'now' or relative (default now)")
    parser.add_argument("--last", help="shorthand for --start=-DURATION, e.g. --last 7d")
    parser.add_argument("--qc", help="QC flags: good, usable, not_failed, all, or names/numbers (1,3)")
    parser.add_argument(
        "--bucket",
        help="aggregate into buckets: a fixed width (10min, 1h, 1d, 2w) or UTC calendar months and years "
        "(1mo, 3mo for quarters, 1y); 1m is refused as ambiguous",
    )
    parser.add_argument("--agg", help="aggregates: mean,min,max,count,median,p90 …")
    parser.add_argument(
        "--datum", help="water levels in: station (as stored, default), national_1985 or chart (observations)"
    )
    parser.add_argument("--state", action="append", help="alert state: pending, firing, resolved")
    parser.add_argument("--severity", action="append", help="alert severity")
    parser.add_argument("--rule", action="append", help="alert rule id")
    parser.add_argument("--limit", type=int, help="rows per page (the API's default is 1,000)")
    parser.add_argument(
        "--all", action="store_true", help="every row: stream the export (CSV) or follow the next links"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "csv", "json", "geojson", "netcdf"),
        default="table",
        help="print as (netcdf: every row as a CF-1.8 file, for observations and indicators)",
    )
    parser.add_argument("--out", help="write to this file instead of standard output (netcdf)")
    parser.add_argument("--url", action="store_true", help="print the request URL and exit")


def build_url(args: argparse.Namespace) -> str:
    """The API URL for these options (the CLI's only logic besides printing)."""
    if args.output == "geojson" and args.what != "stations":
        raise QueryError("--output geojson is for stations only")
    if args.out and args.output != "netcdf":
        raise QueryError("--out is for --output netcdf; other outputs print to standard output")
    if args.output == "netcdf" and args.what not in STREAMED:
        raise QueryError("--output netcdf is for observations and indicators")
    start = f"-{args.last.lstrip('-')}" if args.last else args.start
    params: list[tuple[str, str]] = []
    for name, value in (
        ("station", args.station),
        ("variable", args.variable),
        ("indicator", args.indicator),
        ("kind", args.kind),
        ("state", args.state),
        ("severity", args.severity),
        ("rule", args.rule),
    ):
        params += [(name, v) for v in value or ()]
    if args.datum and args.what != "observations":
        raise QueryError("--datum is for observations (water levels)")
    chosen = (
        ("start", start),
        ("end", args.end),
        ("qc", args.qc),
        ("bucket", args.bucket),
        ("datum", args.datum),
    )
    for name, value in chosen:
        if value:
            params.append((name, value))
    if args.agg:
        params.append(("agg", args.agg))
    path = WHAT[args.what]
    export = args.what in STREAMED and (
        args.output == "netcdf" or (args.all and args.output in ("table", "csv"))
    )
    if export:
        path += "/export"
    elif args.limit and args.what != "stations":
        params.append(("limit", str(args.limit)))
    fmt = {"table": "csv", "csv": "csv", "json": "json", "geojson": "geojson", "netcdf": "netcdf"}[
        args.output
    ]
    params.append(("format", fmt))
    return args.base_url.rstrip("/") + path + "?" + urllib.parse.urlencode(params)


def _open(url: str) -> http.client.HTTPResponse:
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise QueryError(f"{exc.code}: {message}") from None
    except urllib.error.URLError as exc:
        raise QueryError(f"cannot reach the API at {url.split('/api/')[0]}: {exc.reason}") from None


def _next_link(header: str | None) -> str | None:
    for part in (header or "").split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


def _pages(url: str | None, follow: bool) -> Iterator[bytes]:
    while url:
        with _open(url) as response:
            body = response.read()
            url = _next_link(response.headers.get("Link")) if follow else None
        yield body


def print_table(rows: list[list[str]], out: IO[str]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _save_binary(url: str, path: str | None, out: IO[str]) -> None:
    """A binary body (NetCDF) into ``path``, or onto standard output when that is not a terminal."""
    if path is None and out.isatty():
        raise QueryError("NetCDF is binary: give --out FILE or redirect standard output to a file")
    with _open(url) as response:
        if path is not None:
            with open(path, "wb") as target:
                while block := response.read(COPY_BYTES):
                    target.write(block)
            return
        out.flush()
        binary = out.buffer  # type: ignore[attr-defined]
        while block := response.read(COPY_BYTES):
            binary.write(block)
        binary.flush()


def run(args: argparse.Namespace, out: IO[str]) -> None:
    url = build_url(args)
    if args.url:
        out.write(url + "\n")
        return
    if args.output == "netcdf":
        _save_binary(url, args.out, out)
        return
    if args.output == "csv" and "/export" in url:
        with _open(url) as response:
            while block := response.read(COPY_BYTES):
                out.write(block.decode())
        return
    if args.output in ("json", "geojson"):
        for body in _pages(url, args.all):
            out.write(json.dumps(json.loads(body), ensure_ascii=False, indent=1) + "\n")
        return
    rows: list[list[str]] = []
    for body in _pages(url, args.all):
        page = list(csv.reader(io.StringIO(body.decode())))
        rows += page if not rows else page[1:]
    if args.output == "csv":
        csv.writer(out, lineterminator="\n").writerows(rows)
    else:
        print_table(rows, out)


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point for ``tidewatch query``; of the settings only the API's address is used."""
    args.base_url = args.base_url or settings.api_url
    try:
        run(args, sys.stdout)
        sys.stdout.flush()
    except QueryError as exc:
        print(f"tidewatch query: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (``| head``): stop quietly, and point stdout at /dev/null so the interpreter's
        # final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
