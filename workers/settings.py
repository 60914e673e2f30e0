"""Where the queue lives: RUNLEDGER_REDIS_URL and RUNLEDGER_QUEUE_NAME, read at the edges."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name

from ledger import DatabaseSettings, PolicyError, SettingsError

REDIS_URL_VAR = "RUNLEDGER_REDIS_URL"
QUEUE_NAME_VAR = "RUNLEDGER_QUEUE_NAME"
JOBS_VAR = "RUNLEDGER_JOBS"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
# Where a worker's ctx holds the stores the reconciler cron job connects to.
SETTINGS_KEY = "runledger_database_settings"
QUEUE_KEY = "runledger_queue_settings"
# Clients fail fast: an enqueue must not hang for arq's 5 x 1 s connection retries.
CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class QueueSettings:
    redis_url: str = DEFAULT_REDIS_URL
    queue_name: str = default_queue_name

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QueueSettings:
        environ = os.environ if environ is None else environ
        settings = cls(
            redis_url=environ.get(REDIS_URL_VAR) or DEFAULT_REDIS_URL,
            queue_name=environ.get(QUEUE_NAME_VAR) or default_queue_name,
        )
        settings.redis_settings()  # validate now, with a clear message
        return settings

    def redis_settings(self) -> RedisSettings:
        try:
            settings = RedisSettings.from_dsn(self.redis_url)
        except (RuntimeError, ValueError) as error:
            raise SettingsError(
                f"{REDIS_URL_VAR}={self.redis_url!r} is not a Redis URL ({error})",
                hint="expected redis://HOST[:PORT]/DB",
            ) from None
        settings.conn_timeout = int(CONNECT_TIMEOUT)
        return settings

    def client(self) -> ArqRedis:
        """A lazily connecting arq client: nothing is dialled until the first command."""
        redis: ArqRedis = ArqRedis.from_url(
            self.redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT * 2,
        )
        redis.default_queue_name = self.queue_name
        return redis


def jobs_from_env(given: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """`--jobs` if given, else RUNLEDGER_JOBS."""
    environ = os.environ if environ is None else environ
    return given or environ.get(JOBS_VAR) or None


INTERVAL_VAR = "RUNLEDGER_RECONCILE_INTERVAL"
DEFAULT_INTERVAL_SECONDS = 30


def reconcile_interval_from(environ: Mapping[str, str]) -> int:
    """RUNLEDGER_RECONCILE_INTERVAL: seconds between reconciler passes, dividing 60."""
    raw = environ.get(INTERVAL_VAR) or str(DEFAULT_INTERVAL_SECONDS)
    try:
        interval = int(raw)
    except ValueError:
        raise PolicyError(f"{INTERVAL_VAR}={raw!r} is not a whole number of seconds") from None
    if interval < 1 or 60 % interval:
        raise PolicyError(
            f"the reconcile interval must be a whole number of seconds dividing 60, got {interval}"
        )
    return interval


# Which committer writes a worker's transitions: a process of its own (the default: on
# both stores it measured well ahead of a thread, docs/benchmarks.md) or a thread of the
# worker's (no second interpreter: for tests and small deployments).
COMMITTER_VAR = "RUNLEDGER_COMMITTER"
COMMITTERS = ("process", "thread")


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker is built from, read once at the edge (runledger.settings)."""

    database: DatabaseSettings
    queue: QueueSettings = QueueSettings()
    reconcile_interval: int = DEFAULT_INTERVAL_SECONDS
    heartbeat_interval: float = 1.0
    commit_latency_log: str | None = None  # RUNLEDGER_COMMIT_LATENCY_LOG (JobTracker.commit)
    committer: str = "process"

    def __post_init__(self) -> None:
        if self.committer not in COMMITTERS:
            raise SettingsError(
                f"{COMMITTER_VAR}={self.committer!r} is not a committer",
                hint="expected one of " + ", ".join(COMMITTERS),
            )

    @property
    def committer_in_process(self) -> bool:
        return self.committer == "thread"
