"""The Committer: how a worker's transitions become durable (docs/workers.md)."""

from workers.committer.client import Committer, CommitterDiedError, LocalCommitter, ProcessCommitter
from workers.committer.wire import CommitRefusedError, Committed

__all__ = ["CommitRefusedError", "Committed", "Committer", "CommitterDiedError"]
__all__ += ["LocalCommitter", "ProcessCommitter"]
