"""Node.js harnesses of the test suite (tests/timescale, tests/grafana): their pinned npm packages."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import time
from pathlib import Path

import pytest


def node_with_harness(harness_dir: Path, installed: Path, purpose: str) -> str:
    """The node binary, after `npm ci` in ``harness_dir`` when ``installed`` (a file of it) is missing.

    Skips the calling test when node or npm are absent, naming ``purpose``; fails when `npm ci` fails.
    """
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if not node_bin or not npm_bin:
        pytest.skip(f"node and npm are not installed: {purpose} runs inside Node")
    # `make test` runs modules in several processes (pytest -n): two modules of one harness may start
    # together on a fresh clone, and `npm ci` empties node_modules first, so one process installs
    # while the other waits on the lock and then finds the package there.
    with open(harness_dir / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists():
            started = time.perf_counter()
            done = subprocess.run(
                [npm_bin, "ci", "--no-audit", "--no-fund"],
                cwd=harness_dir,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(
                    f"npm ci in {harness_dir} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                )
            print(f"npm ci in {harness_dir.name}: {time.perf_counter() - started:.1f} s")
    return node_bin
