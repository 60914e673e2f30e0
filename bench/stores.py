"""What bench/worker_overhead.py's modes share: where the stores are, a fresh schema per
run, and plain arq's enqueue of the same no-op jobs."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from arq.connections import ArqRedis

from ledger import DatabaseSettings

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def enqueue(redis: ArqRedis, queue: str, job_ids: list[str], function: str) -> None:
    for start in range(0, len(job_ids), 200):
        chunk = job_ids[start : start + 200]
        await asyncio.gather(
            *(redis.enqueue_job(function, _job_id=j, _queue_name=queue) for j in chunk)
        )


def fresh_schema(base_url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DatabaseSettings.from_url(base_url).conninfo(), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base_url}?schema={schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    with psycopg.connect(DatabaseSettings.from_url(base_url).conninfo(), autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
