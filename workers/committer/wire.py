"""What travels between a worker and its committer. Worker → committer: `[(seq, command,
at)]`, each command without its `at` (stamped by the worker, set by the committer: no copy
on the worker's side), or None: drain, then stop. Committer → worker, tagged tuples:
`("ready",)`, `("log", level, logger, message)` and `("results", [(seq, Committed |
Refused)], batches, commands)`; then it closes the pipe."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from ledger import Effect, LedgerError, RunNotFoundError, RunStatus, Transition


class Committed(NamedTuple):
    """A durable command: what it did, and all the worker reads of its run after it."""

    effect: Effect
    status: RunStatus
    reason_code: str | None


class CommitRefusedError(LedgerError):
    """The ledger refused a command with an error the worker cannot rebuild."""


class Refused(NamedTuple):
    """A command the ledger refused: its error's type name and message."""

    error: str
    message: str

    def error_for(self, run_id: UUID) -> Exception:
        if self.error == RunNotFoundError.__name__:
            return RunNotFoundError(run_id)
        return CommitRefusedError(f"{self.error}: {self.message}")


def reply_of(result: Transition | Exception) -> Committed | Refused:
    if isinstance(result, Exception):
        return Refused(type(result).__name__, str(result))
    code = result.run.reason_code
    return Committed(result.effect, result.run.status, None if code is None else str(code))
