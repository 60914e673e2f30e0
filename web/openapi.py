"""`GET /api/openapi.json`: OpenAPI 3.1, built from the routes' own parameter declarations.

Query parameters come from web/params.py (what the routes parse), so the document cannot
promise a parameter the API refuses or miss one it takes. The response schemas are in
web/openapi_schemas.py.
"""

from __future__ import annotations

from typing import Any

from web import params
from web.openapi_schemas import OBJECT, SCHEMAS, ref
from web.params import Param

_ERRORS = {
    "400": "a parameter is malformed, unknown or given twice (the error names it)",
    "401": "no token, or not a valid one",
    "403": "the token lacks the capability this route needs",
    "404": "no such run or entry in the token's workspaces",
    "503": "the ledger database is not answering; retry",
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    capability: str | None,
    query: tuple[Param, ...],
    ok: str,
    path_params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = ("400", "401", "403", "503"),
) -> dict[str, Any]:
    parameters = list(path_params or [])
    parameters += [
        {"name": p.name, "in": "query", "required": False, "description": p.description,
         "allowEmptyValue": True, "schema": p.schema()}  # empty: not filtered, the default
        for p in query
    ]  # fmt: skip
    responses = {"200": _json(ref(ok), "OK")}
    responses |= {code: _json(ref("Error"), _ERRORS[code]) for code in errors}
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }
    if capability is not None:
        operation["description"] = f"Needs the `{capability}` capability."
        operation["security"] = [{"bearer": []}]
    return operation


# What names something; anything else is a 404 like an id that names nothing.
_RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "description": "the run's id",
    "schema": {"type": "string", "format": "uuid"},
}
_POSITION = {
    "name": "position",
    "in": "path",
    "required": True,
    "description": "the entry's ledger position",
    "schema": {"type": "integer", "minimum": 1},
}
_WITH_404 = ("400", "401", "403", "404", "503")


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runledger",
            "version": "1",
            "description": "Read-only API over runledger's run ledger (docs/api.md).",
        },
        "paths": {**_read_paths(), **_service_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _read_paths() -> dict[str, Any]:
    """The routes that need a token with a capability."""
    return {
        "/api/runs": {
            "get": _operation("Runs, newest first", "runs:read", params.RUNS_LIST, "RunsPage")
        },
        "/api/runs/{run_id}": {
            "get": _operation(
                "One run: explanation and timeline", "runs:read", (), "RunDocument",
                [_RUN_ID], _WITH_404,
            )
        },
        "/api/runs/{run_id}/timeline": {
            "get": _operation(
                "One run's timeline, paged", "runs:read", params.TIMELINE, "TimelinePage",
                [_RUN_ID], _WITH_404,
            )
        },
        "/api/audit": {
            "get": _operation("The audit log, newest first", "audit:read", params.AUDIT_LIST,
                              "AuditPage")
        },
        "/api/audit/{position}": {
            "get": _operation("One audit entry", "audit:read", (), "AuditEntry", [_POSITION],
                              _WITH_404)
        },
        "/api/stats": {
            "get": _operation("Run counts", "runs:read", params.STATS, "Stats")
        },
    }  # fmt: skip


def _service_paths() -> dict[str, Any]:
    """The routes that need no token: this document, health and metrics."""
    return {
        "/api/openapi.json": {
            "get": {
                "summary": "This document (no token needed)",
                "responses": {"200": _json(OBJECT, "OpenAPI 3.1")},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Database, Redis and projection lag (no token needed)",
                "responses": {
                    "200": _json(ref("Health"), "the database answers"),
                    "503": _json(ref("Health"), "the database does not answer"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics: no workspace names, no run ids (no token needed)",
                "responses": {
                    "200": {
                        "description": "the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": _json(ref("Error"), _ERRORS["503"]),
                },
            }
        },
    }
