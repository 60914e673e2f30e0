"""Batched enqueue on each store (SQLite and PostgreSQL) with real Redis: concurrent
`RunClient.enqueue` calls share transactions, `enqueue_many` queues a batch in one, and
the jobs land in arq's queue as arq's own `enqueue_job` would put them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from arq.jobs import Job

from ledger import RunLedger
from ledger.limits import InputRefusedError
from tests.integration.worker_helpers import make_worker, run_burst, timeline
from workers import EnqueueFailedError, QueueSettings, RunClient, load_operations
from workers.enqueue_batch import EnqueueBatchFailedError, EnqueueItem

pytestmark = pytest.mark.timeout(60)


def count_saves(ledger: RunLedger) -> list[int]:
    """Wraps this ledger's `save`: the list gets the number of runs of each transaction."""
    saves: list[int] = []
    save: Callable[..., Any] = ledger.save

    def counted(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len(objs))
        return save(*objs, **kwargs)

    ledger.save = counted  # type: ignore[method-assign]
    return saves


def key(name: str) -> str:
    """An idempotency key of this test run alone: arq's job keys are global in Redis,
    and a keyed run id is the same in every run of the suite."""
    return f"{name}-{uuid4().hex[:12]}"


async def queued_job_ids(client: RunClient) -> set[str]:
    return {m.decode() for m in await client.redis.zrange(client.queue_name, 0, -1)}


async def test_concurrent_enqueues_share_transactions_and_each_gets_its_job(
    client: RunClient, ledger: RunLedger
) -> None:
    saves = count_saves(ledger)
    run_ids = await asyncio.gather(
        *(client.enqueue("wtest.succeed", workspace="acme", params={"items": i}) for i in range(50))
    )
    assert len(set(run_ids)) == 50
    assert sum(saves) == 50
    assert len(saves) < 50, f"no grouping: {len(saves)} transactions for 50 callers"
    for run_id in run_ids:
        assert timeline(ledger, run_id) == [("Queued",)]
    assert await queued_job_ids(client) == {str(r) for r in run_ids}


async def test_a_lone_enqueue_is_one_transaction_of_one_run(
    client: RunClient, ledger: RunLedger
) -> None:
    saves = count_saves(ledger)
    await client.enqueue("wtest.succeed", workspace="acme")
    await client.enqueue("wtest.succeed", workspace="acme")
    assert saves == [1, 1]


async def test_concurrent_enqueues_of_one_key_give_one_run_and_one_job(
    client: RunClient, ledger: RunLedger
) -> None:
    k = key("k")
    calls = [
        client.enqueue("wtest.succeed", workspace="acme", idempotency_key=k) for _ in range(20)
    ]
    others = [client.enqueue("wtest.succeed", workspace="acme") for _ in range(5)]
    run_ids = await asyncio.gather(*calls, *others)
    assert len(set(run_ids[:20])) == 1
    assert timeline(ledger, run_ids[0]) == [("Queued",)]
    assert await queued_job_ids(client) == {str(r) for r in run_ids}
    assert len(await queued_job_ids(client)) == 6


async def test_one_refused_item_refuses_the_whole_batch_before_anything_is_recorded(
    client: RunClient, ledger: RunLedger
) -> None:
    saves = count_saves(ledger)
    items: list[Any] = [
        {"operation_type": "wtest.succeed", "workspace": "acme"},
        EnqueueItem("wtest.succeed", "acme", idempotency_key=key("fine")),
        {"operation_type": "wtest.succeed", "workspace": " "},
    ]
    with pytest.raises(InputRefusedError, match="item 2"):
        await client.enqueue_many(items)
    assert saves == []
    assert await queued_job_ids(client) == set()


