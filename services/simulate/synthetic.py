"""A registry of many stations for benchmarks: clones of the sample network's stations.

Clones keep their template's kind, variables, datum and thresholds (so every station still has
sensible tides and warning levels) and get a unique id `<template>-NNNN` and a nearby position.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from schemas.registry import Registry, load_registry
from services.simulate import noise

POSITION_SPREAD_DEG = 0.15


def synthetic_registry(n_stations: int, seed: int = 0, network: str | None = None) -> Registry:
    """n_stations clones of the packaged sample stations (cycled in registry order)."""
    if n_stations < 1:
        raise ValueError("n_stations must be at least 1")
    template = load_registry()
    network = network or template.network
    bases = list(template.stations.values())
    stations = {}
    for k in range(n_stations):
        base = bases[k % len(bases)]
        station_id = f"{base.id}-{k:04d}"
        u = noise.uniform(noise.stream_key(seed, "synthetic", station_id), np.arange(2))
        stations[station_id] = replace(
            base,
            id=station_id,
            name=f"{base.name} (clone {k})",
            network=network,
            latitude=base.latitude + POSITION_SPREAD_DEG * (2.0 * float(u[0]) - 1.0),
            longitude=base.longitude + POSITION_SPREAD_DEG * (2.0 * float(u[1]) - 1.0),
        )
    return Registry(network=network, stations=stations, variables=template.variables)
