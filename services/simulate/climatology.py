"""Write SST climatologies for the simulated stations (``python -m services.simulate.climatology``).

A station with no long history needs a climatology from elsewhere (a satellite product) for marine
heatwaves. For the simulated network the honest stand-in is the simulator's own background: 30 years
of its event-free daily mean SST per station, run through the same Hobday climatology as station
history. The files land in ``schemas/climatology/<station>.csv`` and say so in their first line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from schemas.registry import load_registry
from services.simulate.model import Simulation
from services.simulate.scenario import Scenario
from streams.indicators.ecology.climatology import climatology_to_csv, compute_climatology

US = 1_000_000
DAY_S = 86_400
OUT = Path(__file__).resolve().parents[1].parent / "schemas" / "climatology"


def station_climatology(simulation: Simulation, station: str, first_day: int, years: int, per_day: int = 24):
    """Hobday climatology of one station's event-free daily mean SST over ``years`` from ``first_day``."""
    days = np.arange(first_day, first_day + int(years * 365.25))
    offsets = (np.arange(per_day) + 0.5) * DAY_S / per_day
    times = ((days[:, None] * DAY_S + offsets[None, :]) * US).astype(np.int64).ravel()
    sst = simulation.clean_values(station, times)["water_temperature_degC"].reshape(len(days), per_day)
    return compute_climatology(
        days, sst.mean(axis=1), source=f"tidewatch simulator background SST, {years} years, station {station}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    registry = load_registry()
    simulation = Simulation(registry, Scenario(name="none"), seed=1, faults=False)
    first_day = 10_957  # 2000-01-01
    args.out.mkdir(parents=True, exist_ok=True)
    for station in registry.stations.values():
        if "water_temperature_degC" in station.variables:
            clim = station_climatology(simulation, station.id, first_day, args.years)
            (args.out / f"{station.id}.csv").write_text(climatology_to_csv(clim))
            print(f"{station.id}: {args.out / (station.id + '.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
