"""The real Prometheus server scrapes a running ingest and stream worker, evaluates docker/'s recording
rules, and every PromQL expression of the Grafana dashboards returns data.

Prometheus comes from the Debian package (`apt-get install -y prometheus`); without it the module is
skipped. The surge and warning-level panels need a tide model, which the worker fits only on 15 days of
water levels: the fixture first publishes 16 days of one tide gauge's history (a synthetic tide), as a
gauge back from an outage would, then the live rounds every station sends.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import yaml

from schemas.registry import load_registry
from services.db.prepare import prepare_database
from services.stack.launcher import Stack
from services.stack.pipeline import CLI, Pipeline
from services.stack.process import Child, free_port, start_child, wait_for_port
from streams.indicators.catalogue import INDICATORS
from tests.support.pipeline import Publisher, isolated_registry, message, stop_together, wait_for_count

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "docker" / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "docker" / "prometheus" / "rules").glob("*.yml"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(PROMETHEUS).exists(),
        reason="the Prometheus server is not installed (Debian: apt-get install -y prometheus)",
    ),
]

# Values Grafana puts in place of its own variables when a dashboard runs (a 1 s scrape here).
GRAFANA_BUILTINS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "5s"}


# -- what the dashboards and rules ask -----------------------------------------------------------


@dataclass(frozen=True)
class Query:
    where: str
    expr: str


def _dashboard_variables(board: dict) -> dict[str, str]:
    """Each template variable as "All" selected: its allValue (a regex)."""
    values = {}
    for var in board.get("templating", {}).get("list", []):
        assert var.get("includeAll") and var.get("allValue"), f"{var['name']}: give an 'All' value"
        values[f"${var['name']}"] = var["allValue"]
    return values


def _substitute(expr: str, variables: dict[str, str]) -> str:
    for name in sorted({**GRAFANA_BUILTINS, **variables}, key=len, reverse=True):
        expr = expr.replace(name, {**GRAFANA_BUILTINS, **variables}[name])
    left = re.findall(r"\$\w+", expr)
    assert not left, f"unknown template variables {left} in {expr}"
    return expr


def dashboard_queries() -> list[Query]:
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        variables = _dashboard_variables(board)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                where = f"{path.stem}: {panel['title']} [{target['refId']}]"
                queries.append(Query(where, _substitute(target["expr"], variables)))
    return queries


def variable_queries() -> list[Query]:
    """The `label_values(metric{...}, label)` queries that fill the dashboards' drop-downs."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        variables = _dashboard_variables(board)
        for var in board["templating"]["list"]:
            out.append(Query(f"{path.stem}: ${var['name']}", _substitute(var["query"]["query"], variables)))
    return out


def recording_rules() -> dict[str, str]:
    rules = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules[rule["record"]] = rule["expr"]
    return rules


# -- the running pieces --------------------------------------------------------------------------


@dataclass
class MeteredPipeline(Pipeline):
    """A pipeline whose worker and ingest each serve metrics on a port of their own, and the API (which
    serves /metrics on its HTTP port) beside them."""

    ports: dict[str, int] = field(
        default_factory=lambda: {"worker": free_port(), "ingest": free_port(), "api": free_port()}
    )
    api: Child | None = None

    async def start_worker(self) -> Child:
        # Check for a due tide fit every second, not every minute, so the model follows the history.
        self.extra_env = {
            "TIDEWATCH_METRICS_PORT": str(self.ports["worker"]),
            "TIDEWATCH_TIDE_REFIT_CHECK_S": "1",
        }
        return await super().start_worker()

    async def start_ingest(self) -> Child:
        self.extra_env = {"TIDEWATCH_METRICS_PORT": str(self.ports["ingest"])}
        return await super().start_ingest()

    async def start_api(self) -> Child:
        env = {**self.env, "TIDEWATCH_API_PORT": str(self.ports["api"])}
        self.api = start_child("api", [*CLI, "api"], self.logs / "api.log", env)
        await wait_for_port("127.0.0.1", self.ports["api"], timeout_s=60, child=self.api)
        return self.api

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop(10)
        super().stop()


