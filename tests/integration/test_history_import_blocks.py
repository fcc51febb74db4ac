"""``tidewatch import`` reads a file a block at a time (real PostgreSQL): the stored readings, their flags
and the dead letters with their row numbers are the same whatever the block size, in export order
(station, variable, time: a station's variables come in different blocks) and with refused rows."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import numpy as np
import pytest

from services.db.timestamps import us
from services.history import sources
from tests.support.database import dalian_tide, fresh_database, import_files

pytestmark = pytest.mark.integration

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z


def _export_order_csv(path: Path) -> None:
    """Two days of Dalian in the export's order (variable by variable), spikes, and refused rows."""
    level = dalian_tide(2)
    level[[300, 1500, 2600]] += 0.9
    lines = ["time,station_id,variable,value,unit"]
    for variable, unit, values in (
        ("water_level_m", "m", level),
        ("water_temperature_degC", "degC", 8 + 0.3 * np.sin(np.arange(len(level)) / 300)),
    ):
        for i, value in enumerate(values.tolist()):
            stamp = np.datetime_as_string(np.datetime64(START_S + 60 * i, "s")) + "Z"
            lines.append(f"{stamp},dalian,{variable},{value:.4f},{unit}")
            if i % 997 == 5:
                lines.append("not,a,reading")
            if i % 1201 == 7:
                lines.append(f"{stamp},dalian,{variable},NaN-ish,{unit}")
            if i % 1409 == 9:
                lines.append(f"{stamp},atlantis,{variable},1.0,{unit}")
    path.write_text("\n".join(lines) + "\n")


async def _stored(url: str) -> tuple[list[tuple], list[tuple]]:
    conn = await asyncpg.connect(url)
    try:
        readings = await conn.fetch(
            f"SELECT variable, {us('time')} AS t, value, qc_flag, qc_tests::text AS tests FROM observations "
            "ORDER BY variable, time"
        )
        letters = await conn.fetch("SELECT reason, detail FROM dead_letters ORDER BY detail, reason")
    finally:
        await conn.close()
    return [tuple(r) for r in readings], [tuple(r) for r in letters]


async def test_a_file_read_in_small_blocks_imports_as_it_does_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dalian.csv"
    _export_order_csv(path)
    outcomes = []
    for block_bytes in (sources.CSV_BLOCK_BYTES, 8192):
        monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", block_bytes)
        blocks = len(list(sources.iter_csv_export(path)))
        assert blocks == 1 if block_bytes > 1 << 20 else blocks > 20
        async with fresh_database("tidewatch_import_blocks") as settings:
            await import_files(settings, [path])
            outcomes.append(await _stored(settings.database_url))
    (whole_rows, whole_letters), (block_rows, block_letters) = outcomes
    assert len(whole_rows) == 2 * 2 * 1440 and any(r[3] != 1 for r in whole_rows)  # spikes flagged
    assert block_rows == whole_rows
    assert block_letters == whole_letters and len(whole_letters) > 8
    assert {reason for reason, _ in whole_letters} == {"schema_violation", "unknown_station"}


def test_blocks_number_rows_as_the_file_does(tmp_path: Path) -> None:
    path = tmp_path / "dalian.csv"
    _export_order_csv(path)
    lines = path.read_text().split("\n")
    blocks = list(sources.iter_csv_export(path, block_bytes=8192))
    assert len(blocks) > 20
    rows = np.concatenate([b.row for b in blocks])
    times = np.concatenate([b.time_us for b in blocks])
    stations = np.concatenate([b.station for b in blocks])
    assert [lines[r - 1].split(",")[1] for r in rows.tolist()] == stations.tolist()
    stamps = [
        np.datetime64(lines[r - 1].split(",")[0].rstrip("Z"), "us").astype(np.int64) for r in rows.tolist()
    ]
    assert stamps == times.tolist()
    refused = [r for b in blocks for r in b.refused]
    assert all(lines[r.row - 1].encode() == r.payload for r in refused if r.detail.startswith("3 fields"))
    assert len(refused) == sum(1 for line in lines[1:] if line == "not,a,reading" or "NaN-ish" in line)
