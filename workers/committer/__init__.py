"""The Committer: how a worker's transitions become durable (docs/workers.md)."""

from __future__ import annotations

from typing import Protocol

from ledger import RunCommand
from workers.committer.client import CommitterDiedError, LocalCommitter, ProcessCommitter
from workers.committer.wire import CommitRefusedError, Committed

__all__ = ["CommitRefusedError", "Committed", "Committer", "CommitterDiedError"]
__all__ += ["LocalCommitter", "ProcessCommitter"]


class Committer(Protocol):
    """`commit` returns once its command is durable (or raises why it was refused);
    `aclose` once every command submitted before it is."""

    batches_committed: int
    commands_committed: int

    async def commit(self, command: RunCommand) -> Committed: ...

    async def aclose(self) -> None: ...