class PrometheusServer:
    """The real server with a config that scrapes the test's processes every second."""

    def __init__(self, tmp: Path, ports: dict[str, int]) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in RULE_FILES],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for job, port in ports.items()
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.child = start_child(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            tmp / "prometheus.log",
        )

    async def ready(self, timeout_s: float = 30) -> None:
        """Wait for /-/ready (the port opens before the TSDB is loaded)."""
        await wait_for_port("127.0.0.1", self.port, timeout_s=timeout_s, child=self.child)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    async def wait_until(self, expr: str, expected: float, timeout_s: float = 60) -> float | None:
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.value(expr)
            if value is not None and value >= expected:
                return value
            await asyncio.sleep(0.5)
        return value


REGISTRY = load_registry()
GAUGE = next(s for s in REGISTRY.stations.values() if s.kind == "tide_gauge")
MINUTE_US = 60_000_000
DAY_US = 86_400_000_000
# Semi-diurnal and diurnal constituents (period h, amplitude m, phase rad): springs reach the blue level.
CONSTITUENTS = ((12.4206, 1.05, 0.3), (12.0, 0.35, 1.1), (23.9345, 0.3, 2.0), (25.8193, 0.25, 0.7))


def tide_m(time_us: np.ndarray) -> np.ndarray:
    """The gauge's water level above its datum: mean sea level plus four constituents and 5 mm noise."""
    hours = np.asarray(time_us, dtype=np.float64) / 3.6e9
    level = np.full(hours.shape, GAUGE.datum.msl_above_datum_m)
    for period_h, amplitude_m, phase in CONSTITUENTS:
        level += amplitude_m * np.cos(2 * np.pi * hours / period_h - phase)
    noise = np.random.default_rng(int(hours.size)).normal(0.0, 0.005, hours.size)
    return np.round(level + noise, 3)


def station_message(station, time_us: int) -> bytes:
    """One sample of every variable the station measures, mid-way in its physical range (the gauge's
    water level on its tide)."""
    registry_vars = REGISTRY.variables
    values = {
        v: round((registry_vars[v].physical_min + registry_vars[v].physical_max) / 2, 3)
        for v in sorted(station.variables)
    }
    if station.id == GAUGE.id:
        values["water_level_m"] = float(tide_m(np.array([time_us]))[0])
    return message(station.id, time_us, values)


def gauge_history(start_us: int, end_us: int, per_message: int = 360) -> list[tuple[str, bytes]]:
    """Minute water levels of the gauge in [start, end), many samples per message (newest first)."""
    times = np.arange(start_us, end_us, MINUTE_US, dtype=np.int64)
    levels = tide_m(times)
    out = []
    for i in range(0, times.size, per_message):
        t, v = times[i : i + per_message], levels[i : i + per_message]
        backlog = [(int(ti), {"water_level_m": float(vi)}) for ti, vi in zip(t[:-1], v[:-1], strict=True)]
        out.append((GAUGE.id, message(GAUGE.id, int(t[-1]), {"water_level_m": float(v[-1])}, backlog)))
    return out


@dataclass
class Observed:
    prometheus: PrometheusServer
    messages: int
    readings: int
    api_requests: int


def ask_the_api(port: int) -> int:
    """What a scientist's script does: the catalogue, a day of water levels, hourly means, an export."""
    base = f"http://127.0.0.1:{port}/api/v1"
    query = f"station={GAUGE.id}&variable=water_level_m&start=-1d"
    paths = [
        "/stations",
        f"/stations/{GAUGE.id}",
        f"/observations?{query}",
        f"/observations?{query}&bucket=1h",
        f"/observations/export?{query}&format=csv",
    ]
    for path in paths:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            assert response.status == 200, path
            response.read()
    return len(paths)


