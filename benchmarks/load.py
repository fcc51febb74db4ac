"""A cheap, paced load publisher: pre-encoded QoS 1 MQTT packets on a raw socket, in its own process.

paho costs ~120–270 µs of CPU a message here, which at benchmark rates takes most of a core from the
pipeline it is meant to measure. This publisher writes MQTT 3.1.1 PUBLISH packets built from
pre-encoded pieces (topic header per station, value blocks per variant) and sends each tick's messages
in one ``sendall``; PUBACKs are read in bulk. So it costs a few µs a message.

Message ``k`` of a plan goes to station ``k % stations`` with sample time = its scheduled publish
time ``start + k / rate`` (so publish → row latency includes any lag of the publisher itself, and
nothing is hidden by coordinated omission). Each message carries one sample of the eight buoy
variables of ``benchmarks.pipeline`` (eight readings, as a real buoy reports them together).
When the broker goes away the publisher reconnects and resends what was not acknowledged (DUP), as
a station's logger does; what was acknowledged is recorded per message for the soak's accounting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.pipeline import BUOY_VALUES
from schemas.contract import readings_topic
from services.mqtt_auth import parse_mqtt_url
from services.stack.mqtt import PROJECT_ROOT

TICK_S = 0.005  # messages due are sent every 5 ms in one write
VARIANTS = 64  # distinct value blocks per station cycle (values move, so QC sees a signal)
MAX_IN_FLIGHT = 20_000  # unacknowledged QoS 1 messages before the publisher waits (< 65,535 ids)
CATCH_UP = 4.0  # after an outage, send at most this many times the rate until on schedule again


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What to publish: ``rate_msg_s`` messages/s round-robin over ``stations`` for ``duration_s``."""

    url: str
    network: str
    stations: int
    rate_msg_s: float
    duration_s: float
    start_us: int  # scheduled time of message 0, µs since the epoch (wall clock, UTC)
    station_prefix: str = "bench"
    # Seconds of data per second of wall clock. Above 1, sample times run faster than the publisher and
    # end at the run's end (they start in the past), so per-station windows reach their steady size.
    time_scale: float = 1.0

    @property
    def messages(self) -> int:
        return int(self.rate_msg_s * self.duration_s)

    def station(self, index: int) -> str:
        return f"{self.station_prefix}-{index:04d}"

    @property
    def data_start_us(self) -> int:
        """Sample time of message 0 (its publish time when ``time_scale`` is 1)."""
        return self.start_us - int(self.duration_s * (self.time_scale - 1) * 1e6)

    def time_us(self, k: int) -> int:
        """Sample time of message ``k`` (= its scheduled publish time at scale 1), µs since the epoch."""
        return self.data_start_us + int(k * 1e6 * self.time_scale / self.rate_msg_s)

    def times_us(self, k: np.ndarray) -> np.ndarray:
        """``time_us`` of many messages at once (the same float operations, so the same µs)."""
        return self.data_start_us + (k * 1e6 * self.time_scale / self.rate_msg_s).astype(np.int64)


