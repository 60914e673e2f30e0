"""What travels between a worker and its committer, both ways.

worker → committer: `encode_commands([(seq, command, at)])`, or b"": drain, then stop.
committer → worker, tagged tuples: `("ready",)`, `("closed",)`, `("log", level, logger,
message)` and `("results", [(seq, Committed | Refused)], batches, commands)`.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from ledger import Effect, LedgerError, RunCommand, RunNotFoundError, RunStatus, Transition


class Committed(NamedTuple):
    """A durable command: what it did, and all the worker reads of its run after it."""

    effect: Effect
    status: RunStatus
    reason_code: str | None


class Refused(NamedTuple):
    """A command the ledger refused: its error's type name and message."""

    error: str
    message: str


class CommitRefusedError(LedgerError):
    """The ledger refused a command with an error the worker cannot rebuild."""


# The few distinct Committed values, kept: a batch of replies pickles each one once.
_KNOWN: dict[tuple[Effect, RunStatus, str | None], Committed] = {}


def reply_of(result: Transition | Exception) -> Committed | Refused:
    if isinstance(result, Exception):
        return Refused(type(result).__name__, str(result))
    code = result.run.reason_code
    key = (result.effect, result.run.status, None if code is None else str(code))
    if (known := _KNOWN.get(key)) is None:
        known = _KNOWN.setdefault(key, Committed(*key)) if len(_KNOWN) < 1024 else Committed(*key)
    return known


def refusal_error(refused: Refused, run_id: UUID) -> Exception:
    if refused.error == RunNotFoundError.__name__:
        return RunNotFoundError(run_id)
    return CommitRefusedError(f"{refused.error}: {refused.message}")


def encode_commands(batch: list[tuple[int, RunCommand, datetime]]) -> bytes:
    return pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)  # stamped there: no copy here


def decode_commands(data: bytes) -> list[tuple[int, RunCommand]]:
    return [(seq, replace(command, at=at)) for seq, command, at in pickle.loads(data)]