async def _publish_gauge_history(
    publisher: Publisher, conn: asyncpg.Connection, now_us: int
) -> tuple[int, int]:
    """16 days of the gauge, in two parts: a tide model is fitted after the first (15.2 days), so the
    last day has surges; its high waters have warning levels. Returns (messages, readings)."""
    start = (now_us - 16 * DAY_US) // MINUTE_US * MINUTE_US
    split = start + int(15.2 * DAY_US)
    end = now_us - 3 * MINUTE_US
    first, second = gauge_history(start, split), gauge_history(split, end)
    readings = len(np.arange(start, end, MINUTE_US))
    publisher.publish_many(first, pace_per_s=50)
    models = await wait_for_count(
        conn, "SELECT count(*) FROM tide_models WHERE station_id = $1", GAUGE.id, expected=1, timeout_s=120
    )
    assert models == 1, f"no tide model for {GAUGE.id} after 15.2 days of water levels"
    publisher.publish_many(second, pace_per_s=50)
    return len(first) + len(second), readings


@pytest.fixture(scope="module")
async def observed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Observed:
    network = f"p{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("prometheus")
    settings = stack.settings.with_(
        registry_path=str(isolated_registry(tmp, network)), worker_id=f"w-{network}"
    )
    await prepare_database(settings, INDICATORS)
    pipeline = MeteredPipeline(settings, network, tmp / "logs")
    prometheus = publisher = conn = None
    try:
        # Prometheus first: it hands its first targets to the scrapers ~5 s after it starts, while the
        # processes start. They start side by side (each start reads extra_env before its first wait).
        prometheus = PrometheusServer(tmp, pipeline.ports)
        await asyncio.gather(
            pipeline.start_worker(), pipeline.start_ingest(), pipeline.start_api(), prometheus.ready()
        )
        assert await prometheus.wait_until('count(up{job=~"ingest|worker|api"} == 1)', 3, 30) == 3

        publisher = Publisher(settings, network)
        conn = await asyncpg.connect(settings.database_url)
        now_us = time.time_ns() // 1000
        messages, readings = await _publish_gauge_history(publisher, conn, now_us)
        assert await prometheus.wait_until("sum(tidewatch_readings_stored_total)", readings, 60) == readings

        # Two rounds a few scrapes apart, so every rate has an increase inside its window.
        stations = list(REGISTRY.stations.values())
        api_requests = 0
        for round_no, age_s in enumerate((90, 30)):
            for station in stations:
                publisher.publish(station.id, station_message(station, now_us - age_s * 1_000_000))
                messages += 1
                readings += len(station.variables)
            api_requests += ask_the_api(pipeline.ports["api"])
            if round_no == 0:
                publisher.publish(stations[0].id, station_message(stations[0], now_us - age_s * 1_000_000))
                publisher.publish(stations[0].id, b"{this is not json")
                messages += 2
                stored = await prometheus.wait_until("sum(tidewatch_readings_stored_total)", readings)
                assert stored == readings
                await asyncio.sleep(3)
        await prometheus.wait_until("sum(tidewatch_readings_stored_total)", readings)
        await prometheus.wait_until("count(tidewatch_consumer_lag_records)", 1, 30)  # reported every 10 s
        # The model fitted on 15.2 days is below the quality bar (N2 not resolved): provisional surge.
        await prometheus.wait_until(
            'count(tidewatch_latest_indicator{indicator=~"surge_m|surge_provisional_m"})', 1, 30
        )
        await asyncio.sleep(3)  # the rules catch up
        yield Observed(prometheus, messages, readings, api_requests)
    finally:
        if conn is not None:
            await conn.close()
        if publisher is not None:
            publisher.close()
        children = [pipeline.api, pipeline.ingest, pipeline.worker]
        await asyncio.to_thread(stop_together, [*children, prometheus.child if prometheus else None])
        pipeline.stop()
        # faust keeps its data directory in the worker's working directory (this process's).
        shutil.rmtree(Path.cwd() / f"{settings.worker_id}-data", ignore_errors=True)