@dataclass
class LoadReport:
    """What the publisher did: offered vs achieved rate, acknowledgements, its own CPU."""

    offered: int = 0  # messages scheduled in the run
    sent: int = 0  # distinct messages written to the socket at least once
    acked: int = 0
    resent: int = 0
    connects: int = 0
    wall_s: float = 0.0  # from the schedule's start until the last PUBACK (or the settle limit)
    send_s: float = 0.0  # from the schedule's start until the last message was first sent
    cpu_s: float = 0.0
    max_lag_s: float = 0.0  # how far sending fell behind the schedule at worst
    readings_per_message: int = len(BUOY_VALUES)

    @property
    def achieved_msg_s(self) -> float:
        return self.sent / self.send_s if self.send_s else 0.0

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, keep-alive off (the benchmark's socket never idles long)."""
    flags = 0x02 | (0x80 if username else 0) | (0x40 if password is not None else 0)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack(">H", 0) + _string(client_id)
    if username:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return b"\x10" + _varint(len(body)) + body


def _values_block(variant: int) -> bytes:
    """``"values":{…}}`` for one variant: each variable moves on a slow sine around its buoy value."""
    phase = 2 * math.pi * variant / VARIANTS
    values = {
        name: round(base * (1 + 0.02 * math.sin(phase + i)), 4)
        for i, (name, base) in enumerate(BUOY_VALUES.items())
    }
    return b'","values":' + json.dumps(values, separators=(",", ":")).encode() + b"}"


class Encoder:
    """Builds the PUBLISH packet of message ``k`` from pre-encoded pieces (no JSON encoding per message)."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.topics = [_string(readings_topic(plan.network, plan.station(i))) for i in range(plan.stations)]
        self.heads = [f'{{"station":"{plan.station(i)}","time":"'.encode() for i in range(plan.stations)]
        self.blocks = [_values_block(v) for v in range(VARIANTS)]
        self._second = -1
        self._stamp = b""

    def _time(self, time_us: int) -> bytes:
        second, micros = divmod(time_us, 1_000_000)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return self._stamp + b".%06dZ" % micros

    def packet(self, k: int, packet_id: int, dup: bool = False) -> bytes:
        plan = self.plan
        station = k % plan.stations
        payload = (
            self.heads[station] + self._time(plan.time_us(k)) + self.blocks[(k // plan.stations) % VARIANTS]
        )
        topic = self.topics[station]
        body_len = len(topic) + 2 + len(payload)
        return b"".join(
            (b"\x3a" if dup else b"\x32", _varint(body_len), topic, struct.pack(">H", packet_id), payload)
        )


class _Connection:
    def __init__(self, plan: LoadPlan, client_id: str) -> None:
        target = parse_mqtt_url(plan.url)
        if target.tls:
            raise ValueError("the load publisher speaks plain MQTT on loopback only")
        self.sock = socket.create_connection((target.host, target.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id, target.username, target.password))
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError("broker closed the connection before CONNACK")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection (CONNACK {connack.hex()})")
        self.sock.setblocking(False)
        self.buffer = b""

    def acks(self, timeout_s: float) -> list[int]:
        """Packet ids of the PUBACKs that arrived within ``timeout_s``."""
        readable, _, _ = select.select([self.sock], [], [], max(timeout_s, 0))
        if not readable:
            return []
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("broker closed the connection")
        data = self.buffer + data
        whole = len(data) - len(data) % 4
        self.buffer = data[whole:]
        # Mosquitto sends nothing but PUBACKs (0x40 0x02 id) to a publisher that subscribes to nothing.
        return [
            pid for head, size, pid in struct.iter_unpack(">BBH", data[:whole]) if head == 0x40 and size == 2
        ]

    def send(self, data: bytes) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_stop = threading.Event()  # set by SIGTERM: stop scheduling, settle, report


def publish(plan: LoadPlan, acked_path: Path | None = None, settle_s: float = 30.0) -> LoadReport:
    """Publish the plan on schedule; after it, wait up to ``settle_s`` for outstanding PUBACKs."""
    encoder = Encoder(plan)
    report = LoadReport(offered=plan.messages)
    acked = np.zeros(plan.messages, dtype=bool)
    in_flight: dict[int, int] = {}  # packet id → message index
    free_ids = list(range(MAX_IN_FLIGHT, 0, -1))
    client_id = f"load-{plan.network}-{os.getpid()}"
    cpu0, wall0 = _cpu_s(), time.monotonic()
    started = wall0 + (plan.start_us / 1e6 - time.time())  # the schedule's start on this clock
    conn: _Connection | None = None
    k = 0
    end = started + plan.duration_s
    limit = plan.messages
    while True:
        now = time.monotonic()
        if _stop.is_set() and limit > k:  # asked to stop early: what was sent is the run
            limit, end = k, now
        if k >= limit and (not in_flight or now > end + settle_s):
            break
        if conn is None:
            try:
                conn = _Connection(plan, client_id)
                report.connects += 1
                if in_flight:  # what the last connection did not get acknowledged goes again
                    resend = [encoder.packet(m, pid, dup=True) for pid, m in sorted(in_flight.items())]
                    report.resent += len(resend)
                    conn.send(b"".join(resend))
            except OSError:
                conn = None
                time.sleep(0.2)
                continue
        try:
            due = min(limit, int((now - started) * plan.rate_msg_s) + 1) if now >= started else 0
            budget = max(1, int(CATCH_UP * plan.rate_msg_s * TICK_S))
            stop = min(due, k + budget, k + len(free_ids))
            if stop > k:
                packets = []
                for m in range(k, stop):
                    pid = free_ids.pop()
                    in_flight[pid] = m
                    packets.append(encoder.packet(m, pid))
                conn.send(b"".join(packets))
                report.sent += stop - k
                k = stop
                report.send_s = time.monotonic() - started
            if k < due:
                report.max_lag_s = max(report.max_lag_s, (due - k) / plan.rate_msg_s)
            # Sleep (reading PUBACKs) until the next tick, or the next message if that is later.
            next_due = max(now + TICK_S, started + (k + 1) / plan.rate_msg_s)
            wait = next_due - time.monotonic() if k < limit else 0.1
            for pid in conn.acks(wait):
                m = in_flight.pop(pid, None)
                if m is not None:
                    acked[m] = True
                    free_ids.append(pid)
        except OSError:
            conn.sock.close()
            conn = None
    if conn is not None:
        conn.close()
    report.offered = limit
    acked = acked[:limit]
    report.acked = int(acked.sum())
    report.wall_s = time.monotonic() - started
    report.cpu_s = _cpu_s() - cpu0
    if acked_path is not None:
        np.save(acked_path, acked)
    return report


class LoadProcess:
    """The publisher in a process of its own (``python -m benchmarks.load``), so its CPU is its own."""

    def __init__(self, plan: LoadPlan, work: Path, *, keep_acks: bool = False) -> None:
        self.plan = plan
        self.report_path = work / f"load-{plan.network}.json"
        self.acked_path = work / f"load-{plan.network}-acked.npy" if keep_acks else None
        argv = [sys.executable, "-m", "benchmarks.load", json.dumps(asdict(plan)), str(self.report_path)]
        if self.acked_path is not None:
            argv.append(str(self.acked_path))
        self.log_path = work / f"load-{plan.network}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def join(self, timeout_s: float | None = None) -> LoadReport:
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.returncode != 0 or not self.report_path.exists():
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"load publisher exited with {self.process.returncode}:\n{log}")
        return LoadReport(**json.loads(self.report_path.read_text()))

    def stop(self) -> None:
        """End the load now (the report covers what was scheduled until then)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self) -> LoadReport:
        return await asyncio.to_thread(self.join)

    def acked(self) -> np.ndarray:
        assert self.acked_path is not None
        return np.load(self.acked_path)


def main(argv: list[str]) -> None:
    """``python -m benchmarks.load PLAN_JSON REPORT_PATH [ACKED_PATH]`` (started by LoadProcess)."""
    plan = LoadPlan(**json.loads(argv[0]))
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    report = publish(plan, Path(argv[2]) if len(argv) > 2 else None)
    Path(argv[1]).write_text(json.dumps(asdict(report)))


if __name__ == "__main__":
    main(sys.argv[1:])
