"""Counter-based pseudo-random numbers: a pure function of (seed, stream, index).

Every random draw in the simulator is addressed by a key and an integer (a sample's second since
the epoch, a day number, a knot number). The same seed therefore gives the same value for the same
station, variable and time however the simulated time is cut into windows, in any order, in any
process — which a sequential random generator cannot promise once the publisher windows by wall time.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_SECOND = 0x5851F42D4C957F2D
_MASK64 = 0xFFFFFFFFFFFFFFFF
_LOW32 = np.uint64(0xFFFFFFFF)
_S11, _S27, _S30, _S31, _S32 = (np.uint64(n) for n in (11, 27, 30, 31, 32))
_INV_2_53 = 1.0 / float(1 << 53)
_INV_2_32 = 1.0 / float(1 << 32)


def stream_key(seed: int, *names: object) -> int:
    """A 64-bit key for one random stream, stable across processes (no Python hash randomisation)."""
    text = "\x1f".join(str(n) for n in (seed, *names)).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection that scrambles every input bit into every output bit."""
    z = z ^ (z >> _S30)
    z = z * _MUL1
    z = z ^ (z >> _S27)
    z = z * _MUL2
    return z ^ (z >> _S31)


def _hash(key: int, index: np.ndarray | int) -> np.ndarray:
    # uint64 array arithmetic wraps modulo 2**64 without warnings (only numpy scalars warn).
    idx = np.asarray(index, dtype=np.int64).reshape(-1).astype(np.uint64)
    return _mix(idx * _GOLDEN + np.uint64(key & _MASK64))


def uniform(key: int, index: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) draws, one per index (indices must be non-negative)."""
    return (_hash(key, index) >> _S11).astype(np.float64) * _INV_2_53


def normal(key: int, index: np.ndarray | int) -> np.ndarray:
    """Standard normal draws: Box–Muller on the two 32-bit halves of one hash."""
    h = _hash(key, index)
    u1 = ((h >> _S32).astype(np.float64) + 0.5) * _INV_2_32
    u2 = (h & _LOW32).astype(np.float64) * _INV_2_32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth(key: int, t_s: np.ndarray, scale_s: float) -> np.ndarray:
    """Band-limited noise of unit-order variance varying over ~scale_s: weather, drifts, clouds.

    Normal values at knots every scale_s, blended with a smoothstep so the curve and its slope are
    continuous; a second octave at a third of the scale adds detail.
    """
    return (_knots(key, t_s, scale_s) + 0.5 * _knots(key ^ _SECOND, t_s, scale_s / 3.0)) * 1.26


def _knots(key: int, t_s: np.ndarray, scale_s: float) -> np.ndarray:
    x = np.asarray(t_s, dtype=np.float64).reshape(-1) / scale_s
    k = np.floor(x)
    f = x - k
    s = f * f * (3.0 - 2.0 * f)
    k = k.astype(np.int64)
    both = normal(key, np.concatenate((k, k + 1)))
    v0, v1 = both[: len(k)], both[len(k) :]
    return v0 + (v1 - v0) * s
