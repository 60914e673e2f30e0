"""What every route reaches through `request.app.state.context`: built once per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request

from ledger import utcnow
from projections import MonitoringView
from web.settings import WebSettings
from web.tokens import TokenStore


@dataclass
class WebContext:
    settings: WebSettings
    view: MonitoringView
    tokens: TokenStore
    clock: Callable[[], datetime] = field(default=utcnow)
    redis: Any = None  # a redis.Redis for /healthz, made on first use

    @classmethod
    def open(cls, settings: WebSettings) -> WebContext:
        view = MonitoringView(settings.database)
        return cls(settings, view, TokenStore(view.connections))

    def redis_health(self) -> dict[str, Any]:
        import redis

        if self.redis is None:
            self.redis = redis.Redis.from_url(
                self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1
            )
        try:
            self.redis.ping()
        except (redis.RedisError, OSError) as error:
            return {"ok": False, "error": str(error).splitlines()[0][:200]}
        return {"ok": True}

    def close(self) -> None:
        self.view.close()
        if self.redis is not None:
            self.redis.close()


def context_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context
