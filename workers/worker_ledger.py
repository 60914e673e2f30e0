"""The ledger a worker's committer writes through: a module of its own, so that the
committer process, which imports it, imports nothing of arq."""

from __future__ import annotations

from ledger import DatabaseSettings, RunLedger

# Runs a worker's ledger keeps in memory (RunLedger cache_size): enough for every job in
# flight to read its run once at Started and reuse it at its ending.
WORKER_CACHE_SIZE = 10_000
# No pre-ping on the worker's pool: it adds a round trip to every ledger write, and
# the committer already retries a write that met a connection a restart killed.
WORKER_LEDGER_ENV = {"POSTGRES_PRE_PING": "n"}


def worker_ledger(settings: DatabaseSettings) -> RunLedger:
    """The RunLedger a worker's committer writes through."""
    return RunLedger(
        settings, cache_size=WORKER_CACHE_SIZE, bulk_reads=True, env=dict(WORKER_LEDGER_ENV)
    )
