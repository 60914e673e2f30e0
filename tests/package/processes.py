"""Running `runledger` processes as a user's machine would, outside the repository.

Output goes to a log file per process (a pipe nobody reads would fill and stall a
server), and a failure quotes the log's end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def user_env(**overrides: str) -> dict[str, str]:
    """This environment without PYTHONPATH or any RUNLEDGER_* setting, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RUNLEDGER_") and key not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A started process whose output is kept in `log`."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path):
        self.argv, self.log = list(argv), log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self, last: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-last:]

    def describe(self) -> str:
        state = "running" if self.running() else f"exited {self.popen.returncode}"
        return f"`{' '.join(self.argv)}` ({state}), its output ends:\n{self.output()}"

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (what `docker compose stop` sends), then SIGKILL past `timeout`."""
        if self.running():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


@contextmanager
def started(argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> Iterator[Process]:
    process = Process(argv, env, cwd, log)
    try:
        yield process
    finally:
        process.stop()


def run(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        check=False,  # the callers assert on the exit code, with the output
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(
    probe: Callable[[], Any],
    what: str,
    watched: Process,
    timeout: float = 30,
    detail: Callable[[], str] = str,
) -> Any:
    """Polls `probe` until it returns something truthy; fails, quoting `detail()` and
    `watched`'s output, when `watched` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if value := probe():
            return value
        if not watched.running() or time.monotonic() > deadline:
            why = "exited first" if not watched.running() else f"not within {timeout:g} s"
            pytest.fail(f"no {what} ({why}) {detail()}\n{watched.describe()}", pytrace=False)
        time.sleep(0.1)


def http_get(url: str, timeout: float = 5) -> tuple[int, dict[str, str], bytes] | None:
    """(status, headers, body), or None while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
