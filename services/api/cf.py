"""CF-1.8 and ACDD-1.3 metadata for NetCDF exports: what each variable and the file say about themselves.

Pure: no I/O. The vocabulary's ``cf`` field holds a CF standard name, or a FLUXNET name where CF has
none; only the CF ones become ``standard_name`` (the rest go to ``long_name``/``comment``). Units the
UDUNITS grammar cannot read, or reads as something else (``g C m-2`` would be grams times coulombs),
are written in UDUNITS form with the original spelling kept in ``comment``. QC flags are QARTOD's
numbers with the API's names, as ancillary variables (CF §3.5 flags).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.api.data_status import STATUSES
from services.api.flags import QC_FLAG_NAMES
from services.api.params import SECOND_US, format_time

CONVENTIONS = "CF-1.8, ACDD-1.3"
# Checked against this table in the tests: every other vocabulary `cf` value is a CF standard name.
STANDARD_NAME_TABLE = "CF Standard Name Table v93"
# FLUXNET names with a CF equivalent (FC: net CO2 flux, positive upward, as CF's).
CF_NAME_FOR = {"FC": "surface_upward_mole_flux_of_carbon_dioxide"}
# No CF standard name: left out of exports unless asked for by name (ACDD wants one on every variable).
NO_CF_STANDARD_NAME = frozenset({"FCH4", "USTAR", "battery_voltage"})
# unit as stored → (UDUNITS unit written, what the stored unit means)
UNIT_SPELLINGS: dict[str, tuple[str, str]] = {
    "NTU": ("1", "nephelometric turbidity units (NTU); CF counts turbidity as dimensionless"),
    "g C m-2": ("g m-2", "grams of carbon per square metre (g C m-2)"),
    "g CO2-eq m-2": ("g m-2", "grams of CO2-equivalent per square metre (g CO2-eq m-2)"),
}
TIME_UNITS = "seconds since 1970-01-01T00:00:00Z"
FILL_VALUE = 9.969209968386869e36  # netCDF's default double fill (NC_FILL_DOUBLE)
QC_FILL = -127  # netCDF's default byte fill: no reading of this variable at this station and time
QC_FLAG_VALUES = tuple(sorted(QC_FLAG_NAMES))
QARTOD_REFERENCE = "https://ioos.noaa.gov/project/qartod/"


@dataclass(frozen=True, slots=True)
class Series:
    """One data variable of the file: a vocabulary variable or an indicator."""

    name: str  # variable or indicator id, also the netCDF variable name
    description: str
    unit: str  # as stored (vocabulary or indicator catalogue)
    cf_name: str | None = None  # vocabulary `cf`; None for indicators
    qc: bool = False  # has a QC flag (readings), written as ``{name}_qc``


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    name: str
    latitude: float
    longitude: float
    datum_name: str
    msl_above_datum_m: float


def standard_name(series: Series) -> str | None:
    if not series.cf_name or series.cf_name in NO_CF_STANDARD_NAME:
        return None
    return CF_NAME_FOR.get(series.cf_name, series.cf_name)


def in_default_export(series: Series) -> bool:
    """Unasked, an export holds the variables with a CF standard name, but not a buoy's measured
    position: a timeSeries file keeps the station's fixed position, and latitude/longitude data
    variables would make readers (and compliance-checker) take every variable for a trajectory."""
    return standard_name(series) not in (None, "latitude", "longitude")


def cf_units(unit: str) -> tuple[str, str | None]:
    """→ (UDUNITS spelling, a note on the stored unit or None)."""
    return UNIT_SPELLINGS.get(unit, (unit, None))


def qc_name(series: Series) -> str:
    return f"{series.name}_qc"


def variable_attributes(series: Series) -> dict[str, Any]:
    """Attributes of the data variable (on the ``obs`` sample dimension)."""
    units, note = cf_units(series.unit)
    attrs: dict[str, Any] = {"long_name": series.description}
    name = standard_name(series)
    if name:
        attrs["standard_name"] = name
    attrs["units"] = units
    attrs["coordinates"] = "time latitude longitude station_id"
    attrs["coverage_content_type"] = "physicalMeasurement" if series.qc else "modelResult"
    comments = []
    if series.cf_name and name != series.cf_name:
        comments.append(f"FLUXNET or project name: {series.cf_name}")
    if note:
        comments.append(f"stored unit: {note}")
    if series.qc:
        attrs["ancillary_variables"] = f"{qc_name(series)} {status_name(series)}"
        comments.append(f"stored as reported and never dropped; judge by {qc_name(series)}")
    if comments:
        attrs["comment"] = "; ".join(comments)
    return attrs


def status_name(series: Series) -> str:
    return f"{series.name}_status"


def status_attributes(series: Series) -> dict[str, Any]:
    """Each reading's data status as CF flag values: 0 preliminary, 1 verified (reviewed)."""
    values = tuple(range(len(STATUSES)))
    return {
        "long_name": f"data status of {series.name}: preliminary, or verified by an operator's review",
        "standard_name": "status_flag",
        "flag_values": values,
        "flag_meanings": " ".join(STATUSES),
        "valid_range": (min(values), max(values)),
        "coordinates": "time latitude longitude station_id",
        "coverage_content_type": "qualityInformation",
        "comment": "0 preliminary (not yet reviewed), 1 verified; fill: no such reading",
    }


def test_qc_name(series: Series, test: str) -> str:
    return f"{series.name}_qc_{test}"


