"""Configuration versions: what produced a stored QC flag or indicator value.

A version is one station's configuration of one kind (``qc``: its QC series and registry entry;
``indicators``: its registry entry and indicator parameters) together with the version of the code that
applies it. Its digest is a sha256 over the canonical JSON of both, so the same configuration and code
always give the same version, on every worker and in every reprocess run. The database numbers each
distinct version once (``config_versions``) and every stored row carries that number.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from typing import Any

import numpy as np
import orjson

QC, INDICATORS = "qc", "indicators"
KINDS = (QC, INDICATORS)


def plain(value: Any) -> Any:
    """A configuration object as plain JSON values with a stable order (dataclasses, maps, sets, arrays)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def digest_of(document: Any) -> str:
    """sha256 (hex) of a document's canonical JSON (keys sorted)."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
    return hashlib.sha256(orjson.dumps(document, option=options)).hexdigest()


@cache
def code_version(package: str, folder: str) -> str:
    """``tidewatch <version> <folder>:<digest of package/folder/**.py>``: changes whenever that code does."""
    try:
        version = metadata.version("tidewatch")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    root = resources.files(package).joinpath(folder)
    pending = [(folder, root)]
    while pending:
        name, entry = pending.pop()
        children = sorted(entry.iterdir(), key=lambda e: e.name)
        for child in children:
            if child.is_dir() and child.name != "__pycache__":
                pending.append((f"{name}/{child.name}", child))
            elif child.name.endswith(".py"):
                digest.update(f"{name}/{child.name}".encode())
                digest.update(child.read_bytes())
    return f"tidewatch {version} {folder}:{digest.hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """One station's configuration of one kind and the code version that applies it."""

    kind: str  # QC or INDICATORS
    station: str
    code_version: str
    document: Mapping[str, Any]  # plain JSON values

    @property
    def digest(self) -> str:
        return digest_of({"kind": self.kind, "code": self.code_version, "config": self.document})
