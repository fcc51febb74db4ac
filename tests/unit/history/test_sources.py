"""Reading historical files into columns: NetCDF-CF layouts, NOAA CO-OPS CSV, the export CSV, and
the contract's rules applied to them column-wise."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from schemas.contract import BAD_TIME, OUT_OF_RANGE, SCHEMA, UNKNOWN_STATION, WRONG_UNIT
from schemas.registry import default_registry_path, load_registry
from services.history.file_readings import FileFormatError
from services.history.netcdf_source import time_scale
from services.history.sources import detect_format, read_file
from services.history.validate import check

VOCABULARY = frozenset(load_registry(default_registry_path()).variables)
T0_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


def test_cf_time_units_in_the_forms_files_use() -> None:
    assert time_scale("seconds since 1970-01-01T00:00:00Z") == (1_000_000, 0)
    assert time_scale("days since 2025-01-01") == (86_400_000_000, T0_US)
    assert time_scale("hours since 2025-01-01 00:00:00 UTC") == (3_600_000_000, T0_US)
    assert time_scale("minutes since 2025-01-01T08:00:00+08:00") == (60_000_000, T0_US)
    with pytest.raises(FileFormatError, match="calendar"):
        time_scale("days since 2025-01-01", "noleap")
    with pytest.raises(FileFormatError, match="since"):
        time_scale("fortnights since 2025-01-01")


def _ragged(path: Path) -> None:
    """Contiguous ragged array, as ERDDAP's .ncCF writes a timeSeries: char station ids, a rowSize."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.featureType = "timeSeries"
        ds.createDimension("station", 2)
        ds.createDimension("obs", 5)
        ds.createDimension("id_strlen", 8)
        ids = ds.createVariable("station_name", "S1", ("station", "id_strlen"))
        ids.cf_role = "timeseries_id"
        ids[:] = netCDF4.stringtochar(np.array(["dalian", "yingkou"], dtype="S8"))
        size = ds.createVariable("rowSize", "i4", ("station",))
        size.sample_dimension = "obs"
        size[:] = [3, 2]
        time = ds.createVariable("time", "f8", ("obs",))
        time.units, time.standard_name = "hours since 2025-01-01T00:00:00Z", "time"
        time[:] = [0, 1, 2, 0, 1]
        level = ds.createVariable("sea_level", "f4", ("obs",), fill_value=-999.0)
        level.units = "m"
        level[:] = np.ma.masked_array([1.0, 1.5, 2.0, 0.5, 0.0], mask=[0, 0, 0, 0, 1])
        flags = ds.createVariable("sea_level_qc", "i1", ("obs",))
        flags.flag_values = np.array([1, 4], dtype="i1")
        flags[:] = 1


def test_a_contiguous_ragged_file_with_a_mapped_variable(tmp_path: Path) -> None:
    path = tmp_path / "erddap.nc"
    _ragged(path)
    assert detect_format(path) == "netcdf"
    with pytest.raises(FileFormatError, match="--map"):
        read_file(path, variables=VOCABULARY)
    got = read_file(path, names={"sea_level": "water_level_m"}, variables=VOCABULARY)
    assert got.station.tolist() == ["dalian"] * 3 + ["yingkou"]
    assert got.time_us.tolist() == [T0_US, T0_US + 3_600_000_000, T0_US + 7_200_000_000, T0_US]
    assert got.value.tolist() == [1.0, 1.5, 2.0, 0.5]
    assert set(got.variable.tolist()) == {"water_level_m"} and "sea_level_qc" in got.ignored


def test_a_single_station_file_needs_its_station(tmp_path: Path) -> None:
    path = tmp_path / "one.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 2)
        time = ds.createVariable("time", "i8", ("time",))
        time.units = "seconds since 2025-01-01T00:00:00Z"
        time[:] = [0, 60]
        ds.createVariable("water_level_m", "f8", ("time",))[:] = [1.0, 1.1]
    with pytest.raises(FileFormatError, match="--station"):
        read_file(path, variables=VOCABULARY)
    got = read_file(path, station="dalian", variables=VOCABULARY)
    assert got.station.tolist() == ["dalian", "dalian"] and got.value.tolist() == [1.0, 1.1]


COOPS = """Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality
2025-01-01 00:00,1.234,0.003,0,0,0,0,v
2025-01-01 00:06,,,0,0,0,0,v
2025-01-01 00:12,1.301,0.004,0,0,0,0,v
2025-13-01 00:18,1.301,0.004,0,0,0,0,v
2025-01-01 00:24,n/a,0.004,0,0,0,0,v
"""


def test_noaa_coops_rows_with_a_missing_value_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "coops.csv"
    path.write_text(COOPS)
    assert detect_format(path) == "coops"
    with pytest.raises(FileFormatError, match="--station"):
        read_file(path)
    got = read_file(path, station="dalian")
    assert got.time_us.tolist() == [T0_US, T0_US + 360_000_000, T0_US + 720_000_000]
    assert got.value[0] == 1.234 and np.isnan(got.value[1])  # empty = a missing reading
    assert [(r.row, r.reason) for r in got.refused] == [(5, BAD_TIME), (6, SCHEMA)]


def test_export_csv_times_in_other_rfc3339_forms_and_the_contract_checks(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "time,station_id,variable,value,unit\n"
        "2025-01-01T00:00:00Z,dalian,water_level_m,1.5,m\n"
        "2025-01-01T08:01:00.5+08:00,dalian,water_level_m,1.6,m\n"
        "2025-01-01T00:02:00,dalian,water_level_m,1.7,m\n"
        "2025-01-01T00:03:00Z,dalian,water_level_m,nan,m\n"
        "2025-01-01T00:04:00Z,dalian,water_level_m,,m\n"
        "2025-01-01T00:05:00Z,dalian,water_level_m,1.8,cm\n"
        "2025-01-01T00:06:00Z,dalian,water_level_m,30.0,m\n"
        "2025-01-01T00:07:00Z,nowhere,water_level_m,1.0,m\n"
    )
    got = read_file(path)
    assert got.time_us.tolist()[:2] == [T0_US, T0_US + 60_500_000]
    assert [(r.row, r.reason) for r in got.refused] == [(4, BAD_TIME), (5, SCHEMA)]
    checked = check(load_registry(default_registry_path()), got, T0_US + 3_600_000_000)
    assert got.row[checked.accepted].tolist() == [2, 3, 6]
    assert [(r.row, r.reason) for r in checked.refused] == [
        (7, WRONG_UNIT),
        (8, OUT_OF_RANGE),
        (9, UNKNOWN_STATION),
    ]
    assert checked.refused[1].detail.startswith("water_level_m=30.0 at 2025-01-01T00:06:00Z outside")


def test_a_file_of_no_known_format_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(FileFormatError, match="--format"):
        read_file(path)
