"""The demo's processes: a private Redis and the real `runledger` processes, each logging
to a file of its own, stopped together (SIGTERM, then SIGKILL after a grace)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ledger import LedgerError

STOP_GRACE_SECONDS = 10.0


class DemoError(LedgerError):
    """The demo cannot run here as it is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runledger_command() -> list[str]:
    """The `runledger` of this installation (the demo may run from any directory)."""
    return [sys.executable, "-m", "runledger"]


@dataclass
class Supervisor:
    directory: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.log_path(name).open("ab")
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )
        log.close()
        self.processes[name] = process
        return process

    def start_redis(self, port: int) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise DemoError(
                "the demo runs a private Redis, and redis-server is not installed",
                hint="install it: apt-get install redis-server (Debian/Ubuntu) "
                "or brew install redis (macOS)",
            )
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.directory)]  # fmt: skip
        self.start("redis", argv, dict(os.environ))
        self.wait_for_port(port, "redis")

    def wait_for_port(self, port: int, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(name)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise DemoError(f"{name} did not listen on port {port} within {timeout:g} s",
                        hint=f"see {self.log_path(name)}")  # fmt: skip

    def check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise DemoError(f"{name} exited with status {process.returncode}",
                            hint=f"see {self.log_path(name)}")  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash or an out-of-memory killer would: nothing runs after it."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """SIGTERM to every process and a grace to finish (then SIGKILL); Redis last, as
        stopping workers still hand their cut-short jobs back to it."""
        names = [name for name in self.processes if name != "redis"]
        self._stop(names)
        self._stop([name for name in self.processes if name == "redis"])
        self.processes.clear()

    def _stop(self, names: list[str]) -> None:
        for name in names:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name in names:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
