"""Fault rates and the contract-breaking payloads the simulator publishes on purpose.

Sensor faults (spike, flat line, null value) keep the message valid so QC has something to find;
transport faults (gap, late batch, duplicate) test ingest and idempotent storage; contract faults
must come back as dead letters with the reason in CONTRACT_FAULT_REASON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from schemas import contract

SPIKE = "spike"
FLAT_LINE = "flat_line"
NULL_VALUE = "null_value"
GAP = "gap"
SILENT = "silent"
LATE_BATCH = "late_batch"
DUPLICATE = "duplicate"
MALFORMED_JSON = "malformed_json"
UNKNOWN_VARIABLE = "unknown_variable"
OUT_OF_RANGE = "out_of_range"
WRONG_UNIT = "wrong_unit"
UNKNOWN_STATION = "unknown_station"

# Each deliberate contract fault and the dead-letter reason ingest must give it.
CONTRACT_FAULT_REASON: Mapping[str, str] = {
    MALFORMED_JSON: contract.MALFORMED_JSON,
    UNKNOWN_VARIABLE: contract.UNKNOWN_VARIABLE,
    OUT_OF_RANGE: contract.OUT_OF_RANGE,
    WRONG_UNIT: contract.WRONG_UNIT,
    UNKNOWN_STATION: contract.UNKNOWN_STATION,
}
CONTRACT_FAULTS = tuple(CONTRACT_FAULT_REASON)

# A name that is in no vocabulary, and the units a confused logger might state.
UNKNOWN_VARIABLE_ID = "salinity_ppt"
WRONG_UNITS: Mapping[str, str] = {
    "water_level_m": "cm",
    "water_temperature_degC": "degF",
    "air_temperature_degC": "K",
    "air_pressure_hpa": "Pa",
    "dissolved_oxygen_mg_l": "umol kg-1",
    "wave_height_m": "ft",
    "wind_speed_m_s": "knot",
}


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probabilities of each fault.

    Per sample: spike, null_value, gap. Per message: duplicate and each contract fault.
    Per station and 3-hour block: flat_line. Per station and UTC day: late_batch (an unscheduled outage
    whose samples arrive later in one message's backlog).
    """

    spike: float = 0.002
    null_value: float = 0.002
    gap: float = 0.002
    flat_line: float = 0.005
    late_batch: float = 0.1
    duplicate: float = 0.002
    malformed_json: float = 0.0002
    unknown_variable: float = 0.0002
    out_of_range: float = 0.0002
    wrong_unit: float = 0.0002
    unknown_station: float = 0.0002

    @classmethod
    def off(cls) -> FaultRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def with_overrides(self, overrides: Mapping[str, float]) -> FaultRates:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(known)}")
        for name, rate in overrides.items():
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"fault rate {name}={rate} is not a probability")
        return replace(self, **{k: float(v) for k, v in overrides.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def parse_fault_option(text: str, base: FaultRates | None = None) -> FaultRates:
    """`on`, `off`, or comma-separated overrides of the defaults: `spike=0.01,duplicate=0`."""
    base = base or FaultRates()
    text = text.strip().lower()
    if text in ("on", "yes", "true", "1", "default"):
        return base
    if text in ("off", "no", "false", "0", "none"):
        return FaultRates.off()
    overrides: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"--faults expects on, off or kind=rate[,kind=rate…], got {part!r}")
        overrides[name.strip()] = float(value)
    return base.with_overrides(overrides)