def qc_attributes(series: Series, test: str | None = None) -> dict[str, Any]:
    """The aggregate QARTOD flag of each reading (the worst of its tests), or one test's flag (``test``:
    a name of ``schemas.quality.TESTS``, each with its CF standard name), as CF flag values."""
    if test is None:
        attrs: dict[str, Any] = {
            "long_name": f"QARTOD aggregate QC flag of {series.name}",
            "standard_name": "aggregate_quality_flag",
        }
    else:
        attrs = {
            "long_name": f"QARTOD {test.replace('_', ' ')} test flag of {series.name}",
            "standard_name": f"{test}_test_quality_flag",
        }
    attrs["flag_values"] = QC_FLAG_VALUES
    attrs["flag_meanings"] = " ".join(QC_FLAG_NAMES[f] for f in QC_FLAG_VALUES)
    attrs["valid_range"] = (min(QC_FLAG_VALUES), max(QC_FLAG_VALUES))
    attrs["coordinates"] = "time latitude longitude station_id"
    attrs["coverage_content_type"] = "qualityInformation"
    attrs["references"] = QARTOD_REFERENCE
    attrs["comment"] = "1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing; fill: no such reading" + (
        "" if test is None else " or the test is not configured for it"
    )
    return attrs


def iso_duration(span_us: int) -> str:
    """ISO 8601 duration in days, hours, minutes and seconds (``P1DT6H``)."""
    seconds = max(span_us, 0) // SECOND_US
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days or not clock else "") + (f"T{clock}" if clock else "")


def dataset_id(what: str, stations: Sequence[str], series: Sequence[str], start_us: int, end_us: int) -> str:
    """Names the selection, not the bytes: the same request gives the same id."""
    digest = hashlib.sha256("|".join([what, *stations, "#", *series]).encode()).hexdigest()[:12]
    return f"tidewatch_{what}_{format_time(start_us)}_{format_time(end_us)}_{digest}".replace(":", "")


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the written rows span (None where no row was written)."""

    start_us: int | None
    end_us: int | None
    rows: int


def global_attributes(
    *,
    what: str,
    stations: Sequence[Station],
    series: Sequence[Series],
    requested: tuple[int, int],
    coverage: Coverage,
    created_us: int,
    request_url: str,
    version: str,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """ACDD-1.3 global attributes; ``overrides`` (the operator's file) replace the defaults."""
    start_us = coverage.start_us if coverage.start_us is not None else requested[0]
    end_us = coverage.end_us if coverage.end_us is not None else requested[1]
    lats = [s.latitude for s in stations] or [0.0]
    lons = [s.longitude for s in stations] or [0.0]
    names = [n for n in (standard_name(s) for s in series) if n]
    created = format_time(created_us)
    station_ids = [s.id for s in stations]
    attrs: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "featureType": "timeSeries",
        "cdm_data_type": "Station",
        "title": f"tidewatch {what}: {len(stations)} stations, "
        f"{format_time(start_us)} to {format_time(end_us)}",
        "summary": (
            f"{'Readings' if what == 'observations' else 'Indicators'} of the tidewatch coastal observation "
            f"network ({', '.join(station_ids) or 'no station'}): {', '.join(s.name for s in series)}. "
            + (
                "Values as reported, each with its IOOS QARTOD aggregate QC flag as an ancillary variable."
                if what == "observations"
                else "Computed in event time from QC-good readings; see the indicator catalogue."
            )
        ),
        # CF standard names where the file has any (so the vocabulary is true), else the series ids.
        "keywords": ", ".join(dict.fromkeys(names or [s.name for s in series])) or what,
        "standard_name_vocabulary": STANDARD_NAME_TABLE,
        "id": dataset_id(what, station_ids, [s.name for s in series], *requested),
        "naming_authority": "tidewatch",
        "institution": "tidewatch coastal observation network",
        "creator_name": "tidewatch",
        "creator_type": "institution",
        "publisher_name": "tidewatch",
        "publisher_type": "institution",
        "project": "tidewatch coastal monitoring",
        "source": "in-situ observations from tide gauges, buoys and wetland stations"
        if what == "observations"
        else "tidewatch stream workers (streams/indicators) over QC-good readings",
        "processing_level": "real-time IOOS QARTOD quality control (ioos_qc); values not adjusted"
        if what == "observations"
        else "derived indicators",
        "references": QARTOD_REFERENCE,
        "license": "not stated by the data provider; ask the network operator before redistributing",
        "product_version": version,
        "history": f"{created} tidewatch {version}: GET {request_url}",
        "date_created": created,
        "date_metadata_modified": created,
        "geospatial_lat_min": min(lats),
        "geospatial_lat_max": max(lats),
        "geospatial_lat_units": "degrees_north",
        "geospatial_lon_min": min(lons),
        "geospatial_lon_max": max(lons),
        "geospatial_lon_units": "degrees_east",
        "geospatial_bounds": _wkt_bounds(lats, lons),
        "geospatial_bounds_crs": "EPSG:4326",
        "time_coverage_start": format_time(start_us),
        "time_coverage_end": format_time(end_us),
        "time_coverage_duration": iso_duration(end_us - start_us),
        "comment": f"{coverage.rows} samples; times are UTC; requested range "
        f"[{format_time(requested[0])}, {format_time(requested[1])})",
    }
    if names:
        attrs["keywords_vocabulary"] = STANDARD_NAME_TABLE
    attrs.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return attrs


def _wkt_bounds(lats: Iterable[float], lons: Iterable[float]) -> str:
    lat, lon = list(lats), list(lons)
    if min(lat) == max(lat) and min(lon) == max(lon):
        return f"POINT ({lat[0]} {lon[0]})"
    s, n, w, e = min(lat), max(lat), min(lon), max(lon)
    return f"POLYGON (({s} {w}, {n} {w}, {n} {e}, {s} {e}, {s} {w}))"


def created_now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * SECOND_US)
