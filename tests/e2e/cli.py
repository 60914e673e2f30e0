"""Running the real `runledger` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNLEDGER = str(Path(sys.executable).with_name("runledger"))


def cli_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNLEDGER_")}
    env["PYTHONPATH"] = str(ROOT)  # so `--jobs tests.…` imports
    env.update(overrides)
    return env


def runledger(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNLEDGER, *args],
        check=False,  # the tests assert on the exit code
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def spawn(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RUNLEDGER, *args],
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def one_clear_line(stderr: str) -> str:
    """The stderr of a refused command: one line, never a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `probe` until it returns something truthy; fails naming `what` past `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)
    return value
