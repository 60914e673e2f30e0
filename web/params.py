"""Query parameters, declared once: parsed and refused from these, and documented from them.

Each route lists the `Param`s it takes. A parameter it does not list, one given twice, or
a value of the wrong shape is a 400 naming the parameter; an empty value (what an HTML
form sends for a filter left blank) means "not filtered" (`allowEmptyValue` in the
document). The OpenAPI document (web/openapi.py) is built from the same declarations, so
the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from ledger import EndedBy, Freshness, Outcome, ReasonCode, RunStatus
from projections import MAX_LIMIT
from projections.cursors import MAX_CURSOR_LENGTH
from web.errors import bad_parameter

Kind = Literal["text", "choice", "time", "int", "uuid", "bool", "cursor"]
MAX_TEXT = 200


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    description: str
    choices: tuple[str, ...] = ()
    minimum: int = 1
    maximum: int = MAX_LIMIT
    default: Any = None

    def parse(self, text: str) -> Any:
        parser = _PARSERS[self.kind]
        return parser(self, text)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = _SCHEMAS[self.kind](self)
        return schema


def parse_query(query: Sequence[tuple[str, str]], accepted: Sequence[Param]) -> dict[str, Any]:
    """The values of the accepted parameters (defaults for those not given)."""
    by_name = {p.name: p for p in accepted}
    values: dict[str, Any] = {p.name: p.default for p in accepted}
    seen: set[str] = set()
    for name, text in query:
        param = by_name.get(name)
        if param is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise bad_parameter(name, f"unknown query parameter {name!r} (accepted: {known})")
        if name in seen:
            raise bad_parameter(name, f"{name} is given more than once")
        seen.add(name)
        if text:  # exactly as documented: no trimming that would accept " queued"
            values[name] = param.parse(text)
    return values


def _text(param: Param, text: str) -> str:
    if len(text) > MAX_TEXT or "\x00" in text:
        raise bad_parameter(param.name, f"{param.name} must be at most {MAX_TEXT} characters")
    return text


def _choice(param: Param, text: str) -> str:
    if text not in param.choices:
        raise bad_parameter(
            param.name, f"{param.name} must be one of {', '.join(param.choices)}; got {text!r}"
        )
    return text


def _time(param: Param, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
        # OverflowError: an offset that moves a time at the calendar's edge out of range.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_parameter(
            param.name, f"{param.name} must be an ISO 8601 time, e.g. 2026-12-01T10:00:00Z"
        ) from None


def _int(param: Param, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not (param.minimum <= int(text) <= param.maximum):
        raise bad_parameter(
            param.name,
            f"{param.name} must be an integer from {param.minimum} to {param.maximum}",
        )
    return int(text)


def _uuid(param: Param, text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise bad_parameter(param.name, f"{param.name} must be a run id (a UUID)") from None


def _bool(param: Param, text: str) -> bool:
    if text not in ("true", "false"):
        raise bad_parameter(param.name, f"{param.name} must be true or false")
    return text == "true"


def _cursor(param: Param, text: str) -> str:
    if len(text) > MAX_CURSOR_LENGTH:
        raise bad_parameter(param.name, f"{param.name} is not a cursor from this listing")
    return text  # decoded (and refused if forged) by the read API


_PARSERS = {
    "text": _text,
    "choice": _choice,
    "time": _time,
    "int": _int,
    "uuid": _uuid,
    "bool": _bool,
    "cursor": _cursor,
}
_SCHEMAS: Mapping[str, Any] = {
    "text": lambda p: {"type": "string", "maxLength": MAX_TEXT},
    "choice": lambda p: {"type": "string", "enum": list(p.choices)},
    "time": lambda p: {"type": "string", "format": "date-time"},
    "int": lambda p: {"type": "integer", "minimum": p.minimum, "maximum": p.maximum},
    "uuid": lambda p: {"type": "string", "format": "uuid"},
    "bool": lambda p: {"type": "boolean"},
    "cursor": lambda p: {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
}


def _values(enum: Any) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


WORKSPACE = Param("workspace", "text", "only this workspace (within the token's workspaces)")
OPERATION_TYPE = Param("operation_type", "text", "only this operation type")
LIMIT = Param("limit", "int", f"rows per page, 1-{MAX_LIMIT} (default 50)", default=50)
CURSOR = Param("cursor", "cursor", "next_cursor or prev_cursor of a previous page")

RUN_FILTERS = (
    WORKSPACE,
    OPERATION_TYPE,
    Param("status", "choice", "queued, running or completed", _values(RunStatus)),
    Param("outcome", "choice", "how a completed run ended", _values(Outcome)),
    Param("freshness", "choice", "stale or fresh now (queued, running)", _values(Freshness)),
    Param("ended_by", "choice", "who ended the run", _values(EndedBy)),
    Param("reason_code", "choice", "why the run ended", _values(ReasonCode)),
    Param("queued_after", "time", "queued at or after this time"),
    Param("queued_before", "time", "queued before this time"),
)
RUNS_LIST = (*RUN_FILTERS, LIMIT, CURSOR)
TIMELINE = (
    Param("limit", "int", f"entries per page, 1-{MAX_LIMIT} (default 200)", default=MAX_LIMIT),
    CURSOR,
    Param("fold", "bool", "fold runs of heartbeats into one entry (default true)", default=True),
)
AUDIT_LIST = (
    WORKSPACE,
    OPERATION_TYPE,
    Param("run_id", "uuid", "only this run's entries"),
    Param("actor", "text", "e.g. reconciler, worker:HOST:PID, operator:NAME"),
    Param("action", "text", "e.g. run.queued, run.reconciled_stale"),
    Param("since", "time", "at or after this time"),
    Param("until", "time", "before this time"),
    LIMIT,
    CURSOR,
)
STATS = (WORKSPACE, OPERATION_TYPE)
