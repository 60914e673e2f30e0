"""`runledger web` refuses to start misconfigured, with one clear line."""

from __future__ import annotations

import pytest

from tests.e2e.cli import one_clear_line, runledger


@pytest.mark.parametrize(
    ("secret", "said"),
    [("", "RUNLEDGER_SECRET_KEY is not set"), ("short", "RUNLEDGER_SECRET_KEY is too short")],
)
def test_web_refuses_to_start_without_a_secret_key(sqlite_url: str, secret: str, said: str) -> None:
    refused = runledger(
        "web", "--port", "1", RUNLEDGER_DATABASE_URL=sqlite_url, RUNLEDGER_SECRET_KEY=secret
    )
    assert refused.returncode == 2
    line = one_clear_line(refused.stderr)
    assert said in line and "secrets.token_urlsafe" in line


def test_web_refuses_a_port_that_is_not_one(sqlite_url: str) -> None:
    refused = runledger(
        "web",
        RUNLEDGER_DATABASE_URL=sqlite_url,
        RUNLEDGER_SECRET_KEY="a-secret-that-is-long-enough",
        RUNLEDGER_WEB_PORT="eighty",
    )
    assert refused.returncode == 2
    assert "RUNLEDGER_WEB_PORT='eighty' is not a TCP port" in one_clear_line(refused.stderr)
