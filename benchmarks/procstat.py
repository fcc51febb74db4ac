"""CPU and memory of each process of a benchmark, sampled from /proc while it runs.

Processes are grouped under a role (publisher, ingest, worker, mosquitto, tansu, postgres, …). A
role's CPU is the sum over its processes of utime + stime (/proc/PID/stat), counted from the first
sample that saw each process, so a process that was killed and restarted adds both lives; RSS is the
sum of the live processes' resident sets (/proc/PID/statm). PostgreSQL's CPU is that of the backends
serving the benchmark's database (found in pg_stat_activity at every sample): the server's shared
processes (WAL writer, checkpointer) also serve other databases here and are not attributed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_s(pid: int) -> float | None:
    """utime + stime of one process in seconds, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


@dataclass
class Sample:
    at_s: float  # since the sampler started
    cpu_s: dict[str, float]
    rss_bytes: dict[str, int]


@dataclass
class ProcessSampler:
    """Samples every ``interval_s``; ``roles`` maps a role to a callable returning its current pids."""

    roles: dict[str, Callable[[], Awaitable[list[int]] | list[int]]]
    interval_s: float = 2.0
    samples: list[Sample] = field(default_factory=list)
    _first: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _role_of: dict[int, str] = field(default_factory=dict)
    _task: asyncio.Task | None = None
    _t0: float = 0.0

    async def sample(self) -> Sample:
        rss: dict[str, int] = {}
        for role, pids_of in self.roles.items():
            pids = pids_of()
            if asyncio.iscoroutine(pids):
                pids = await pids
            rss[role] = 0
            for pid in pids:
                used = cpu_s(pid)
                if used is None:
                    continue
                self._first.setdefault(pid, used)
                self._last[pid] = used
                self._role_of[pid] = role
                rss[role] += rss_bytes(pid) or 0
        cpu = dict.fromkeys(self.roles, 0.0)
        for pid, role in self._role_of.items():
            cpu[role] += self._last[pid] - self._first[pid]
        sample = Sample(time.monotonic() - self._t0, cpu, rss)
        self.samples.append(sample)
        return sample

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="process-sampler")

    async def stop(self) -> Sample:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return await self.sample()

    def cpu_between(self, start_s: float, end_s: float) -> dict[str, float]:
        """CPU seconds per role used between two sample times (the nearest samples inside)."""
        inside = [s for s in self.samples if start_s <= s.at_s <= end_s] or self.samples[-1:]
        first, last = inside[0], inside[-1]
        return {role: last.cpu_s[role] - first.cpu_s[role] for role in self.roles}

    def rss_profile(self, role: str) -> tuple[int, int, int, int]:
        """RSS of a role at the start, middle and end of the run, and its peak (bytes)."""
        values = [s.rss_bytes[role] for s in self.samples if s.rss_bytes.get(role)]
        if not values:
            return (0, 0, 0, 0)
        return values[0], values[len(values) // 2], values[-1], max(values)


async def database_backends(conn: object, database: str, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Backend pids serving ``database``, except the sampler's own connection and ``exclude``."""
    rows = await conn.fetch(  # type: ignore[attr-defined]
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
    )
    return [row["pid"] for row in rows if row["pid"] not in exclude]
