"""The annual report's gap-filled blue-carbon budget on the real PostgreSQL: two wetland stations with a
synthetic 2026 whose true half-hourly NEE is known, stored as QC-good readings (with the tower's gaps)
through the service's writer, and their measured-only budgets stored as indicators the way the worker
computes them. Two stations measure u* and see only part of the night respiration under weak
turbulence: one has its threshold in its registry entry, the other has it estimated from its data.
The report must keep the measured-only sum and coverage,
and give a gap-filled sum near the truth with an uncertainty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import yaml

from schemas.indicators import Indicator
from schemas.records import Sample
from schemas.registry import default_registry_path, load_registry
from services.config import Settings
from services.db.indicators import write_indicators
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, upsert_observations
from services.report.assemble import assemble
from services.report.queries import config_versions, load_inputs
from services.report.render import to_html
from streams.indicators.catalogue import INDICATORS
from streams.indicators.ecology import compute_batch, params_for_station
from streams.indicators.ecology.catalogue import CATALOGUE as ECO_CATALOGUE
from streams.indicators.ecology.gapfill import PPFD_PER_RG, gap_filled_budget
from tests.support.database import fresh_database
from tests.support.flux_site import site_gaps, site_year

pytestmark = pytest.mark.integration

YEAR = 2026
PLAIN, WITH_USTAR, ESTIMATED = "liaohe-saltmarsh", "liaohe-reedbed", "yalu-estuary"
USTAR_THRESHOLD = 0.25
G_C = 1e-6 * 12.011 * 1800  # g C m-2 per µmol m-2 s-1 over one half-hour
START_US = int(dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
TIMES = START_US + np.arange(365 * 48, dtype=np.int64) * 1800 * 1_000_000


def _registry(tmp: Path) -> Path:
    """The sample registry, with u* measured at the reed bed (its threshold set) and at the Yalu."""
    document = yaml.safe_load(default_registry_path().read_text())
    for station in document["stations"]:
        if station["id"] in (WITH_USTAR, ESTIMATED):
            station["variables"].append("friction_velocity_m_s")
        if station["id"] == WITH_USTAR:
            station["thresholds"]["ustar_threshold_m_s"] = USTAR_THRESHOLD
    path = tmp / "registry.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def _station_year(seed: int, ustar: bool) -> dict[str, np.ndarray]:
    """Readings as the tower delivers them (NaN = none) and the truth."""
    site = site_year(seed)
    lost = site_gaps(site, seed + 1)
    seen = site["truth"].copy()
    if ustar:  # weak turbulence at night: the tower sees only part of the respiration
        night = site["rg"] < 10
        seen = np.where(night, seen * np.minimum(1.0, site["ustar"] / USTAR_THRESHOLD), seen)
    rng = np.random.default_rng(seed + 2)
    ch4 = 30.0 + 4.0 * np.maximum(site["tair"], 0) + rng.normal(0, 5, seen.size)
    return {
        "co2": np.where(lost, np.nan, np.round(seen, 4)),
        "ch4": np.where(lost | (rng.random(seen.size) < 0.1), np.nan, np.round(ch4, 3)),
        "par": np.round(site["rg"] * PPFD_PER_RG, 2),
        "ustar": np.round(site["ustar"], 4),
        "tair": np.round(site["tair"], 2),
        "truth": site["truth"],
    }


async def _seed(url: str, station: str, data: dict[str, np.ndarray], ustar: bool) -> None:
    columns = {
        "co2_flux_umol_m2_s": data["co2"],
        "ch4_flux_nmol_m2_s": data["ch4"],
        "par_umol_m2_s": data["par"],
        "air_temperature_degC": data["tair"],
    }
    if ustar:
        columns["friction_velocity_m_s"] = data["ustar"]
    rows = [
        (int(t), station, variable, float(v), 1, None, int(t), False)
        for variable, values in columns.items()
        for t, v in zip(TIMES, values, strict=True)
        if np.isfinite(v)
    ]
    samples = [
        Sample(
            int(t),
            {
                k: float(v)
                for k, v in (("co2_flux_umol_m2_s", c), ("ch4_flux_nmol_m2_s", m))
                if np.isfinite(v)
            },
        )
        for t, c, m in zip(TIMES, data["co2"], data["ch4"], strict=True)
        if np.isfinite(c) or np.isfinite(m)
    ]
    params = params_for_station(load_registry(default_registry_path()).stations[station])
    items = [
        Indicator(station, k, t, v, ECO_CATALOGUE[k].unit)
        for (k, t), v in compute_batch(station, samples, params).items()
        if k in ECO_CATALOGUE and ("_year_" in k or "_season_" in k)
    ]
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        await upsert_observations(conn, rows)
        await write_indicators(conn, items)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Settings, dict]]:
    async with fresh_database("tidewatch_report_carbon") as base:
        settings = base.with_(registry_path=str(_registry(tmp_path_factory.mktemp("carbon"))))
        await prepare_database(settings, INDICATORS)  # the registry with u* at the reed bed and the Yalu
        data = {
            PLAIN: _station_year(21, False),
            WITH_USTAR: _station_year(31, True),
            ESTIMATED: _station_year(13, True),
        }
        for station, ustar in ((PLAIN, False), (WITH_USTAR, True), (ESTIMATED, True)):
            await _seed(settings.database_url, station, data[station], ustar)
        yield settings, data


async def _report(settings: Settings, lang: str = "en", area: str = "liaohe-estuary"):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(settings.database_url)
    try:
        inputs = await load_inputs(conn, YEAR, area=area, generated_at="2027-01-02T00:00:00Z",
                                   versions=config_versions(settings.registry_path), lang=lang)  # fmt: skip
    finally:
        await conn.close()
    return assemble(inputs)


async def test_gap_filled_budget_is_near_the_truth_beside_the_measured_sum(seeded) -> None:
    settings, data = seeded
    report = await _report(settings)
    row = next(c for c in report.carbon if c.station.id == PLAIN)
    b, truth_g = row.gap_filled, data[PLAIN]["truth"].sum() * G_C
    assert b is not None and b.ustar_threshold_m_s is None  # no u* measured there: not filtered
    # the same numbers as the pure module on the same half-hours: the report adds no arithmetic
    again = gap_filled_budget(data[PLAIN]["co2"], interval_s=1800, ch4_nmol_m2_s=data[PLAIN]["ch4"],
                              rg_w_m2=data[PLAIN]["par"] / PPFD_PER_RG)  # fmt: skip
    assert b.nee.filled_gC_m2 == pytest.approx(again.nee.filled_gC_m2, rel=1e-12)
    assert b.nee.sd_gC_m2 == pytest.approx(again.nee.sd_gC_m2, rel=1e-12)
    # measured-only sum and coverage kept, equal to the stored (stream) year budget
    assert b.nee.measured_gC_m2 == pytest.approx(row.year.nee_gC_m2, rel=1e-9)
    assert b.nee.coverage_pct == pytest.approx(
        100 * np.isfinite(data[PLAIN]["co2"]).sum() / data[PLAIN]["co2"].size
    )
    scaled = b.nee.measured_gC_m2 * 100 / b.nee.coverage_pct  # ignoring gaps: far off (nights under-sampled)
    assert abs(scaled - truth_g) > 0.25 * abs(truth_g)
    assert abs(b.nee.filled_gC_m2 - truth_g) < 0.05 * abs(truth_g)
    assert b.nee.sd_gC_m2 is not None and 0 < b.nee.sd_gC_m2 < 0.1 * abs(truth_g)
    assert b.ch4 is not None and b.ch4.filled_gC_m2 > b.ch4.measured_gC_m2 > 0
    assert b.net_gC_m2 == pytest.approx(b.nee.filled_gC_m2 + b.ch4.filled_gC_m2)


async def test_ustar_filtering_where_u_star_is_measured(seeded) -> None:
    settings, data = seeded
    report = await _report(settings)
    row = next(c for c in report.carbon if c.station.id == WITH_USTAR)
    b, truth_g = row.gap_filled, data[WITH_USTAR]["truth"].sum() * G_C
    assert b.ustar_threshold_m_s == USTAR_THRESHOLD and 5 < b.ustar_removed_pct < 40
    # the stream's measured-only sum keeps the under-measured nights (positive); the filter drops them
    assert b.nee.measured_gC_m2 < row.year.nee_gC_m2
    assert abs(b.nee.filled_gC_m2 - truth_g) < 0.06 * abs(truth_g)
    unfiltered = gap_filled_budget(data[WITH_USTAR]["co2"], interval_s=1800,
                                   rg_w_m2=data[WITH_USTAR]["par"] / PPFD_PER_RG)  # fmt: skip
    assert unfiltered.nee.filled_gC_m2 < truth_g - 0.1 * abs(truth_g)  # without the filter: too strong a sink


async def test_ustar_threshold_estimated_where_none_is_configured(seeded) -> None:
    settings, data = seeded
    report = await _report(settings, area="yalu-estuary")
    b = next(c for c in report.carbon if c.station.id == ESTIMATED).gap_filled
    truth_g = data[ESTIMATED]["truth"].sum() * G_C
    assert b.ustar_source == "estimated" and b.ustar_threshold_m_s == pytest.approx(USTAR_THRESHOLD, abs=0.04)
    low, _, high = b.ustar_quantiles_m_s
    assert low <= USTAR_THRESHOLD <= high and b.nee_ustar_range_gC_m2 is not None
    assert abs(b.nee.filled_gC_m2 - truth_g) < 0.06 * abs(truth_g)
    assert b.nee_sd_gC_m2 >= b.nee.sd_gC_m2  # random and u* parts together
    assert "estimated; 5–95 %" in to_html(report)


async def test_the_report_shows_the_gap_filled_budget_in_both_languages(seeded) -> None:
    settings, _ = seeded
    english = to_html(await _report(settings, "en"))
    assert "Gap-filled annual budget 2026" in english and "u* &lt; 0.250 m s-1, registry" in english
    assert "measured (after u* filter)" in english
    chinese = to_html(await _report(settings, "zh"))
    assert "插补后的年收支" in chinese
