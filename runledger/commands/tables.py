"""How `runledger runs` reads to a person: plain aligned columns that stay readable in a pipe.

Everything is rendered from the JSON documents `--json` prints (projections.document),
so the text and the document cannot disagree. Times are UTC, with how long ago. Text
from the ledger (workspace names, error text) has its control characters escaped, so a
run cannot rewrite the operator's terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from projections.wording import clock, counted, duration, progress_text, utc

RUN_COLUMNS = ("ID", "WORKSPACE", "TYPE", "STATE", "QUEUED", "EXPLANATION")
TIMELINE_COLUMNS = ("TIME", "AFTER", "EVENT", "ACTOR", "ATTEMPT", "NOTE")


def state(run: Mapping[str, Any]) -> str:
    """One word or three: queued, running, stale, succeeded, failed by job/queue/reconciler."""
    if run["status"] != "completed":
        return "stale" if run["freshness"] == "stale" else str(run["status"])
    outcome = str(run["outcome"] or "completed")
    if outcome == "failed" and run["ended_by"]:
        return f"failed by {run['ended_by']}"
    return outcome.replace("_", " ")


def ago(stamp: str | None, now: datetime) -> str:
    """ "3 min ago" ("in 2 s" for a time past `now`, as clock skew can make it)."""
    if stamp is None:
        return ""
    seconds = (utc(now) - _moment(stamp)).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"


def runs_table(document: Mapping[str, Any], now: datetime) -> str:
    """A page of `runs list`: one run a line, then the cursor of the next page, if any."""
    runs = document["runs"]
    if not runs and document["prev_cursor"] is None:
        return "no runs match"
    rows = [
        (
            run["id"],
            run["workspace"],
            run["operation_type"],
            state(run),
            ago(run["queued_at"], now),
            run["explanation"]["headline"],
        )
        for run in runs
    ]
    lines = columns(RUN_COLUMNS, rows) if rows else ["no more runs"]
    if document["next_cursor"]:
        lines.append(f"more: --cursor {document['next_cursor']}")
    if document["prev_cursor"]:
        lines.append(f"newer: --cursor {document['prev_cursor']}")
    return "\n".join(lines)


def run_text(document: Mapping[str, Any], now: datetime) -> str:
    """`runs show`: the explanation first, then the run's facts, timeline and diagnostics."""
    explanation = document["explanation"]
    lines = [printable(explanation["headline"])]
    lines += [f"  {printable(detail)}" for detail in explanation["details"]]
    lines += ["", *_facts(document, now), ""]
    lines += _timeline(document, now)
    if explanation["diagnostics"]:
        lines += ["", "diagnostics", *_pairs(explanation["diagnostics"], indent="  ")]
    return "\n".join(lines)


def _facts(run: Mapping[str, Any], now: datetime) -> list[str]:
    reason = f" ({run['reason_code']})" if run["reason_code"] else ""
    facts: dict[str, Any] = {
        "run": run["id"],
        "workspace": run["workspace"],
        "type": run["operation_type"],
        "state": state(run) + reason,
        "attempts": f"{run['attempts']} of {run['max_tries']}",
        "queued": _when(run["queued_at"], now),
        "started": _when(run["started_at"], now),
        "ended": _when(run["completed_at"], now),
    }
    if run["status"] != "completed":
        facts["last sign"] = _when(run["last_activity_at"], now)
        facts["stale at"] = _when(run["stale_at"], now)
    return _pairs({key: value for key, value in facts.items() if value})


def _timeline(document: Mapping[str, Any], now: datetime) -> list[str]:
    entries = document["timeline"]
    rows = [
        (
            _time_of(entry["at"], now),
            _after(entry["since_previous_seconds"]),
            entry["event"],
            entry["actor"],
            "" if entry["attempt"] is None else str(entry["attempt"]),
            _note(entry, now),
        )
        for entry in entries
    ]
    lines = [f"timeline ({counted(document['events'], 'event')}; times in UTC)"]
    lines += [f"  {line}" for line in columns(TIMELINE_COLUMNS, rows)]
    if document["timeline_next_cursor"]:
        lines.append(
            f"  … the first {len(entries)} entries; the rest: GET {document['links']['self']}"
            f"/timeline?cursor={document['timeline_next_cursor']}"
        )
    return lines


def _note(entry: Mapping[str, Any], now: datetime) -> str:
    details = entry["details"]
    if entry["event"] == "heartbeats":
        progress = progress_text(details.get("last_progress") or {})
        last = _time_of(str(details["last_at"]), now)
        return f"{details['count']} heartbeats to {last}" + (f", at {progress}" if progress else "")
    if entry["event"] == "heartbeat":
        return progress_text(details.get("progress") or {})
    found = details.get("reason_code") or details.get("reason") or ""
    return str(found)


def _pairs(values: Mapping[str, Any], indent: str = "") -> list[str]:
    """`key  value` lines, keys aligned; a multi-line value continues under its column,
    an object's keys follow indented."""
    width = max((len(key) for key in values), default=0)
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{printable(key)}")
            lines += _pairs(value, indent=indent + "  ")
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        first, *rest = printable(text, keep_lines=True).splitlines() or [""]
        lines.append(f"{indent}{printable(key).ljust(width)}  {first}".rstrip())
        lines += [f"{indent}{' ' * width}  {line}".rstrip() for line in rest]
    return lines


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns; the last is not padded, so a long explanation only wraps."""
    cells = [[printable(cell) for cell in row] for row in (header, *rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in cells
    ]


def printable(text: str, *, keep_lines: bool = False) -> str:
    """`text` with control characters escaped (\\x1b, \\t), newlines kept if asked."""
    return "".join(
        ch if ch.isprintable() or (keep_lines and ch == "\n") else _escaped(ch) for ch in text
    )


def _escaped(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def _when(stamp: str | None, now: datetime) -> str:
    if stamp is None:
        return ""
    return f"{clock(_moment(stamp))} ({ago(stamp, now)})"


def _time_of(stamp: str, now: datetime | None) -> str:
    """ "19:54:25.917" on the day of `now`; with the date on any other day."""
    moment = _moment(stamp)
    text = moment.strftime("%H:%M:%S.%f")[:-3]
    if now is not None and utc(now).date() == moment.date():
        return text
    return f"{moment:%Y-%m-%d} {text}"


def _after(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"+{round(seconds * 1000)} ms" if 0 <= seconds < 1 else f"+{duration(seconds)}"


def _moment(stamp: str) -> datetime:
    return utc(datetime.fromisoformat(stamp))
