"""The batch claim script (workers/claims.py) against a real Redis: it claims exactly what
arq's own start_jobs would, sets the same in-progress key, and never hands one job to two
claimers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from workers.claims import claim

IN_PROGRESS_MS = 12_000


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server)
    yield client
    await client.aclose()


async def queued(redis: Redis, queue: str, count: int, score: int) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(count)]
    await redis.zadd(queue, {job_id: score for job_id in ids})
    return ids


async def test_a_queued_job_is_claimed_with_its_score_and_arqs_in_progress_key(
    redis: Redis, queue_name: str
) -> None:
    now = timestamp_ms()
    ids = await queued(redis, queue_name, 3, now - 5)

    scores = await claim(redis, queue_name, ids, now, IN_PROGRESS_MS)

    assert scores == [now - 5] * 3
    for job_id in ids:
        key = in_progress_key_prefix + job_id
        assert await redis.get(key) == b"1"
        assert 0 < await redis.pttl(key) <= IN_PROGRESS_MS


async def test_what_arq_would_not_start_is_not_claimed_and_left_as_it_was(
    redis: Redis, queue_name: str
) -> None:
    now = timestamp_ms()
    running, ready = await queued(redis, queue_name, 2, now - 5)
    (deferred,) = await queued(redis, queue_name, 1, now + 60_000)
    finished = uuid.uuid4().hex  # its id was read by a poll, then it left the queue
    await redis.psetex(in_progress_key_prefix + running, 60_000, b"1")

    scores = await claim(redis, queue_name, [running, deferred, finished, ready], now, 5_000)

    assert scores == [None, None, None, now - 5]
    assert await redis.pttl(in_progress_key_prefix + running) > 5_000  # untouched
    assert not await redis.exists(in_progress_key_prefix + deferred)
    assert not await redis.exists(in_progress_key_prefix + finished)


async def test_claimers_racing_for_the_same_jobs_get_each_job_once(
    redis: Redis, queue_name: str
) -> None:
    now = timestamp_ms()
    ids = await queued(redis, queue_name, 200, now - 5)
    shuffled = [ids[n:] + ids[:n] for n in range(0, 200, 25)]  # eight claimers, eight orders

    results = await asyncio.gather(
        *(claim(redis, queue_name, order, now, IN_PROGRESS_MS) for order in shuffled)
    )

    won = [job_id for order, scores in zip(shuffled, results, strict=True)
           for job_id, score in zip(order, scores, strict=True) if score is not None]  # fmt: skip
    assert sorted(won) == sorted(ids)


async def test_a_redis_that_lost_its_scripts_loads_the_claim_again(
    redis: Redis, queue_name: str
) -> None:
    now = timestamp_ms()
    first, second = await queued(redis, queue_name, 2, now - 5)
    assert await claim(redis, queue_name, [first], now, IN_PROGRESS_MS) == [now - 5]
    await redis.script_flush()  # as a restarted Redis: EVALSHA now meets NOSCRIPT

    assert await claim(redis, queue_name, [second], now, IN_PROGRESS_MS) == [now - 5]
