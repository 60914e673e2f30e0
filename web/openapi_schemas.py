"""The response schemas of `GET /api/openapi.json`: what projections.document returns.

The schemathesis test holds these to the API's actual responses, and the CLI test holds
`Run`'s properties to `runledger runs show --json`.
"""

from __future__ import annotations

from typing import Any

_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
OBJECT = {"type": "object"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_EXPLANATION = {
    "type": "object",
    "required": ["headline", "details", "diagnostics"],
    "properties": {
        "headline": {"type": "string"},
        "details": {"type": "array", "items": {"type": "string"}},
        "diagnostics": OBJECT,
    },
}
_RUN_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "workspace": {"type": "string"},
    "operation_type": {"type": "string"},
    "status": {"type": "string", "enum": ["queued", "running", "completed"]},
    "outcome": _NULLABLE_TEXT,
    "freshness": {"type": ["string", "null"], "enum": ["fresh", "stale", None]},
    "ended_by": _NULLABLE_TEXT,
    "reason_code": _NULLABLE_TEXT,
    "explanation": ref("Explanation"),
    "attempts": {"type": "integer"},
    "max_tries": {"type": "integer"},
    "queued_at": _TIME,
    "started_at": _NULLABLE_TIME,
    "last_activity_at": _TIME,
    "completed_at": _NULLABLE_TIME,
    "stale_at": _NULLABLE_TIME,
    "stale_after_seconds": {"type": ["number", "null"]},
    "timeout_seconds": {"type": ["number", "null"]},
    "heartbeats": {"type": "integer"},
    "progress": OBJECT,
    "late_signals": {"type": "integer"},
    "initiator": {"type": "string"},
    "worker_id": _NULLABLE_TEXT,
    "links": OBJECT,
}
_TIMELINE_ENTRY = {
    "type": "object",
    "required": ["version", "position", "at", "event", "actor", "details"],
    "properties": {
        "version": {"type": "integer"},
        "position": {"type": "integer"},
        "at": _TIME,
        "event": {"type": "string"},
        "actor": {"type": "string"},
        "attempt": {"type": ["integer", "null"]},
        "since_previous_seconds": {"type": ["number", "null"]},
        "details": OBJECT,
    },
}
_AUDIT_ENTRY = {
    "type": "object",
    "required": ["position", "at", "actor", "action", "workspace", "run_id", "details"],
    "properties": {
        "position": {"type": "integer"},
        "at": _TIME,
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "workspace": {"type": "string"},
        "operation_type": {"type": "string"},
        "run_id": {"type": "string", "format": "uuid"},
        "details": OBJECT,
        "links": OBJECT,
    },
}
_CURSORS = {"next_cursor": _NULLABLE_TEXT, "prev_cursor": _NULLABLE_TEXT}
_COUNT_MAP = {"type": "object", "additionalProperties": {"type": "integer"}}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
            }
        },
    },
    "Explanation": _EXPLANATION,
    "Run": {"type": "object", "required": list(_RUN_PROPERTIES), "properties": _RUN_PROPERTIES},
    "RunDocument": {
        "allOf": [
            ref("Run"),
            {
                "type": "object",
                "required": ["timeline", "events", "params_summary", "summary"],
                "properties": {
                    "idempotency_key": _NULLABLE_TEXT,
                    "params_summary": OBJECT,
                    "summary": OBJECT,
                    "events": {"type": "integer"},
                    "timeline": {"type": "array", "items": ref("TimelineEntry")},
                    "timeline_next_cursor": _NULLABLE_TEXT,
                },
            },
        ]
    },
    "RunsPage": {
        "type": "object",
        "required": ["runs", "next_cursor"],
        "properties": {"runs": {"type": "array", "items": ref("Run")}, **_CURSORS},
    },
    "TimelineEntry": _TIMELINE_ENTRY,
    "TimelinePage": {
        "type": "object",
        "required": ["entries", "next_cursor", "events"],
        "properties": {
            "entries": {"type": "array", "items": ref("TimelineEntry")},
            "next_cursor": _NULLABLE_TEXT,
            "events": {"type": "integer"},
        },
    },
    "AuditEntry": _AUDIT_ENTRY,
    "AuditPage": {
        "type": "object",
        "required": ["entries", "next_cursor"],
        "properties": {"entries": {"type": "array", "items": ref("AuditEntry")}, **_CURSORS},
    },
    "Stats": {
        "type": "object",
        "required": ["counts", "rows"],
        "properties": {
            "counts": {
                "type": "object",
                "properties": {
                    "total": {"type": "integer"},
                    "stale": {"type": "integer"},
                    "by_status": _COUNT_MAP,
                    "by_outcome": _COUNT_MAP,
                    "by_ended_by": _COUNT_MAP,
                    "by_reason_code": _COUNT_MAP,
                    "failed_by": _COUNT_MAP,
                },
            },
            "rows": {"type": "array", "items": OBJECT},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "redis"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "database": OBJECT,
            "redis": OBJECT,
            "projection": OBJECT,
        },
    },
}
