"""The report's gap-filled carbon budget covers the days from a station's first to its last measured
CO2 half-hour: a station that started in May is not extrapolated over the months before."""

from __future__ import annotations

import numpy as np
import pytest

from services.report.base import StationInfo, date_us
from services.report.ecology import carbon_row
from streams.indicators.ecology.gapfill import PPFD_PER_RG
from tests.support.flux_site import RPD, site_gaps, site_year

G_C = 1e-6 * 12.011 * 1800
MARSH = StationInfo("marsh", "Marsh", "盐沼", "wetland", "bay",
                    ("co2_flux_umol_m2_s", "par_umol_m2_s"), 1800.0, {})  # fmt: skip


def test_a_station_that_started_in_may_is_filled_over_its_own_record_only():
    site = site_year(13)
    times = date_us(2026, 1, 1) + np.arange(site["truth"].size, dtype=np.int64) * 1800 * 1_000_000
    first, last = 120 * RPD + 17, 250 * RPD + 30  # 1 May 08:30 to 8 September 15:00 UTC
    span = slice(first, last + 1)
    co2 = np.where(site_gaps(site, 14), np.nan, site["truth"])[span]
    co2[0] = co2[-1] = 1.0  # the first and the last half-hour measured
    keep = np.isfinite(co2)
    half_hours = {
        ("marsh", "co2_flux_umol_m2_s"): (times[span][keep], co2[keep]),
        ("marsh", "par_umol_m2_s"): (times, site["rg"] * PPFD_PER_RG),
    }
    row = carbon_row(MARSH, {}, 2026, half_hours)
    assert row.gap_filled_span == ("2026-05-01", "2026-09-08")
    days = 250 - 120 + 1
    b = row.gap_filled
    assert b.nee.coverage_pct == pytest.approx(100 * keep.sum() / (days * RPD))  # of the span, not the year
    truth_span = site["truth"][120 * RPD : 251 * RPD].sum() * G_C
    assert b.nee.filled_gC_m2 == pytest.approx(truth_span, rel=0.06)
    assert carbon_row(MARSH, {}, 2025, half_hours).gap_filled is None  # nothing measured that year


def test_half_hours_nothing_can_fill_are_named_in_the_table():
    from services.report.render_ecology import gap_filled_table
    from services.report.text import Text

    t0 = date_us(2026, 3, 1)
    half_hours = {("marsh", "co2_flux_umol_m2_s"): (t0 + np.array([0, 1800_000_000]), np.array([-1.0, -2.0]))}
    row = carbon_row(MARSH, {}, 2026, half_hours)
    # the pair fills itself, 01:00 (within 2 records) and 23:30 (a day back, within 2 records): 44 left
    assert row.gap_filled.nee.unfilled_pct == pytest.approx(100 * 44 / 48)
    assert "unfilled 91.7" in "".join(gap_filled_table([row], 2026, Text("en")))
