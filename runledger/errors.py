"""Turning errors a user can fix into one clear line instead of a traceback."""

from __future__ import annotations

from eventsourcing.persistence import OperationalError, PersistenceError, ProgrammingError

from ledger import DatabaseSettings, LedgerError


def describe_error(error: BaseException) -> str | None:
    """One line saying what is wrong and what to do, or None for an unexpected error."""
    if isinstance(error, LedgerError):
        return f"{error}" + (f" ({error.hint})" if error.hint else "")
    if (
        (isinstance(error, ProgrammingError) and "does not exist" in str(error))
        or (isinstance(error, PersistenceError) and "no such table" in str(error))
        or _is_missing_table(error)
    ):
        return "the ledger's tables do not exist: run `runledger migrate` first"
    if isinstance(error, (OperationalError, PersistenceError)):
        return (
            f"cannot use the database {_where()}: {_first_line(error)} "
            "(check RUNLEDGER_DATABASE_URL and that the server is running)"
        )
    if _is_connection_error(error, "psycopg"):
        return (
            f"cannot reach the database {_where()}: {_first_line(error)} "
            "(check RUNLEDGER_DATABASE_URL and that the server is running)"
        )
    if _is_connection_error(error, "redis"):
        return (
            f"cannot reach Redis: {_first_line(error)} "
            "(check RUNLEDGER_REDIS_URL and that the server is running)"
        )
    return None


def _where() -> str:
    try:
        return DatabaseSettings.from_env().display()
    except LedgerError:
        return "(unparseable RUNLEDGER_DATABASE_URL)"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _is_missing_table(error: BaseException) -> bool:
    """A read model's or the web app's table is missing (raised by the driver itself)."""
    kind, module = type(error).__name__, type(error).__module__
    if module.startswith("psycopg"):
        return kind == "UndefinedTable"
    return module == "sqlite3" and kind == "OperationalError" and "no such table" in str(error)


def _is_connection_error(error: BaseException, library: str) -> bool:
    # Checked by name so this module imports neither redis nor psycopg for every command.
    names = {cls.__name__ for cls in type(error).__mro__}
    wanted = {"ConnectionError", "TimeoutError", "OperationalError"}
    return bool(names & wanted) and type(error).__module__.startswith(library)
