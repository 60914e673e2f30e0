"""Operations whose policies the timing guard must refuse (used through the CLI)."""

from __future__ import annotations

from typing import Any

from workers import operation


@operation("misaligned.no_timeout", timeout=None)
async def no_timeout(ctx: dict[str, Any]) -> None:
    """Declares no timeout."""


@operation("misaligned.stale_too_soon", timeout=30, max_tries=3, stale_running_after=60)
async def stale_too_soon(ctx: dict[str, Any]) -> None:
    """3 tries x 30 s + the redelivery window cannot fit under 60 s."""
