"""Per-operation-type policies: how long a run may take and when it counts as stale."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from ledger.errors import PolicyError

DEFAULT_MAX_TRIES = 5  # arq's own default


@dataclass(frozen=True, slots=True)
class OperationPolicy:
    """The timing policy of one operation type, in seconds.

    `timeout` is None only for a policy that has not declared one; the timing guard
    refuses such a policy before any worker runs it. A snapshot of the policy is stored
    in every run's `Queued` event, so a run is judged by the rules it was queued under.
    """

    timeout: float | None
    max_tries: int = DEFAULT_MAX_TRIES
    stale_queued_after: float = 600.0
    stale_running_after: float = 300.0
    retry_defer: float = 0.0

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise PolicyError(f"timeout must be positive seconds, got {self.timeout!r}")
        if self.max_tries < 1:
            raise PolicyError(f"max_tries must be at least 1, got {self.max_tries!r}")
        for name in ("stale_queued_after", "stale_running_after"):
            if getattr(self, name) <= 0:
                raise PolicyError(f"{name} must be positive seconds, got {getattr(self, name)!r}")
        if self.retry_defer < 0:
            raise PolicyError(f"retry_defer must not be negative, got {self.retry_defer!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationPolicy:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def policy_from_snapshot(snapshot: dict[str, Any]) -> OperationPolicy:
    """The policy of a `Queued` event's snapshot, or of a runs-index row's thresholds.

    The one reading of a snapshot: the aggregate and the runs-index fold both judge a run
    by it. Runs share a handful of snapshots, so each is built once.
    """
    try:
        # Typed: 60 and 60.0 are equal keys but not the same snapshot.
        return _policy_of(tuple((k, type(v), v) for k, v in snapshot.items()))
    except TypeError:  # an unhashable value: build it uncached
        return OperationPolicy.from_dict(snapshot)


@lru_cache(maxsize=256)
def _policy_of(items: tuple[tuple[str, type, Any], ...]) -> OperationPolicy:
    return OperationPolicy.from_dict({k: v for k, _, v in items})
