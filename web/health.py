"""`/healthz` for load balancers and `/metrics` for Prometheus.

Neither needs a token and neither names a workspace or a run: health says whether the
database and Redis answer and how far the read models trail the ledger; metrics export
run counts per type, status, outcome and reason (from the stats model, cheap at any
size), stale runs per type (the partial index over active runs), the projection lag
and the request histogram.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.db import DISCONNECTED
from projections.events import EventLog
from projections.lag import Lag, lag
from web.context import WebContext, context_of

UNAVAILABLE: tuple[type[BaseException], ...] = (*DISCONNECTED, OSError)
# How long /healthz waits for a database connection: a load balancer's check should get
# its 503 within its own timeout (often 2-5 s), not the read API's 5 s wait.
HEALTH_WAIT_SECONDS = 1.0


def read_lag(context: WebContext, wait: float | None = None) -> Lag:
    with context.view.connections.connection(wait) as conn:
        return lag(conn, EventLog(context.settings.database), context.clock())


def healthz(request: Request) -> JSONResponse:
    context = context_of(request)
    body: dict[str, Any] = {"status": "ok"}
    try:
        found = read_lag(context, HEALTH_WAIT_SECONDS)
        body["database"] = {"ok": True}
        body["projection"] = {
            "position": found.position,
            "head": found.head,
            "events_behind": found.events_behind,
            "seconds_behind": round(found.seconds_behind, 3),
        }
    except UNAVAILABLE as error:
        body["status"] = "unavailable"
        body["database"] = {"ok": False, "error": _first_line(error)}
    body["redis"] = context.redis_health()
    if body["status"] == "ok" and not body["redis"]["ok"]:
        body["status"] = "degraded"  # the read side works; workers and enqueue do not
    return JSONResponse(body, status_code=503 if body["status"] == "unavailable" else 200)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


class _Snapshot(Collector):
    """The ledger's figures at one scrape, as metric families."""

    def __init__(self, context: WebContext) -> None:
        self.context = context

    def collect(self) -> Iterable[Metric]:
        runs, stale = self.context.view.metrics(self.context.clock())
        found = read_lag(self.context)
        labels = ["status", "outcome", "reason_code", "operation_type"]
        family = GaugeMetricFamily("runledger_runs", "Runs by status and ending", labels=labels)
        for (kind, status, outcome, reason), count in sorted(runs.items()):
            family.add_metric([status, outcome, reason, kind], count)
        yield family
        stale_family = GaugeMetricFamily(
            "runledger_stale_runs",
            "Queued or running runs past their threshold",
            labels=["operation_type"],
        )
        # Every known type, at 0 when none is stale: a dashboard shows 0, not "no data".
        for kind in sorted({key[0] for key in runs} | set(stale)):
            stale_family.add_metric([kind], stale.get(kind, 0))
        yield stale_family
        yield GaugeMetricFamily(
            "runledger_projection_lag_events",
            "Ledger events the read models do not include yet",
            value=found.events_behind,
        )
        yield GaugeMetricFamily(
            "runledger_projection_lag_seconds",
            "Age of the oldest event the read models do not include yet",
            value=found.seconds_behind,
        )


def metrics(request: Request) -> Response:
    context = context_of(request)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(context))
    ledger_part = generate_latest(snapshot)  # a database error here is the handlers' 503
    requests_part = generate_latest(request.app.state.request_registry)
    return Response(ledger_part + requests_part, media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware timing every request by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.histogram = Histogram(
            "runledger_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.histogram.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
