"""The index's count chips: how many runs are in each state, each a link to that state.

Counts are exact and cheap (projections.counts reads the stats model and the partial
index over active runs, never the history), so no chip needs an estimate. A chip sets
the state filters (status, outcome, freshness, ended_by, reason_code) and keeps the
others (workspace, type, time range); the chip already selected links back to every
state. "Queued" and "Running" count stale runs too: "Stale now" singles those out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projections import Counts
from web.ui.badges import KINDS
from web.ui.query import PageQuery

__all__ = ["STATE_FILTERS", "Chip", "chips"]

STATE_FILTERS = ("status", "outcome", "freshness", "ended_by", "reason_code")


@dataclass(frozen=True)
class Chip:
    key: str  # the badge kind it stands for (data-chip)
    label: str
    icon: str
    count: int
    href: str
    active: bool


@dataclass(frozen=True)
class _State:
    key: str
    label: str
    filters: dict[str, str]
    count: Callable[[Counts], int]
    always: bool = True  # shown even at zero (cancelled only appears when it happens)


def _failed_by(ended_by: str) -> Callable[[Counts], int]:
    return lambda counts: counts.failed_by.get(ended_by, 0)


_STATES = (
    _State("queued", "Queued", {"status": "queued"}, lambda c: c.by_status.get("queued", 0)),
    _State("running", "Running", {"status": "running"}, lambda c: c.by_status.get("running", 0)),
    _State("stale", "Stale now", {"freshness": "stale"}, lambda c: c.stale),
    _State(
        "succeeded",
        "Succeeded",
        {"outcome": "succeeded"},
        lambda c: c.by_outcome.get("succeeded", 0),
    ),
    _State(
        "partially_succeeded",
        "Partially succeeded",
        {"outcome": "partially_succeeded"},
        lambda c: c.by_outcome.get("partially_succeeded", 0),
    ),
    *(
        _State(
            f"failed_by_{by}",
            KINDS[f"failed_by_{by}"][0],
            {"outcome": "failed", "ended_by": by},
            _failed_by(by),
        )
        for by in ("job", "queue", "reconciler")
    ),
    _State(
        "cancelled",
        "Cancelled",
        {"outcome": "cancelled"},
        lambda c: c.by_outcome.get("cancelled", 0),
        always=False,
    ),
)


def _current_state(query: PageQuery) -> dict[str, str]:
    return {name: query.typed[name] for name in STATE_FILTERS if query.typed.get(name)}


def chips(counts: Counts, query: PageQuery, path: str = "/operations") -> tuple[Chip, list[Chip]]:
    """The "all runs" chip, then one chip per state (cursor dropped: a chip starts over)."""
    current = _current_state(query)
    cleared: dict[str, str | None] = {name: None for name in (*STATE_FILTERS, "cursor")}
    every = Chip("all", "All runs", "all", counts.total, query.link(path, cleared), not current)
    out: list[Chip] = []
    for state in _STATES:
        count = state.count(counts)
        if not state.always and not count:
            continue
        active = current == state.filters
        href = query.link(path, cleared if active else {**cleared, **state.filters})
        out.append(Chip(state.key, state.label, KINDS[state.key][1], count, href, active))
    return every, out
