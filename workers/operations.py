"""Declaring operations: the `@operation` decorator, its registry and job outcomes.

An operation is an async arq job function plus its timing policy. Declaring one has no
side effect beyond recording it in the process-wide registry; which operations a worker
serves is decided at its edge (`--jobs MODULE`), by the modules it imports.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ledger import OperationPolicy, ReasonCode
from ledger.policy import DEFAULT_MAX_TRIES
from workers.errors import DuplicateOperationError, JobsModuleError, UnknownOperationError

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One declared operation type: its name (also the arq function name) and policy."""

    name: str
    function: JobFunction
    policy: OperationPolicy

    async def __call__(self, ctx: dict[str, Any], **params: Any) -> Any:
        # Calling the declared object runs the plain function: handy in unit tests of jobs.
        return await self.function(ctx, **params)


def operation(
    name: str,
    *,
    timeout: float | None,
    max_tries: int = DEFAULT_MAX_TRIES,
    stale_queued_after: float = 600.0,
    stale_running_after: float = 300.0,
    retry_defer: float = 0.0,
) -> Callable[[JobFunction], Operation]:
    """Declares an async job function as a tracked operation type.

    `timeout` is keyword-only and has no default on purpose: every operation states how
    long it may run (the timing guard refuses `None`).
    """
    policy = OperationPolicy(
        timeout=timeout,
        max_tries=max_tries,
        stale_queued_after=stale_queued_after,
        stale_running_after=stale_running_after,
        retry_defer=retry_defer,
    )

    def declare(function: JobFunction) -> Operation:
        declared = Operation(name=name, function=function, policy=policy)
        registry.add(declared)
        return declared

    return declare


class OperationRegistry:
    """Operation types by name. Re-declaring the same function (a module reload) replaces it."""

    def __init__(self, operations: Iterable[Operation] = ()) -> None:
        self._operations: dict[str, Operation] = {}
        self._lock = threading.Lock()
        for declared in operations:
            self.add(declared)

    def add(self, declared: Operation) -> None:
        with self._lock:
            existing = self._operations.get(declared.name)
            if existing is not None and _origin(existing) != _origin(declared):
                raise DuplicateOperationError(
                    f"operation {declared.name!r} is declared twice: by {_origin(existing)} "
                    f"and by {_origin(declared)}"
                )
            self._operations[declared.name] = declared

    def get(self, name: str) -> Operation:
        try:
            return self._operations[name]
        except KeyError:
            raise UnknownOperationError(name, list(self._operations)) from None

    def __iter__(self) -> Iterator[Operation]:
        return iter(sorted(self._operations.values(), key=lambda op: op.name))

    def __len__(self) -> int:
        return len(self._operations)

    def __contains__(self, name: object) -> bool:
        return name in self._operations


def _origin(declared: Operation) -> str:
    function = declared.function
    return f"{function.__module__}.{function.__qualname__}"


# Every operation declared in this process, whichever module declared it.
registry = OperationRegistry()


def load_operations(modules: str | Iterable[str]) -> OperationRegistry:
    """Imports the jobs module(s) (comma-separated names) and returns the operations they
    declare at module level: exactly what `--jobs` names, not whatever else is imported."""
    names = [m.strip() for m in modules.split(",")] if isinstance(modules, str) else list(modules)
    names = [n for n in names if n]
    if not names:
        raise JobsModuleError(
            "no jobs module given", hint="pass --jobs MODULE or set RUNLEDGER_JOBS"
        )
    found = OperationRegistry()
    for name in names:
        for declared in _declared_in(_import(name)):
            found.add(declared)
    if not len(found):
        raise JobsModuleError(
            f"{', '.join(names)} declares no @operation",
            hint="decorate the job functions with workers.operation(...)",
        )
    return found


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise JobsModuleError(
                f"cannot import the jobs module {name!r}: no module named {error.name!r}",
                hint="check --jobs / RUNLEDGER_JOBS and that the module is on PYTHONPATH",
            ) from None
        raise


def _declared_in(module: ModuleType) -> list[Operation]:
    return [value for value in vars(module).values() if isinstance(value, Operation)]


@dataclass(frozen=True)
class JobOutcome:
    """What a job reports about its own run. Returning None or a dict means succeeded."""

    reason_code: ReasonCode
    summary: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def succeeded(cls, summary: Mapping[str, Any] | None = None) -> JobOutcome:
        return cls(ReasonCode.JOB_SUCCEEDED, dict(summary or {}))

    @classmethod
    def partially_succeeded(cls, summary: Mapping[str, Any] | None = None) -> JobOutcome:
        return cls(ReasonCode.JOB_PARTIALLY_SUCCEEDED, dict(summary or {}))

    @classmethod
    def failed(cls, summary: Mapping[str, Any] | None = None) -> JobOutcome:
        return cls(ReasonCode.JOB_FAILED, dict(summary or {}))

    @classmethod
    def from_return(cls, value: object) -> JobOutcome:
        """The outcome a job function's return value stands for."""
        if isinstance(value, JobOutcome):
            return value
        if value is None:
            return cls.succeeded()
        if isinstance(value, Mapping):
            return cls.succeeded(value)
        raise TypeError(
            f"a job must return None, a dict or a JobOutcome, not {type(value).__name__}"
        )
