"""The Starlette app `runledger web` serves: the JSON API, health and metrics (and the
HTML views, mounted from web/ui when present). Read-only: no route writes a run."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import psycopg
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from projections import ReadRequestError
from web import api
from web.context import WebContext
from web.errors import ApiError, handle_error
from web.health import RequestMetrics, healthz, metrics
from web.openapi import openapi_document
from web.security import SecurityHeaders
from web.settings import WebSettings

# What a route may raise that is the client's or the database's doing, never a 500.
HANDLED: tuple[type[Exception], ...] = (
    ApiError,
    ReadRequestError,
    HTTPException,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.UndefinedTable,
    sqlite3.OperationalError,
)


def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


def create_app(settings: WebSettings, context: WebContext | None = None) -> Starlette:
    """The app, over `context` (made from `settings` when not given, closed at shutdown)."""
    owned = context is None
    the_context = context or WebContext.open(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            the_context.close()

    registry = CollectorRegistry(auto_describe=True)
    routes: list[BaseRoute] = [
        *api.routes,
        Route("/api/openapi.json", openapi, name="api_openapi"),
        Route("/healthz", healthz, name="healthz"),
        Route("/metrics", metrics, name="metrics"),
        *_ui_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(RequestMetrics, registry=registry),
        ],
        exception_handlers={cls: handle_error for cls in HANDLED},
        lifespan=lifespan,
    )
    app.state.context = the_context
    app.state.request_registry = registry
    app.state.openapi = openapi_document()
    return app


def _ui_routes() -> Sequence[BaseRoute]:
    """The HTML views' routes, when the web/ui package is installed beside the API."""
    try:
        from web.ui import routes as ui_routes
    except ImportError:
        return []
    return list(ui_routes())
