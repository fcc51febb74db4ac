"""A station's published harmonic constants as a tide model, used instead of a fit.

Real services predict from the constants of a long analysis (national tide tables, IHO/NOAA station
sheets). The file is a CSV with a header ``constituent,amplitude_m,phase_deg``: one row per
constituent (utide names: M2, S2, K1 …; Greenwich phase lag in degrees, UTC), and one row ``Z0``
whose amplitude is the mean level above the station datum (m). Phases and amplitudes are used as
given; utide adds the nodal corrections at each prediction time. The model's ``source`` is
``"official"``: it passes the quality bar and a refit never replaces it (``refit.refit`` monitors it).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from utide._ut_constants import constit_index_dict, ut_constants

from streams.indicators.sealevel.tide import _OPT_KEYS, US_PER_DAY, TideModel

MEAN_ROW = "Z0"
COLUMNS = ("constituent", "amplitude_m", "phase_deg")


class ConstantsError(ValueError):
    """A constants file that cannot be used; the message names the station and the row."""


def model_from_constants(
    station: str,
    latitude: float,
    constants: Mapping[str, tuple[float, float]],
    mean_m: float,
    effective_from_us: int,
) -> TideModel:
    """A ``TideModel`` predicting with the given (amplitude m, Greenwich phase deg) per constituent."""
    unknown = sorted(set(constants) - set(constit_index_dict))
    if unknown:
        raise ConstantsError(f"station {station!r}: unknown constituents {unknown}")
    names = sorted(constants, key=lambda n: -constants[n][0])
    lind = np.array([constit_index_dict[n] for n in names], dtype=np.int64)
    n = len(names)
    opt = dict.fromkeys(_OPT_KEYS, False) | {"prefilt": [], "nodiagn": True, "notrend": True}
    coef = {
        "name": names,
        "A": [float(constants[k][0]) for k in names],
        "g": [float(constants[k][1]) % 360.0 for k in names],
        "A_ci": [0.0] * n,
        "g_ci": [0.0] * n,
        "SNR": [float("inf")] * n,
        "PE": [0.0] * n,
        "mean": float(mean_m),
        "slope": 0.0,
        "aux": {
            "frq": ut_constants.const.freq[lind].tolist(),
            "lind": lind.tolist(),
            "reftime": effective_from_us / US_PER_DAY,
            "lat": float(latitude),
            "opt": opt,
        },
    }
    return TideModel(
        station=station,
        latitude=float(latitude),
        record_start_us=int(effective_from_us),
        record_end_us=int(effective_from_us),
        n_readings=0,
        n_fit_points=0,
        bin_s=0,
        effective_from_us=int(effective_from_us),
        coef=coef,
        min_snr=0.0,
        source="official",
        method="published",
    )


def read_constants_csv(station: str, path: Path) -> tuple[dict[str, tuple[float, float]], float]:
    """(constituent -> (amplitude m, phase deg), mean m) from a constants file."""
    constants: dict[str, tuple[float, float]] = {}
    mean_m: float | None = None
    with path.open(newline="") as handle:
        reader = csv.DictReader(row for row in handle if not row.lstrip().startswith("#"))
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ConstantsError(f"station {station!r}: {path} needs the header {','.join(COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                name = row["constituent"].strip()
                amplitude, phase = float(row["amplitude_m"]), float(row["phase_deg"])
            except (AttributeError, TypeError, ValueError) as exc:
                raise ConstantsError(f"station {station!r}: {path} row {line}: {exc}") from None
            if not (np.isfinite(amplitude) and np.isfinite(phase)) or (amplitude < 0 and name != MEAN_ROW):
                raise ConstantsError(f"station {station!r}: {path} row {line}: bad amplitude or phase")
            if name in constants or (name == MEAN_ROW and mean_m is not None):
                raise ConstantsError(f"station {station!r}: {path} row {line}: {name} given twice")
            if name == MEAN_ROW:
                mean_m = amplitude
            else:
                constants[name] = (amplitude, phase)
    if mean_m is None or not constants:
        raise ConstantsError(f"station {station!r}: {path} needs a {MEAN_ROW} row and constituents")
    return constants, mean_m


def load_constants_csv(station: str, latitude: float, path: Path, effective_from_us: int) -> TideModel:
    """The published-constants model of a station from its file (see the module docstring)."""
    constants, mean_m = read_constants_csv(station, path)
    return model_from_constants(station, latitude, constants, mean_m, effective_from_us)
