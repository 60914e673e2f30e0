"""The filter forms' fields, made from the same `Param` declarations the API parses.

A field is a select when its parameter has choices, else a text input (times too: a
`datetime-local` input cannot show the `Z` of a permalink's time and would drop it on
the next submit). Suggestions for workspaces and operation types come from the stats
model, within the viewer's scope, so they never name another workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from projections import MonitoringView, Scope
from web.params import Param
from web.ui.query import PageQuery

__all__ = ["Field", "Suggestions", "fields", "suggestions"]

LABELS = {
    "workspace": "Workspace",
    "operation_type": "Operation type",
    "status": "Status",
    "outcome": "Outcome",
    "freshness": "Freshness",
    "ended_by": "Ended by",
    "reason_code": "Reason",
    "queued_after": "Queued from (UTC)",
    "queued_before": "Queued before (UTC)",
    "run_id": "Run id",
    "actor": "Actor",
    "action": "Action",
    "since": "From (UTC)",
    "until": "Before (UTC)",
    "limit": "Per page",
}
PLACEHOLDERS = {
    "time": "2026-03-04T10:30Z",
    "uuid": "e.g. 0b6f3c1e-5d2a-…",
}
# The default page size is the empty choice, so an untouched form adds no `limit=50`.
LIMITS = (("25", "25"), ("", "50"), ("100", "100"), ("200", "200"))


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # "select" or "text"
    value: str  # what the operator typed
    options: tuple[tuple[str, str], ...] = ()  # (value, words) of a select
    placeholder: str = ""
    error: str | None = None
    suggest: str | None = None  # the id of a <datalist>

    @property
    def id(self) -> str:
        return f"f-{self.name}"


@dataclass(frozen=True)
class Suggestions:
    workspaces: list[str]
    operation_types: list[str]


def fields(
    accepted: Sequence[Param], query: PageQuery, suggest: dict[str, str] | None = None
) -> list[Field]:
    """One field per filter parameter (not the cursor), in declaration order."""
    out: list[Field] = []
    for param in accepted:
        if param.name == "cursor":
            continue
        options = _options(param)
        value = query.typed.get(param.name, "")
        out.append(
            Field(
                name=param.name,
                label=LABELS.get(param.name, param.name),
                kind="select" if options else "text",
                value="" if param.name == "limit" and value == str(param.default) else value,
                options=options,
                placeholder=PLACEHOLDERS.get(param.kind, ""),
                error=query.errors.get(param.name),
                suggest=(suggest or {}).get(param.name),
            )
        )
    return out


def _options(param: Param) -> tuple[tuple[str, str], ...]:
    if param.name == "limit":
        return LIMITS
    if not param.choices:
        return ()
    return (("", "Any"), *((choice, choice.replace("_", " ")) for choice in param.choices))


def suggestions(view: MonitoringView, scope: Scope) -> Suggestions:
    rows = view.stats(scope)
    return Suggestions(
        workspaces=sorted({row.workspace for row in rows}),
        operation_types=sorted({row.operation_type for row in rows}),
    )
