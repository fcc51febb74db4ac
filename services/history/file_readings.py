"""What reading a historical file gives: its readings as columns and the rows it refused (the
type every file reader returns and the importer and validator take)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson


class FileFormatError(ValueError):
    """The file as a whole cannot be read as the format (nothing of it is imported)."""


@dataclass(frozen=True, slots=True)
class RowRefusal:
    row: int
    reason: str
    detail: str
    payload: bytes
    station: str | None = None


@dataclass(slots=True)
class FileReadings:
    """A file's readings as columns; ``row`` numbers them as the file does (CSV line, NetCDF sample)."""

    path: str
    row_label: str  # "row" (CSV line number) or "sample" (NetCDF sample index)
    station: np.ndarray  # object arrays of str
    variable: np.ndarray
    time_us: np.ndarray
    value: np.ndarray  # NaN = missing reading
    row: np.ndarray
    unit: np.ndarray | None = None  # per reading, "" when the file names none
    refused: list[RowRefusal] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # file variables that are not readings

    def __len__(self) -> int:
        return len(self.time_us)

    def payload(self, i: int) -> bytes:
        """The reading as text, for a dead letter (the raw row where the format has rows)."""
        return orjson.dumps(
            {
                "file": self.path,
                self.row_label: int(self.row[i]),
                "station": self.station[i],
                "variable": self.variable[i],
                "time_us": int(self.time_us[i]),
                "value": None if self.value[i] != self.value[i] else float(self.value[i]),
                "unit": None if self.unit is None else self.unit[i],
            }
        )