async def test_enqueue_many_queues_a_hundred_jobs_arq_can_read_and_run(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    saves = count_saves(ledger)
    items = [EnqueueItem("wtest.succeed", "acme", params={"items": i}) for i in range(100)]
    run_ids = await client.enqueue_many(items)
    assert saves == [100]
    assert len(set(run_ids)) == 100
    assert await queued_job_ids(client) == {str(r) for r in run_ids}
    info = await Job(str(run_ids[7]), client.redis, _queue_name=queue_name).info()
    assert info is not None
    assert (info.function, info.kwargs, info.job_try) == ("wtest.succeed", {"items": 7}, None)
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert {ledger.state(r).outcome for r in run_ids} == {"succeeded"}
    assert ledger.state(run_ids[42]).summary == {"items": 42}


async def test_enqueue_many_defers_as_arq_does(client: RunClient, queue_name: str) -> None:
    [now, later] = await client.enqueue_many(
        [
            {"operation_type": "wtest.succeed", "workspace": "acme"},
            {"operation_type": "wtest.succeed", "workspace": "acme", "defer_by": 60},
        ]
    )
    scores = dict(await client.redis.zrange(queue_name, 0, -1, withscores=True))
    assert 59_000 <= scores[str(later).encode()] - scores[str(now).encode()] <= 61_000
    ttl = await client.redis.pttl(f"arq:job:{later}")
    assert 60_000 + client.redis.expires_extra_ms - 5_000 < ttl


async def test_enqueue_many_skips_the_job_of_an_existing_key(
    client: RunClient, ledger: RunLedger, queue_name: str
) -> None:
    again_key = key("again")
    first = await client.enqueue(
        "wtest.succeed", workspace="acme", params={"items": 1}, idempotency_key=again_key
    )
    again, fresh = await client.enqueue_many(
        [
            EnqueueItem("wtest.succeed", "acme", params={"items": 2}, idempotency_key=again_key),
            EnqueueItem("wtest.succeed", "acme", idempotency_key=key("new")),
        ]
    )
    assert again == first
    assert timeline(ledger, first) == [("Queued",)]
    info = await Job(str(first), client.redis, _queue_name=queue_name).info()
    assert info is not None and info.kwargs == {"items": 1}  # the first job, untouched
    assert await queued_job_ids(client) == {str(first), str(fresh)}


async def test_one_key_twice_in_a_batch_is_one_run(client: RunClient, ledger: RunLedger) -> None:
    items = [EnqueueItem("wtest.succeed", "acme", idempotency_key=key("twice"))] * 2
    run_ids = await client.enqueue_many([*items, EnqueueItem("wtest.succeed", "acme")])
    assert run_ids[0] == run_ids[1] != run_ids[2]
    assert timeline(ledger, run_ids[0]) == [("Queued",)]
    assert await queued_job_ids(client) == {str(run_ids[0]), str(run_ids[2])}


async def test_a_redis_outage_names_the_runs_and_leaves_them_queued(
    ledger: RunLedger, queue_name: str
) -> None:
    down = QueueSettings("redis://127.0.0.1:1", queue_name).client()
    operations = load_operations("tests.worker_jobs")
    async with RunClient(ledger, down, operations, queue_name=queue_name) as client:
        items = [EnqueueItem("wtest.succeed", "acme", idempotency_key=key("o")) for _ in range(3)]
        with pytest.raises(EnqueueBatchFailedError) as caught:
            await client.enqueue_many(items)
        with pytest.raises(EnqueueFailedError):
            await client.enqueue("wtest.succeed", workspace="acme", idempotency_key=key("o"))
    run_ids: list[UUID] = caught.value.run_ids
    assert len(run_ids) == 3
    assert all(str(r) in str(caught.value) for r in run_ids)
    assert {ledger.state(r).status for r in run_ids} == {"queued"}


async def test_a_repeated_enqueue_many_heals_runs_whose_jobs_were_lost(
    ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    operations = load_operations("tests.worker_jobs")
    items = [EnqueueItem("wtest.succeed", "acme", idempotency_key=key("h")) for _ in range(3)]
    down = QueueSettings("redis://127.0.0.1:1", queue_name).client()
    async with RunClient(ledger, down, operations, queue_name=queue_name) as client:
        with pytest.raises(EnqueueBatchFailedError):
            await client.enqueue_many(items)
    up = QueueSettings(redis_server, queue_name).client()
    async with RunClient(ledger, up, operations, queue_name=queue_name) as client:
        run_ids = await client.enqueue_many(items)
        assert await queued_job_ids(client) == {str(r) for r in run_ids}
    assert all(timeline(ledger, r) == [("Queued",)] for r in run_ids)


async def test_concurrent_callers_in_an_outage_each_learn_their_own_run(
    ledger: RunLedger, queue_name: str
) -> None:
    down = QueueSettings("redis://127.0.0.1:1", queue_name).client()
    operations = load_operations("tests.worker_jobs")
    async with RunClient(ledger, down, operations, queue_name=queue_name) as client:
        errors = await asyncio.gather(
            *(client.enqueue("wtest.succeed", workspace="acme") for _ in range(5)),
            return_exceptions=True,
        )
    assert all(isinstance(e, EnqueueFailedError) for e in errors)
    run_ids = {e.run_id for e in errors if isinstance(e, EnqueueFailedError)}
    assert len(run_ids) == 5
    assert all(str(e.run_id) in str(e) for e in errors if isinstance(e, EnqueueFailedError))
    assert {ledger.state(r).status for r in run_ids} == {"queued"}
