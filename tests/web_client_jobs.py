"""An operation the web tests' client may queue but their worker does not serve, so arq
fails it as an unknown function (queue.function_missing)."""

from __future__ import annotations

from typing import Any

from tests.web_jobs import FAST
from workers import operation


@operation("web.unserved", max_tries=1, **FAST)
async def unserved(ctx: dict[str, Any]) -> None:
    """Never runs."""
