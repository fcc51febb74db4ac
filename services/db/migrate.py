"""Versioned, idempotent schema migrations (``tidewatch db migrate``).

Core migrations (``schemas/migrations/*.sql``) run everywhere; ``schemas/migrations/timescale/*.sql``
run only where the timescaledb extension is available. Each file is applied once, in a transaction,
and recorded with its checksum: editing an applied file is refused rather than silently diverging.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # e.g. "0001_core" or "timescale/0001_hypertables"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationReport:
    mode: str  # "timescaledb" or "postgresql"
    server_version: str
    timescaledb_version: str | None
    applied: list[str]
    already_applied: list[str]

    def describe(self) -> str:
        if self.mode == "timescaledb":
            extra = f"TimescaleDB {self.timescaledb_version}: hypertables, compression and retention on"
        else:
            extra = "plain PostgreSQL: no TimescaleDB, so no hypertables, compression or retention policies"
        return f"PostgreSQL {self.server_version}, {extra}"


def migrations_dir() -> Path:
    return Path(str(resources.files("schemas").joinpath("migrations")))


def discover(folder: Path | None = None) -> tuple[list[Migration], list[Migration]]:
    """The core and the TimescaleDB-only migrations, each in file-name order."""
    folder = folder or migrations_dir()

    def read(path: Path, prefix: str) -> Migration:
        return Migration(prefix + path.stem, path.read_text(encoding="utf-8"))

    core = [read(p, "") for p in sorted(folder.glob("*.sql"))]
    timescale = [read(p, "timescale/") for p in sorted((folder / "timescale").glob("*.sql"))]
    return core, timescale


async def _timescaledb_version(conn: asyncpg.Connection) -> str | None:
    """Install the extension when the server offers it; return its version or None."""
    available = await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if not available:
        return None
    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> MigrationReport:
    core, timescale = discover(folder)
    # One migrator at a time (several workers may start together).
    await conn.execute("SELECT pg_advisory_lock(74657)")
    try:
        await conn.execute(MIGRATIONS_TABLE)
        ts_version = await _timescaledb_version(conn)
        wanted = core + (timescale if ts_version else [])
        done = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
        applied, already = [], []
        for migration in wanted:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                already.append(migration.version)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            applied.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(74657)")
    server_version = await conn.fetchval("SHOW server_version")
    return MigrationReport(
        mode="timescaledb" if ts_version else "postgresql",
        server_version=server_version.split()[0],
        timescaledb_version=ts_version,
        applied=applied,
        already_applied=already,
    )
