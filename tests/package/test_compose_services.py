"""compose.yaml's services, run here as Compose would run them: each service's command
with its environment, then its healthcheck, on this machine's PostgreSQL and Redis.

Only what Docker provides is replaced: the hosts in the URLs (this test's own schema and
queue), the image's `runledger` and `python` (this virtualenv's), the web's address
(127.0.0.1 on a free port) and PID 1 in the probes (the process started here).
"""

from __future__ import annotations

import re
import secrets
import signal
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.package import compose
from tests.package.processes import Process, free_port, run, started, user_env, wait_until

RUNLEDGER = str(Path(sys.executable).with_name("runledger"))
SECRET = {"RUNLEDGER_SECRET_KEY": secrets.token_urlsafe(32)}


@pytest.fixture
def services() -> dict[str, Any]:
    return dict(compose.load(SECRET)["services"])


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """The image's /app: an empty working directory."""
    path = tmp_path / "app"
    path.mkdir()
    return path


def local(argv: list[str]) -> list[str]:
    """`argv` with the image's programs replaced by this virtualenv's."""
    programs = {"runledger": RUNLEDGER, "python": sys.executable}
    return [programs.get(argv[0], argv[0]), *argv[1:]]


def probe_of(service: Mapping[str, Any], process: Process) -> list[str]:
    """The service's healthcheck, aimed at `process` instead of the container's PID 1."""
    argv = local(compose.healthcheck_of(service))
    return [*argv[:-1], str(process.pid)] if argv[-1] == "1" else argv


def seconds(duration: str) -> float:
    """A compose duration ("10s", "1m30s", "500ms") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, f"not a compose duration: {duration!r}"
    return sum(float(n) * units[unit] for n, unit in parts)


def wait_healthy(
    name: str, service: Mapping[str, Any], process: Process, env: Mapping[str, str], cwd: Path
) -> None:
    """Runs the healthcheck, with its own timeout, until it passes while `process` runs."""
    check = probe_of(service, process)
    # Three times compose's timeout: here the suite's other servers share the CPU, where a
    # container has its own share.
    limit = 3 * seconds(service["healthcheck"].get("timeout", "30s"))
    last: list[str] = ["never ran"]

    def passes() -> bool:
        result = run(check, env, cwd, timeout=limit)
        last[0] = f"exit {result.returncode}: {result.stdout}{result.stderr}".strip()
        return result.returncode == 0 and process.running()

    wait_until(passes, f"passing {name} healthcheck", process, 60, lambda: f"(last: {last[0]})")


def test_every_service_starts_as_compose_runs_it_and_its_healthcheck_passes(
    services: dict[str, Any], postgres_url: str, redis_server: str, queue_name: str, app_dir: Path
) -> None:
    import redis

    port = free_port()
    here = {
        "RUNLEDGER_DATABASE_URL": postgres_url,
        "RUNLEDGER_REDIS_URL": redis_server,
        "RUNLEDGER_QUEUE_NAME": queue_name,
    }
    web_here = {"RUNLEDGER_WEB_HOST": "127.0.0.1", "RUNLEDGER_WEB_PORT": str(port)}

    def env_of(name: str) -> dict[str, str]:
        return user_env(
            **{
                **compose.environment_of(services[name]),
                **here,
                **(web_here if name == "web" else {}),
            }
        )

    migrated = run(local(compose.command_of(services["migrate"])), env_of("migrate"), app_dir)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    replicas = int(services["worker"]["deploy"]["replicas"])
    names = [*(["worker"] * replicas), "projector", "web"]
    with ExitStack() as stack:
        processes = [
            (name, stack.enter_context(_start(services, name, env_of(name), app_dir, i)))
            for i, name in enumerate(names)
        ]
        for name, process in processes:
            wait_healthy(name, services[name], process, env_of(name), app_dir)
        # arq records its health key at its first poll: the workers serve the queue.
        client = redis.Redis.from_url(redis_server)
        try:
            worker = processes[0][1]
            wait_until(lambda: client.exists(f"{queue_name}:health-check"), "polling", worker)
        finally:
            client.close()
        # `docker compose stop`: SIGTERM, then SIGKILL after 10 s. uvicorn ends the web by
        # re-raising the SIGTERM it handled, once it has shut down cleanly.
        stopped = [(name, process.stop(timeout=10)) for name, process in processes]
        clean = (0, -signal.SIGTERM)
        assert all(code in clean for _, code in stopped), f"exit codes on SIGTERM: {stopped}"


def _start(
    services: dict[str, Any], name: str, env: Mapping[str, str], cwd: Path, index: int
) -> AbstractContextManager[Process]:
    argv = local(compose.command_of(services[name]))
    return started(argv, env, cwd, cwd.parent / f"{name}-{index}.log")


def test_the_probe_fails_once_the_process_is_gone_or_the_ledger_does_not_answer(
    services: dict[str, Any], app_dir: Path, tmp_path: Path
) -> None:
    projector = services["projector"]
    env = user_env(
        **{
            **compose.environment_of(projector),
            "RUNLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'runledger.db'}",
        }
    )
    migrated = run(local(compose.command_of(services["migrate"])), env, app_dir)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with _start(services, "projector", env, app_dir, 0) as process:
        wait_healthy("projector", projector, process, env, app_dir)
        check = probe_of(projector, process)
        unmigrated = {**env, "RUNLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
        refused = run(check, unmigrated, app_dir)
        assert refused.returncode != 0
        assert "the ledger or Redis does not answer" in refused.stderr
        as_worker = run([*check[:-2], "worker", check[-1]], env, app_dir)
        assert as_worker.returncode != 0
        assert "is not a live runledger worker" in as_worker.stderr
        process.stop()
        gone = run(check, env, app_dir)
        assert gone.returncode != 0
        assert f"no process {process.pid}" in gone.stderr
