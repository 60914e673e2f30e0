"""Stats: how many runs there are per workspace, operation type, status, outcome and reason.

Maintained by deltas (a run moving from `running` to `completed/failed` is -1 on one key
and +1 on another); rows that fall to zero are deleted, so the incremental table equals
one counted from scratch by a replay. Missing outcome/reason are stored as ''.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from projections.db import Connection
from projections.schema import Table

Key = tuple[str, str, str, str, str]

TABLE = Table(
    name="run_stats",
    columns=(
        ("workspace", "TEXT NOT NULL"),
        ("operation_type", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("outcome", "TEXT NOT NULL"),
        ("reason_code", "TEXT NOT NULL"),
        ("runs", "{bigint} NOT NULL"),
    ),
    primary_key=("workspace", "operation_type", "status", "outcome", "reason_code"),
)


def deltas(before: dict[str, Key | None], after: dict[str, Key]) -> Counter[Key]:
    """The count changes of a batch, from each touched run's key before and after it."""
    change: Counter[Key] = Counter()
    for run_id, key in after.items():
        old = before.get(run_id)
        if old == key:
            continue
        if old is not None:
            change[old] -= 1
        change[key] += 1
    return change


def apply_deltas(conn: Connection, change: Counter[Key], suffix: str = "") -> None:
    rows = [(*key, n) for key, n in change.items() if n != 0]
    if not rows:
        return
    table = f"{TABLE.name}{suffix}"
    conn.executemany(
        f"INSERT INTO {{s}}{table} "
        "(workspace, operation_type, status, outcome, reason_code, runs) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace, operation_type, status, outcome, reason_code) "
        f"DO UPDATE SET runs = {table}.runs + excluded.runs",
        rows,
    )
    conn.execute(f"DELETE FROM {{s}}{table} WHERE runs = 0")


def insert_counts(conn: Connection, keys: Iterable[Key], suffix: str = "") -> None:
    """Writes counts computed from scratch into an empty table (replay)."""
    counts = Counter(keys)
    conn.bulk_insert(
        f"{TABLE.name}{suffix}", TABLE.column_names, [(*k, n) for k, n in sorted(counts.items())]
    )
