"""``datum=`` on the observation endpoints: the conversion asked for, refused where it cannot be made.

The arithmetic is ``schemas.datums`` (periods and offsets from the stations' levelling histories); the SQL
adds each period's offset to the level readings in it (``services.api.sql`` ``DatumShift``). Here: the
parameter is read, every chosen station that measures a level must have that datum, and no stored level
reading may fall where its history gives no offset — a refusal names the station and what to ask instead,
rather than a page with holes in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.datums import DATUMS, DATUMS_ZH, LEVEL_INDICATORS, LEVEL_VARIABLES, STATION, missing_datum
from services.api.catalogue import Catalogue
from services.api.db import Database
from services.api.errors import ApiError
from services.api.params import TimeRange, format_time
from services.api.sql import OBSERVATIONS, DatumShift, SeriesTable

DATUM_HELP = (
    "vertical datum of water levels: station (the station zero, as stored; default), national_1985 "
    "(China 1985 National Height Datum) or chart (chart datum, 理论最低潮面); "
    "GET /api/v1/stations/{id} lists a station's datums and levellings"
)
UNCONVERTIBLE = 422
_STORED_IN_SQL = """
SELECT EXISTS (SELECT 1 FROM {table} WHERE station_id = $1::text AND {key} = ANY($2::text[])
               AND time >= $3::timestamptz AND time < $4::timestamptz)
"""


def parse_datum(text: str | None) -> str:
    chosen = (text or STATION).strip().lower()
    if chosen not in DATUMS:
        raise ApiError(f"datum: unknown datum {text!r}; use one of {', '.join(DATUMS)}")
    return chosen


async def resolve_datum(
    db: Database,
    catalogue: Catalogue,
    table: SeriesTable,
    stations: Sequence[str] | None,
    series: Sequence[str] | None,
    text: str | None,
    span: TimeRange,
) -> tuple[DatumShift | None, dict[str, Any]]:
    """The shift a request asks for (None: as stored) and the ``datum`` metadata saying what the levels
    are in; 400 for an unknown datum or one that converts nothing asked, 422 where it cannot convert.
    Readings: the water levels; indicators: the sea-level ones, at stations that measure water level."""
    datum = parse_datum(text)
    chosen = list(stations) if stations is not None else list(catalogue.variables_of)
    convertible = LEVEL_VARIABLES if table is OBSERVATIONS else LEVEL_INDICATORS
    levels = tuple(sorted(set(series) & convertible if series else convertible))
    meta: dict[str, Any] = {
        "id": datum,
        "name": DATUMS[datum],
        "name_zh": DATUMS_ZH[datum],
        f"{table.key}s": list(levels),
    }
    if datum == STATION:
        meta["note"] = "levels above each station's zero, as stored (each station's datum name in /stations)"
        return None, meta
    if not levels:
        raise ApiError(f"datum: {datum} converts water levels ({', '.join(sorted(convertible))}); "
                       f"the {table.key}s asked include none")  # fmt: skip
    measured = set(levels) if table is OBSERVATIONS else LEVEL_VARIABLES  # sea-level indicators: gauges
    measuring = [s for s in chosen if set(catalogue.variables_of[s]) & measured]
    lacking = missing_datum(catalogue.datums, measuring, datum)
    if lacking:
        raise ApiError(
            f"datum: station {', '.join(map(repr, lacking))} has no {datum} offset in its levellings; "
            "ask for datum=station or leave the station out (station=)",
            UNCONVERTIBLE,
        )
    for station in measuring:
        for start_us, end_us in catalogue.datums[station].uncovered(datum, span.start_us, span.end_us):
            stored = _STORED_IN_SQL.format(table=table.table, key=table.key)  # whitelisted names
            rows = await db.fetch(stored, [station, list(levels), start_us, end_us])
            if rows[0][0]:
                raise ApiError(
                    f"datum: station {station!r} has levels from {format_time(start_us)} to "
                    f"{format_time(end_us)} that its levellings give no {datum} offset for; narrow start/end "
                    "or ask for datum=station",
                    UNCONVERTIBLE,
                )
    segments = {s: catalogue.datums[s].segments(datum) for s in measuring}
    meta["offsets"] = {
        s: [{"from": format_time(max(seg.start_us, span.start_us)), "offset_m": seg.offset_m}
            for seg in segs if seg.end_us > span.start_us and seg.start_us < span.end_us]
        for s, segs in segments.items()
    }  # fmt: skip
    meta["note"] = (
        "levels = reading + the height of the station zero above this datum at the reading's time "
        f"(offset_m per station from each date on); other {table.key}s as stored"
    )
    return DatumShift(datum, levels, segments), meta