# -- tests ---------------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_counters_scraped_from_both_processes_match_what_was_published(observed: Observed) -> None:
    prom = observed.prometheus
    targets = prom.api("targets")["activeTargets"]
    assert sorted((t["labels"]["job"], t["health"]) for t in targets) == [
        ("api", "up"),
        ("ingest", "up"),
        ("worker", "up"),
    ]
    assert prom.value('sum(tidewatch_api_requests_total{route!="/metrics"})') == observed.api_requests
    assert prom.value('sum(tidewatch_api_requests_total{status!="2xx"})') == 0
    first_station = next(iter(REGISTRY.stations.values()))
    duplicated = len(first_station.variables)
    assert prom.value("sum(tidewatch_ingest_messages_total)") == observed.messages
    # Accepted readings include the repeated message; the database stores it once.
    assert prom.value("sum(tidewatch_ingest_readings_total)") == observed.readings + duplicated
    assert prom.value("sum(tidewatch_readings_stored_total)") == observed.readings
    assert await prom.wait_until("sum(tidewatch_readings_duplicate_total)", duplicated) == duplicated
    assert prom.value('sum(tidewatch_ingest_refused_total{reason="malformed_json"})') == 1
    assert await prom.wait_until('tidewatch_dead_letters_stored_total{reason="malformed_json"}', 1) == 1
    silent = prom.query("tidewatch:station_silence_seconds")
    assert {s["metric"]["station"] for s in silent} == set(REGISTRY.stations)
    assert all(20 < float(s["value"][1]) < 600 for s in silent)  # newest sample was 30 s old


@pytest.mark.parametrize("query", dashboard_queries() + variable_queries(), ids=lambda q: q.where)
def test_every_dashboard_query_returns_data(observed: Observed, query: Query) -> None:
    if query.expr.startswith("label_values("):
        inner = query.expr[len("label_values(") : -1]
        selector, label = (part.strip() for part in inner.rsplit(",", 1))
        values = observed.prometheus.api(f"label/{label}/values", **{"match[]": selector})
        assert values, f"{query.where}: no values for {label} in {selector}"
        return
    result = observed.prometheus.query(query.expr)
    assert result, f"{query.where}: no data for {query.expr}"
    numbers = [float(sample["value"][1]) for sample in result]
    assert any(math.isfinite(n) for n in numbers), f"{query.where}: only NaN for {query.expr}"


@pytest.mark.parametrize("record", sorted(recording_rules()))
def test_every_recording_rule_has_samples(observed: Observed, record: str) -> None:
    result = observed.prometheus.query(record)
    assert result, f"recording rule {record} has no samples"
    assert any(math.isfinite(float(s["value"][1])) for s in result), f"{record}: only NaN"


def test_every_rule_evaluates_without_error(observed: Observed) -> None:
    groups = observed.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == sum(
        len(group["rules"]) for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
    )
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not failing


def test_surge_and_warning_panels_show_the_gauge(observed: Observed) -> None:
    """The tide fitted on the history explains the synthetic tide, so the surge panel shows ~0 m."""
    prom = observed.prometheus
    surge = prom.query('tidewatch_latest_indicator{indicator=~"surge_m|surge_provisional_m"}')
    assert [s["metric"]["station"] for s in surge] == [GAUGE.id]
    assert abs(float(surge[0]["value"][1])) < 0.05  # noise is 5 mm; the model's residual stays small
    selector = f'indicator="water_level_warning", station="{GAUGE.id}"'
    warning = prom.value(f"tidewatch_latest_indicator{{{selector}}}")
    assert warning is not None and warning in (0, 1)  # springs come near the blue level
