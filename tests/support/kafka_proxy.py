"""A TCP proxy in front of the Kafka broker that can cut a client off the instant it has been given a
record: the record reaches the client, nothing the client sends afterwards reaches the broker.

That places a crash exactly between "a worker read a record" and "anything it produced from it got
out", a window a plain kill -9 hits only by chance.
"""

from __future__ import annotations

import asyncio
import contextlib


class FreezingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.frozen = asyncio.Event()
        self._marker: bytes | None = None
        self._frozen_conns: list[asyncio.StreamWriter] = []
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def freeze_after(self, marker: bytes) -> None:
        """From the first broker reply that contains ``marker``: hold every byte clients send."""
        self._marker = marker
        self.frozen.clear()

    def thaw(self) -> None:
        """Drop the held bytes as a crash would (they never left the process) and close those
        connections; new connections flow again."""
        for client, upstream in list(self._conns):
            client.close()
            upstream.close()
        self._conns.clear()
        self._marker = None
        self.frozen.clear()

    async def stop(self) -> None:
        self.thaw()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        pair = (client_w, up_w)
        self._conns.add(pair)
        await asyncio.gather(
            self._pipe(client_r, up_w, pair, to_broker=True),
            self._pipe(up_r, client_w, pair, to_broker=False),
            return_exceptions=True,
        )
        self._conns.discard(pair)
        for writer in pair:
            writer.close()

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        to_broker: bool,
    ) -> None:
        tail = b""
        with contextlib.suppress(OSError, ConnectionError):
            while data := await src.read(65536):
                if to_broker and self.frozen.is_set():
                    # Held until thaw() closes the connection: these bytes never reach the broker.
                    while pair in self._conns:
                        await asyncio.sleep(0.05)
                    return
                if not to_broker and self._marker is not None and not self.frozen.is_set():
                    if self._marker in tail + data:
                        self.frozen.set()
                    tail = data[-len(self._marker) :]
                dst.write(data)
                await dst.drain()
