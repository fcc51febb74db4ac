"""Blue carbon from eddy-covariance stations: NEE and CH4 flux to carbon mass per day, season (DJF,
MAM, JJA, SON) and year, year-to-date totals, CO2-equivalents and sink/source.

Signs follow FLUXNET: negative = uptake by the ecosystem, so a negative net balance is a sink. Only
measured (QC-good) half-hours are summed; nothing is gap-filled, and each period reports the share of
its half-hours that were measured (coverage) so a partial sum is never mistaken for a full one.
CH4 carbon counts in the net carbon balance; CO2-equivalents use the molecule masses: CO2 carbon x
44.009/12.011, CH4 carbon x 16.043/12.011 x GWP100 (27, IPCC AR6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.indicators.ecology.calendar import Period, day_start_us, period_bounds
from streams.indicators.ecology.frame import (
    UNCHANGED,
    DayReadings,
    JsonRows,
    Outputs,
    Row,
    Rows,
    recompute_from,
    scope_start_us,
)
from streams.indicators.ecology.params import EcologyParams

CO2_FLUX = "co2_flux_umol_m2_s"
CH4_FLUX = "ch4_flux_nmol_m2_s"
C_G_MOL = 12.011
CO2_G_MOL = 44.009
CH4_G_MOL = 16.043
PERIODS: tuple[Period, ...] = ("daily", "season", "year")


def flux_to_g_c(flux: np.ndarray, per_mol: float, interval_s: float) -> np.ndarray:
    """Carbon mass (g C m-2) moved during each interval by a flux in mol-fraction units (1e-6 or 1e-9)."""
    return np.asarray(flux, dtype=float) * per_mol * C_G_MOL * interval_s


def ch4_co2eq_g(ch4_g_c: float, gwp100: float) -> float:
    return ch4_g_c * CH4_G_MOL / C_G_MOL * gwp100


def co2_co2eq_g(co2_g_c: float) -> float:
    return co2_g_c * CO2_G_MOL / C_G_MOL


def period_ids(period: str) -> tuple[str, ...]:
    return (
        f"nee_{period}_gC_m2",
        f"ch4_{period}_gC_m2",
        f"ch4_{period}_co2eq_g_m2",
        f"net_carbon_{period}_gC_m2",
        f"ghg_{period}_co2eq_g_m2",
        f"nee_coverage_{period}_pct",
        f"ch4_coverage_{period}_pct",
        f"carbon_coverage_{period}_pct",
        f"carbon_sink_{period}",
    )


CUMULATIVE_IDS = (
    "nee_cumulative_gC_m2",
    "ch4_cumulative_gC_m2",
    "net_carbon_cumulative_gC_m2",
    "ghg_cumulative_co2eq_g_m2",
)


@dataclass(slots=True)
class Totals:
    nee_g: float = 0.0
    nee_n: int = 0
    ch4_g: float = 0.0
    ch4_n: int = 0

    def add(self, row: Row) -> None:
        self.nee_g += row["nee_g"]
        self.nee_n += row["nee_n"]
        self.ch4_g += row["ch4_g"]
        self.ch4_n += row["ch4_n"]

    def balance(self, gwp100: float) -> tuple[float, float, float, float, float]:
        """NEE, CH4 and net carbon (g C m-2); CH4 and net greenhouse-gas balance (g CO2-eq m-2)."""
        ch4_eq = ch4_co2eq_g(self.ch4_g, gwp100)
        return self.nee_g, self.ch4_g, self.nee_g + self.ch4_g, ch4_eq, co2_co2eq_g(self.nee_g) + ch4_eq


@dataclass(frozen=True, slots=True)
class CarbonFamily(JsonRows):
    params: EcologyParams
    name: str = "carbon"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        row: Row = {}
        for key, variable, per_mol in (("nee", CO2_FLUX, 1e-6), ("ch4", CH4_FLUX, 1e-9)):
            series = readings.get(variable)
            grams = (
                flux_to_g_c(series.values, per_mol, self.params.sampling_interval_s)
                if series
                else np.empty(0)
            )
            row[f"{key}_g"], row[f"{key}_n"] = float(grams.sum()), int(grams.size)
        return row if row["nee_n"] or row["ch4_n"] else None

    def _put_period(self, out: Outputs, period: str, start: int, end: int, totals: Totals) -> None:
        nee, ch4, net, ch4_eq, ghg = totals.balance(self.params.ch4_gwp100)
        expected = (end - start) * round(86400 / self.params.sampling_interval_s)
        nee_cov, ch4_cov = 100.0 * totals.nee_n / expected, 100.0 * totals.ch4_n / expected
        values = (nee, ch4, ch4_eq, net, ghg, nee_cov, ch4_cov, min(nee_cov, ch4_cov), int(net < 0))
        for indicator, value in zip(period_ids(period), values, strict=True):
            out.put(indicator, day_start_us(start), value)

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None:
        start = recompute_from(first_open, since)
        for period in PERIODS:
            first = None if first_open is None else period_bounds(first_open, period)[0]
            # A period sums its days: recomputed whole from the period of the first changed day.
            redo = start if start is None or start >= UNCHANGED else period_bounds(start, period)[0]
            out.scope(period_ids(period), scope_start_us(first), scope_start_us(redo))
            if redo is not None and redo >= UNCHANGED:
                continue
            groups: dict[tuple[int, int], Totals] = {}
            if redo is None:
                days = rows.days_from(None)
            else:
                # The closed days from `redo` on all lie in its period: their sum, in day order, is
                # kept between updates, and the open days are added to it in order.
                prefix = self._closed_sum(rows, redo)
                if prefix is not None:
                    groups[period_bounds(redo, period)] = prefix
                days = rows.open_from(redo)
            for day in days:
                groups.setdefault(period_bounds(day, period), Totals()).add(rows[day])
            for (period_start, end), totals in groups.items():
                self._put_period(out, period, period_start, end, totals)
        self._put_cumulative(rows, first_open, start, out)

    def _put_cumulative(self, rows: Rows, first_open: int | None, start: int | None, out: Outputs) -> None:
        """Year-to-date totals per day from `start`, summed from 1 January in day order (rows are kept
        back to 1 January of the first open day's year)."""
        out.scope(CUMULATIVE_IDS, scope_start_us(first_open), scope_start_us(start))
        if start is not None and start >= UNCHANGED:
            return
        totals: Totals = Totals()
        year: tuple[int, int] | None = None
        if start is None:
            days = rows.days_from(None)
        else:
            year_start = period_bounds(start, "year")[0]
            prefix = self._closed_sum(rows, year_start)
            if prefix is not None:
                totals, year = prefix, period_bounds(year_start, "year")
            days = rows.open_from(year_start)
        for day in days:
            if period_bounds(day, "year") != year:
                totals, year = Totals(), period_bounds(day, "year")
            totals.add(rows[day])
            if start is None or day >= start:
                nee, ch4, net, _, ghg = totals.balance(self.params.ch4_gwp100)
                for indicator, value in zip(CUMULATIVE_IDS, (nee, ch4, net, ghg), strict=True):
                    out.put(indicator, day_start_us(day), value)

    def _closed_sum(self, rows: Rows, first: int) -> Totals | None:
        """A copy of the sum of the closed rows from `first` on, in day order; None without any."""

        def make() -> Totals | None:
            closed, _ = rows.split_from(first)
            if not closed:
                return None
            totals = Totals()
            for day in closed:
                totals.add(rows[day])
            return totals

        found: Totals | None = rows.memoized(("totals", first), make)
        return None if found is None else dataclasses.replace(found)

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        return min(period_bounds(first_open, period)[0] for period in PERIODS)
