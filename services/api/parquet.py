"""Parquet written row group by row group into bytes that can be sent at once (streamed exports).

pyarrow writes a Parquet file to any file-like sink; this sink keeps only what was written since the
last ``take()``, so a streamed export holds one row group in memory, not the file.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from services.api.tables import Chunk, Column, arrow_schema, to_arrow


class _Sink:
    """A write-only file that hands its bytes out and forgets them."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class ParquetStream:
    """``write(chunk)`` → the bytes of one row group; ``close()`` → the footer."""

    def __init__(self, columns: Sequence[Column], metadata: dict[str, str] | None = None) -> None:
        self._sink = _Sink()
        schema = arrow_schema(columns).with_metadata(metadata or {})
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), schema, compression="zstd")

    def write(self, chunk: Chunk) -> bytes:
        if len(chunk):
            self._writer.write_batch(to_arrow(chunk))
        return self._sink.take()

    def close(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def parquet_bytes(chunk: Chunk, metadata: dict[str, str] | None = None) -> bytes:
    """A whole (page-sized) table as one Parquet file."""
    stream = ParquetStream(chunk.columns, metadata)
    return stream.write(chunk) + stream.close()
