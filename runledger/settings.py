"""The settings of one `runledger` command: the environment, read once, in `main`.

Each part is parsed the first time a command asks for it, so a command is refused only
for a setting it uses (`runledger migrate` does not care about a bad Redis URL), and
importing this module loads neither arq nor a database driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from ledger import DatabaseSettings

if TYPE_CHECKING:
    from workers.settings import QueueSettings, WorkerSettings

JOBS_VAR = "RUNLEDGER_JOBS"
COMMIT_LATENCY_VAR = "RUNLEDGER_COMMIT_LATENCY_LOG"  # opt-in, for load tests


class Settings:
    """One command's view of its environment; `runledger.cli.main` builds it once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(os.environ)

    @cached_property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings.from_env(self.environ)

    @cached_property
    def queue(self) -> QueueSettings:
        from workers.settings import QueueSettings

        return QueueSettings.from_env(self.environ)

    def jobs(self, given: str | None) -> str:
        """The job modules: `--jobs` if given, else RUNLEDGER_JOBS."""
        return given or self.environ.get(JOBS_VAR) or ""

    @cached_property
    def reconcile_interval(self) -> int:
        """RUNLEDGER_RECONCILE_INTERVAL: seconds between reconciler passes."""
        from workers.settings import reconcile_interval_from

        return reconcile_interval_from(self.environ)

    @cached_property
    def worker(self) -> WorkerSettings:
        from workers.settings import COMMITTER_VAR, WorkerSettings

        return WorkerSettings(
            self.database,
            self.queue,
            reconcile_interval=self.reconcile_interval,
            commit_latency_log=self.environ.get(COMMIT_LATENCY_VAR) or None,
            committer=self.environ.get(COMMITTER_VAR) or "process",
        )
