"""What the console shows beside the alert store: values with their units, operators by name, and each
station's latest readings.

Units come from the vocabulary (UDUNITS strings such as ``m s-1``); the page shows them the way an
operator reads them (``m/s``). An alert's value means what its rule's input means: a reading in that
variable's unit, or an ordinal warning level; rules over any variable (QC, silence) have no one unit,
so their value is not shown as a bare number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg

from alerts.rules import LevelCondition, Rule
from schemas.vocabulary import Variable, load_vocabulary
from services.db.timestamps import us

# UDUNITS spelling → how the page writes it (units not listed are shown as they are).
UNIT_LABELS: Mapping[str, str] = {
    "degC": "°C",
    "1e-3": "PSU",
    "mg L-1": "mg/L",
    "ug L-1": "µg/L",
    "m s-1": "m/s",
    "degree": "°",
    "degree_north": "°N",
    "degree_east": "°E",
    "umol m-2 s-1": "µmol/m²/s",
    "nmol m-2 s-1": "nmol/m²/s",
    "1": "",
}

# Short names for the station list (the vocabulary's descriptions are sentences).
VARIABLE_LABELS: Mapping[str, tuple[str, str]] = {
    "water_level_m": ("water level", "潮位"),
    "water_temperature_degC": ("water temp.", "水温"),
    "salinity_psu": ("salinity", "盐度"),
    "dissolved_oxygen_mg_l": ("oxygen", "溶解氧"),
    "ph_total": ("pH", "pH"),
    "chlorophyll_ug_l": ("chlorophyll", "叶绿素"),
    "turbidity_ntu": ("turbidity", "浊度"),
    "wave_height_m": ("wave height", "有效波高"),
    "wave_period_s": ("wave period", "波周期"),
    "wind_speed_m_s": ("wind", "风速"),
    "wind_direction_deg": ("wind from", "风向"),
    "air_pressure_hpa": ("pressure", "气压"),
    "air_temperature_degC": ("air temp.", "气温"),
    "water_table_depth_m": ("water table", "地下水位"),
    "porewater_salinity_psu": ("porewater salinity", "孔隙水盐度"),
    "soil_water_content_pct": ("soil water", "土壤含水量"),
    "co2_flux_umol_m2_s": ("CO₂ flux", "CO₂通量"),
    "ch4_flux_nmol_m2_s": ("CH₄ flux", "CH₄通量"),
    "par_umol_m2_s": ("light (PAR)", "光合有效辐射"),
    "latitude_deg": ("latitude", "纬度"),
    "longitude_deg": ("longitude", "经度"),
    "battery_voltage_v": ("battery", "电池电压"),
}

# The station list shows these first (what a duty officer checks), the rest on demand.
KEY_VARIABLES = (
    "water_level_m",
    "wave_height_m",
    "dissolved_oxygen_mg_l",
    "porewater_salinity_psu",
    "chlorophyll_ug_l",
    "water_temperature_degC",
    "battery_voltage_v",
)


def unit_label(unit: str) -> str:
    return UNIT_LABELS.get(unit, unit)


def variable_json(variable: Variable) -> dict:
    en, zh = VARIABLE_LABELS.get(variable.id, (variable.id, variable.id))
    return {"id": variable.id, "label": en, "label_zh": zh, "unit": unit_label(variable.unit)}


def variables_json(vocabulary: Mapping[str, Variable] | None = None) -> list[dict]:
    """Every variable with its short names and display unit, key variables first."""
    vocabulary = load_vocabulary() if vocabulary is None else vocabulary
    order = {v: i for i, v in enumerate(KEY_VARIABLES)}
    ranked = sorted(vocabulary.values(), key=lambda v: (order.get(v.id, len(order)), v.id))
    return [variable_json(v) | {"key": v.id in order} for v in ranked]


def rule_value(rule: Rule, vocabulary: Mapping[str, Variable] | None = None) -> dict:
    """How the page states an alert value of this rule: ``unit`` (a reading), ``level`` or ``none``."""
    vocabulary = load_vocabulary() if vocabulary is None else vocabulary
    if any(isinstance(c, LevelCondition) for c in rule.conditions.values()):
        return {"value_kind": "level", "unit": ""}
    if rule.input_kind == "reading" and rule.input_name in vocabulary:
        return {"value_kind": "unit", "unit": unit_label(vocabulary[rule.input_name].unit)}
    return {"value_kind": "none", "unit": ""}


async def operator_names(conn: asyncpg.Connection) -> dict[str, str]:
    """Login → display name of every operator (a handful of rows)."""
    return {
        r["username"]: r["display_name"]
        for r in await conn.fetch("SELECT username, display_name FROM operators")
    }


def with_names(rows: Iterable[dict], names: Mapping[str, str], login: str, name: str) -> list[dict]:
    """Rows with the operator's display name beside the login in `login` (None when no operator)."""
    return [row | {name: names.get(row[login], row[login]) if row.get(login) else None} for row in rows]


async def latest_readings(conn: asyncpg.Connection) -> dict[str, list[dict]]:
    """Each station's newest reading of every variable it measures, with time and QC flag.

    One backward primary-key probe per (station, variable), as for last seen: the cost does not grow
    with the observations table.
    """
    rows = await conn.fetch(
        f"""
        SELECT s.id AS station, v.variable, latest.value, {us("latest.time")} AS time_us, latest.qc_flag
        FROM stations s
        CROSS JOIN LATERAL unnest(s.variables) AS v(variable)
        CROSS JOIN LATERAL (
            SELECT o.value, o.time, o.qc_flag FROM observations o
            WHERE o.station_id = s.id AND o.variable = v.variable
            ORDER BY o.time DESC LIMIT 1
        ) AS latest
        ORDER BY s.id, v.variable
        """
    )
    latest: dict[str, list[dict]] = {}
    for r in rows:
        latest.setdefault(r["station"], []).append(
            {"variable": r["variable"], "value": r["value"], "time_us": r["time_us"], "qc_flag": r["qc_flag"]}
        )
    return latest
