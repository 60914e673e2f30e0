"""Running several `runledger` commands as real processes, a few at a time.

Each process spends a second or two importing, all of it CPU: more of them at once
than there are CPUs only makes each one slower.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.cli import runledger


def run_all(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str], *, timeout: float = 120
) -> dict[str, subprocess.CompletedProcess[str]]:
    """`runledger ARGS` once per entry, as many at a time as there are CPUs."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {
            name: pool.submit(runledger, *args, timeout=timeout, **env)
            for name, args in commands.items()
        }
        return {name: future.result() for name, future in futures.items()}
