"""docker/compose.yaml and docker/Dockerfile, checked structurally (there is no Docker engine here):
every command is a real `tidewatch` subcommand, every TIDEWATCH_* variable is one the code reads,
every mounted file exists, every long-running service has a health check, and the addresses and ports
agree with Prometheus, Grafana and Mosquitto's own configuration.

Settings the stack needs that the code does not read yet are listed in PENDING_*; a test fails as
soon as one of them lands, so its entry is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
CODE_DIRS = ("services", "streams", "alerts", "schemas")

# What the compose file asks of the code that has not landed yet (remove an entry when it does).
PENDING_SUBCOMMANDS: dict[str, str] = {}
PENDING_ENV: dict[str, str] = {}
INFRASTRUCTURE = {"mosquitto", "kafka", "timescaledb", "prometheus", "grafana"}
ONE_SHOT = {"migrate"}


def interpolate(text: str) -> str:
    """Compose variable substitution with an empty environment: defaults, a stand-in for required."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if op == ":-":
            return arg
        if op == ":?":
            return f"required-{name.lower()}"
        return ""

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}", value, text)


def _resolve(node: object) -> object:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(item) for key, item in node.items()}
    return node


@pytest.fixture(scope="module")
def compose() -> dict:
    return _resolve(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def tidewatch_services(services: dict[str, dict]) -> dict[str, dict]:
    return {name: spec for name, spec in services.items() if spec["image"].startswith("tidewatch:")}


def env_read_by_code() -> set[str]:
    names: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"TIDEWATCH_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    return names


def _parses(argv: list[str]) -> bool:
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            return False
    return True


# -- compose -------------------------------------------------------------------------------------


def test_the_stack_has_every_part(services: dict[str, dict]) -> None:
    assert set(services) >= INFRASTRUCTURE
    commands = {name: spec["command"] for name, spec in tidewatch_services(services).items()}
    assert commands["migrate"] == ["db", "migrate"]
    assert sorted(name for name, cmd in commands.items() if cmd == ["ingest"]) == ["ingest-1", "ingest-2"]
    assert [name for name, cmd in commands.items() if cmd == ["worker"]] == ["worker"]
    assert [name for name, cmd in commands.items() if cmd == ["api"]] == ["api"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft


def test_one_image_is_built_from_the_dockerfile(services: dict[str, dict]) -> None:
    ours = tidewatch_services(services)
    assert len({spec["image"] for spec in ours.values()}) == 1
    builds = [spec["build"] for spec in ours.values() if "build" in spec]
    assert len(builds) == 1
    context = (DOCKER / builds[0]["context"]).resolve()
    assert context == ROOT
    assert (context / builds[0]["dockerfile"]).resolve() == DOCKERFILE


def test_every_service_command_is_a_tidewatch_subcommand(services: dict[str, dict]) -> None:
    for name, spec in tidewatch_services(services).items():
        command = spec["command"]
        if command[0] in PENDING_SUBCOMMANDS:
            assert not _parses(command), f"`tidewatch {command[0]}` exists now: remove it from PENDING"
            continue
        assert _parses(command), f"{name}: `tidewatch {shlex.join(command)}` is not a tidewatch command"


def test_every_tidewatch_variable_is_read_by_the_code(services: dict[str, dict]) -> None:
    read = env_read_by_code()
    for name, spec in services.items():
        for key in spec.get("environment", {}):
            if not key.startswith("TIDEWATCH_"):
                continue
            if key in PENDING_ENV:
                assert key not in read, f"{key} is read by the code now: remove it from PENDING_ENV"
            else:
                assert key in read, f"{name}: {key} is read nowhere in {', '.join(CODE_DIRS)}"


def test_long_running_services_have_health_checks(services: dict[str, dict]) -> None:
    for name, spec in services.items():
        if name in ONE_SHOT:
            assert spec["restart"] == "no"
            continue
        test = spec.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")


def test_health_checks_probe_the_ports_the_services_serve(services: dict[str, dict]) -> None:
    for name, spec in tidewatch_services(services).items():
        if name in ONE_SHOT:
            continue
        env = spec["environment"]
        port = env.get("TIDEWATCH_METRICS_PORT") or env.get("TIDEWATCH_API_PORT")
        assert f"http://127.0.0.1:{port}/" in spec["healthcheck"]["test"][3], name


def test_dependencies_exist_and_wait_for_health(services: dict[str, dict]) -> None:
    for name, spec in services.items():
        for dependency, rule in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, f"{name} → {dependency}"
            if expected == "service_healthy":
                assert "healthcheck" in services[dependency]
    for name in ("worker", "api"):
        assert "migrate" in services[name]["depends_on"], f"{name} must start after the migration"


def test_mounted_files_exist_and_named_volumes_are_declared(compose: dict, services: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, spec in services.items():
        for mount in spec.get("volumes", []):
            source, _target = mount.split(":")[:2]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared
    for name in ("kafka", "timescaledb", "mosquitto", "prometheus", "grafana"):
        assert any(not m.startswith(".") for m in services[name]["volumes"]), f"{name} keeps no data"


def test_service_addresses_match_the_infrastructure(services: dict[str, dict]) -> None:
    env = services["migrate"]["environment"]
    mqtt, kafka, database = (
        urlsplit(env[k]) for k in ("TIDEWATCH_MQTT_URL", "TIDEWATCH_KAFKA_URL", "TIDEWATCH_DATABASE_URL")
    )
    # Mosquitto listens where the services connect, and persists where the volume is.
    conf = (DOCKER / "mosquitto" / "mosquitto.conf").read_text()
    assert mqtt.hostname == "mosquitto"
    assert re.search(rf"^listener {mqtt.port}\b", conf, re.M)
    location = re.search(r"^persistence_location (\S+)", conf, re.M).group(1)
    assert any(m.split(":")[1].rstrip("/") == location.rstrip("/") for m in services["mosquitto"]["volumes"])
    # Kafka advertises the address the services use.
    kafka_env = services["kafka"]["environment"]
    assert f"PLAINTEXT://{kafka.hostname}:{kafka.port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka.hostname == "kafka"
    assert any(m.endswith(":" + kafka_env["KAFKA_LOG_DIRS"]) for m in services["kafka"]["volumes"])
    # The database URL names the TimescaleDB service, its user, password and database.
    db_env = services["timescaledb"]["environment"]
    assert (database.hostname, database.username, database.password, database.path) == (
        "timescaledb",
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        "/" + db_env["POSTGRES_DB"],
    )


def test_ingest_replicas_share_one_subscription_with_their_own_sessions(services: dict) -> None:
    ingest = [spec["environment"] for spec in services.values() if spec.get("command") == ["ingest"]]
    assert len({env["TIDEWATCH_MQTT_SHARE_GROUP"] for env in ingest}) == 1
    assert len({env["TIDEWATCH_MQTT_CLIENT_ID"] for env in ingest}) == len(ingest)


def test_workers_scale_up_to_the_topic_partitions(services: dict) -> None:
    worker = services["worker"]
    replicas = int(worker["deploy"]["replicas"])
    partitions = int(worker["environment"]["TIDEWATCH_TOPIC_PARTITIONS"])
    assert 1 <= replicas <= partitions
    # Every tidewatch process agrees on the partition count and the consumer group.
    for key in ("TIDEWATCH_TOPIC_PARTITIONS", "TIDEWATCH_WORKER_ID"):
        assert len({spec["environment"][key] for spec in tidewatch_services(services).values()}) == 1


def test_prometheus_scrapes_every_metrics_port(services: dict[str, dict]) -> None:
    mounts = dict(reversed(m.split(":")[:2]) for m in services["prometheus"]["volumes"])
    config_dir = DOCKER / mounts["/etc/prometheus"]
    assert any(
        arg == "--config.file=/etc/prometheus/prometheus.yml" for arg in services["prometheus"]["command"]
    )
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                scraped[host] = int(port)
        for dns in job.get("dns_sd_configs", []):
            for host in dns["names"]:
                scraped[host] = int(dns["port"])
    scraped.pop("localhost")  # Prometheus itself
    metered = {
        name: int(spec["environment"]["TIDEWATCH_METRICS_PORT"])
        for name, spec in tidewatch_services(services).items()
        if "TIDEWATCH_METRICS_PORT" in spec["environment"]
    }
    # The API serves /metrics on its own HTTP port.
    api = {
        name: int(spec["environment"]["TIDEWATCH_API_PORT"])
        for name, spec in tidewatch_services(services).items()
        if spec["command"] == ["api"]
    }
    assert api and scraped == metered | api
    for name in metered:
        assert services[name]["environment"].get("TIDEWATCH_METRICS_HOST") == "0.0.0.0"
    for name in api:
        assert services[name]["environment"].get("TIDEWATCH_API_HOST") == "0.0.0.0"


def test_grafana_is_provisioned_with_the_stack_prometheus_and_the_dashboards(services: dict) -> None:
    mounts = dict(reversed(m.split(":")[:2]) for m in services["grafana"]["volumes"])
    provisioning = DOCKER / mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    url = urlsplit(datasources[0]["url"])
    assert url.hostname == "prometheus" and url.port == 9090
    assert any(p.endswith(":9090") for p in services["prometheus"]["ports"])
    providers = yaml.safe_load((provisioning / "dashboards" / "tidewatch.yml").read_text())["providers"]
    dashboards_dir = DOCKER / mounts[providers[0]["options"]["path"]]
    boards = sorted(dashboards_dir.glob("*.json"))
    assert [b.stem for b in boards] == ["data-quality", "monitoring-centre"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent.as_posix() == providers[0]["options"]["path"]
    assert (dashboards_dir / Path(home).name).exists()
    uids = {source["uid"] for source in datasources}
    for board in boards:
        document = json.loads(board.read_text())
        used = {p["datasource"]["uid"] for p in document["panels"] if "datasource" in p}
        used |= {t["datasource"]["uid"] for p in document["panels"] for t in p.get("targets", [])}
        assert used == uids, board.name
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids)), f"{board.name}: duplicate panel ids"


# -- Dockerfile ----------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_installs_the_project_as_an_unprivileged_user() -> None:
    steps = dockerfile_instructions()
    assert [arg for op, arg in steps if op == "FROM"] == ["python:3.11-slim"]
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "RUN" and "useradd" in arg and users[-1] in arg for op, arg in steps)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert json.loads(next(arg for op, arg in steps if op == "ENTRYPOINT")) == ["tidewatch"]
    assert "tidewatch" in pyproject["project"]["scripts"]


def test_dockerfile_copies_every_package_the_build_needs() -> None:
    steps = dockerfile_instructions()
    copied = set()
    for op, arg in steps:
        if op == "COPY":
            *sources, _target = arg.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                copied.add(source.rstrip("/"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    present = {name for name in packages if (ROOT / name / "__init__.py").exists()}
    assert present <= copied, f"packages not copied: {present - copied}"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert not any(source in ignore for source in copied), "a copied path is excluded from the context"


def test_parser_introspection_sees_the_real_commands() -> None:
    """Guards the subcommand check above: the parser rejects a command that does not exist."""
    assert isinstance(build_parser(), argparse.ArgumentParser)
    assert _parses(["worker"]) and _parses(["db", "migrate"])
    assert not _parses(["no-such-command"])
