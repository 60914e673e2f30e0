"""How far the read models trail the ledger, and waiting until they include a position.

`lag` is what /healthz and /metrics report: events behind (stored events after the
tracking position) and seconds behind (how long the oldest of them has been waiting).
`wait_until_projected` lets tests and the CLI wait for a position rather than a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from ledger import DatabaseSettings, utcnow
from projections import tracking
from projections.db import Connection
from projections.events import EventLog


class ProjectionTimeoutError(TimeoutError):
    """The read models did not reach a position in time (is `runledger project` running?)."""


@dataclass(frozen=True)
class Lag:
    position: int  # the last ledger position the read models include
    head: int  # the last position in the ledger
    events_behind: int
    seconds_behind: float  # 0.0 when caught up


def lag(conn: Connection, log: EventLog, now: datetime | None = None) -> Lag:
    position = tracking.read_position(conn)
    head = log.head(conn)
    if head <= position:
        return Lag(position, head, 0, 0.0)
    behind = log.count_after(conn, position)
    oldest = log.read(conn, position, 1)
    waited = 0.0
    if oldest:
        waited = ((now or utcnow()) - datetime.fromisoformat(oldest[0].at)).total_seconds()
    return Lag(position, head, behind, max(0.0, waited))


def read_lag(settings: DatabaseSettings, now: datetime | None = None) -> Lag:
    """`lag` over a connection of its own (for /healthz and /metrics)."""
    with Connection(settings, autocommit=True) as conn:
        return lag(conn, EventLog(settings), now)


def head_position(settings: DatabaseSettings) -> int:
    with Connection(settings, autocommit=True) as conn:
        return EventLog(settings).head(conn)


def wait_until_projected(
    settings: DatabaseSettings,
    position: int | None = None,
    *,
    timeout: float = 30.0,
    poll: float = 0.02,
) -> int:
    """Blocks until the read models include `position` (default: the ledger's head now).

    Polls the tracking position, which the projector moves in the same transaction as
    the rows it writes: once it is reached, every query sees those rows. Returns the
    position reached; raises ProjectionTimeoutError past `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    with Connection(settings, autocommit=True) as conn:
        target = EventLog(settings).head(conn) if position is None else position
        delay = poll
        while (reached := tracking.read_position(conn)) < target:
            if time.monotonic() >= deadline:
                raise ProjectionTimeoutError(
                    f"read models reached position {reached}, not {target}, "
                    f"within {timeout:g}s: is `runledger project` running?"
                )
            time.sleep(delay)  # polling a condition with a deadline, not a guess of timing
            delay = min(delay * 1.5, 0.25)
    return reached
