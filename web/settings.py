"""What `runledger web` needs, read once at the composition root and passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ledger import DatabaseSettings, LedgerError

SECRET_KEY_VAR = "RUNLEDGER_SECRET_KEY"
HOST_VAR = "RUNLEDGER_WEB_HOST"
PORT_VAR = "RUNLEDGER_WEB_PORT"
REDIS_URL_VAR = "RUNLEDGER_REDIS_URL"
INTERVAL_VAR = "RUNLEDGER_RECONCILE_INTERVAL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIN_SECRET_LENGTH = 16


class WebSettingsError(LedgerError):
    """`runledger web` cannot start as configured."""


@dataclass(frozen=True)
class WebSettings:
    database: DatabaseSettings
    secret_key: str = field(repr=False)  # signs session cookies; never in a repr
    redis_url: str = "redis://localhost:6379/0"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    reconcile_interval: float = 30.0  # when the explanations predict the next reconcile

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        env = os.environ if environ is None else environ
        secret = env.get(SECRET_KEY_VAR, "")
        if len(secret.strip()) < MIN_SECRET_LENGTH:
            raise WebSettingsError(
                f"{SECRET_KEY_VAR} is {'too short' if secret else 'not set'}: "
                f"it signs session cookies and needs at least {MIN_SECRET_LENGTH} characters",
                hint=f'e.g. export {SECRET_KEY_VAR}="$(python3 -c '
                "'import secrets; print(secrets.token_urlsafe(32))')\"",
            )
        return cls(
            database=DatabaseSettings.from_env(env),
            secret_key=secret,
            redis_url=env.get(REDIS_URL_VAR) or "redis://localhost:6379/0",
            host=env.get(HOST_VAR) or DEFAULT_HOST,
            port=_port(env.get(PORT_VAR)),
            reconcile_interval=_interval(env.get(INTERVAL_VAR)),
        )


def _port(text: str | None) -> int:
    if not text:
        return DEFAULT_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise WebSettingsError(f"{PORT_VAR}={text!r} is not a TCP port (1-65535)")
    return int(text)


def _interval(text: str | None) -> float:
    try:
        return float(text) if text else 30.0
    except ValueError:
        raise WebSettingsError(f"{INTERVAL_VAR}={text!r} is not a number of seconds") from None
