"""Errors the ledger raises. Library errors are translated at the application boundary."""

from __future__ import annotations

from uuid import UUID


class LedgerError(Exception):
    """Base class of runledger's own errors; `hint` tells an operator what to do."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class SettingsError(LedgerError):
    """A setting (environment variable, URL) is malformed."""


class PolicyError(LedgerError):
    """An operation policy is malformed."""


class RunNotFoundError(LedgerError):
    def __init__(self, run_id: UUID | str) -> None:
        super().__init__(f"no run with id {run_id}")
        self.run_id = run_id


class IllegalTransitionError(LedgerError):
    """A command that no ordering of real signals can produce (a programming error)."""

    def __init__(self, run_id: UUID, command: str, status: str) -> None:
        super().__init__(f"run {run_id}: cannot {command} a run that is {status}")
        self.run_id = run_id
        self.command = command
        self.status = status


class ConflictRetriesExhaustedError(LedgerError):
    """Concurrent writers kept winning the race for one run; the command was not applied."""

    def __init__(self, run_id: UUID, tries: int) -> None:
        super().__init__(f"run {run_id}: still conflicting after {tries} tries")
        self.run_id = run_id


class StoreUnavailableError(LedgerError):
    """The event store cannot be reached (or keeps failing); nothing was written."""
