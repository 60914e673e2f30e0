"""Pure rules of the worker integration: outcomes, endings, arq's failed results, params."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from arq.jobs import DeserializationError
from arq.worker import JobExecutionFailed

from ledger import CompleteRun, FailByQueue, OperationPolicy, ReasonCode, ScheduleRetry
from runledger.commands.enqueue import parse_params
from workers import (
    DuplicateOperationError,
    JobOutcome,
    JobsModuleError,
    Operation,
    OperationRegistry,
    UnknownOperationError,
    WorkerError,
    load_operations,
)
from workers.client import summarize
from workers.tracking import JobTrack, Verdict, end_command, json_safe, queue_failure_reason


async def _job(ctx: dict[str, Any]) -> None:
    return None


async def _other_job(ctx: dict[str, Any]) -> None:
    return None


def track(verdict: Verdict, **fields: Any) -> JobTrack:
    declared = Operation("t", _job, OperationPolicy(timeout=7))
    return JobTrack("j", uuid.uuid4(), 2, declared, verdict=verdict, **fields)


def test_none_and_dicts_mean_succeeded_and_outcome_objects_say_otherwise() -> None:
    assert JobOutcome.from_return(None).reason_code is ReasonCode.JOB_SUCCEEDED
    assert JobOutcome.from_return({"n": 1}).summary == {"n": 1}
    assert JobOutcome.from_return(JobOutcome.failed()).reason_code is ReasonCode.JOB_FAILED
    with pytest.raises(TypeError, match="must return None, a dict or a JobOutcome"):
        JobOutcome.from_return(42)


def test_a_cancelled_job_arq_finished_is_a_timeout_and_one_it_requeued_a_shutdown() -> None:
    timed_out = end_command(track(Verdict.CANCELLED), finished=True, shutting_down=False, actor="a")
    assert isinstance(timed_out, FailByQueue)
    assert (timed_out.reason_code, timed_out.attempt) == (ReasonCode.QUEUE_TIMEOUT, 2)
    assert timed_out.error == "TimeoutError: exceeded its 7 s timeout"
    shutdown = end_command(track(Verdict.CANCELLED), finished=False, shutting_down=True, actor="a")
    assert isinstance(shutdown, ScheduleRetry) and shutdown.reason == "retry.worker_shutdown"
    self_cancel = end_command(
        track(Verdict.CANCELLED), finished=False, shutting_down=False, actor="a"
    )
    assert isinstance(self_cancel, ScheduleRetry) and self_cancel.reason == "retry.cancelled"


def test_skipped_and_untracked_jobs_record_nothing_at_their_end() -> None:
    for verdict in (Verdict.SKIPPED, Verdict.UNTRACKED):
        assert end_command(track(verdict), finished=True, shutting_down=False, actor="a") is None


def test_an_exception_is_a_completion_by_the_job_with_the_error() -> None:
    ended = end_command(
        track(Verdict.RAISED, error="ValueError: x"), finished=True, shutting_down=False, actor="a"
    )
    assert isinstance(ended, CompleteRun)
    assert (ended.reason_code, ended.summary) == (
        ReasonCode.JOB_EXCEPTION,
        {"error": "ValueError: x"},
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (JobExecutionFailed("job expired"), ReasonCode.QUEUE_EXPIRED),
        (JobExecutionFailed("function 'x.y' not found"), ReasonCode.QUEUE_FUNCTION_MISSING),
        (JobExecutionFailed("max 3 retries exceeded"), ReasonCode.QUEUE_MAX_TRIES_EXCEEDED),
        (DeserializationError("unable to deserialize job"), ReasonCode.QUEUE_DESERIALIZE_ERROR),
        (asyncio.CancelledError(), ReasonCode.QUEUE_ABORTED),
        (RuntimeError("something else"), None),
    ],
)
def test_arqs_failed_results_map_to_queue_reasons(error: object, reason: ReasonCode | None) -> None:
    assert queue_failure_reason(error) == reason


def test_params_are_strings_unless_given_as_json() -> None:
    assert parse_params(["tenant=t1", "n:=3", "tags:=[1, 2]", "eq=a=b"]) == {
        "tenant": "t1",
        "n": 3,
        "tags": [1, 2],
        "eq": "a=b",
    }
    with pytest.raises(WorkerError, match="is not K=V"):
        parse_params(["novalue"])


def test_the_queued_summary_keeps_scalars_and_cuts_the_rest() -> None:
    summary = summarize({"n": 3, "s": "x" * 500, "obj": {"a": 1}})
    assert summary["n"] == 3
    assert len(summary["s"]) == 201 and summary["s"].endswith("…")
    assert summary["obj"] == "{'a': 1}"


def test_one_operation_type_cannot_name_two_functions() -> None:
    registry = OperationRegistry([Operation("t", _job, OperationPolicy(timeout=1))])
    with pytest.raises(DuplicateOperationError, match="declared twice"):
        registry.add(Operation("t", _other_job, OperationPolicy(timeout=1)))
    with pytest.raises(UnknownOperationError, match="unknown operation type 'u'"):
        registry.get("u")


def test_a_jobs_module_must_exist_and_declare_operations() -> None:
    with pytest.raises(JobsModuleError, match="cannot import the jobs module"):
        load_operations("no_such_module_here")
    with pytest.raises(JobsModuleError, match="declares no @operation"):
        load_operations("ledger.codes")
    assert "wtest.succeed" in load_operations("tests.worker_jobs")


def test_json_safe_keeps_plain_values_and_converts_the_rest() -> None:
    plain = {"items": 3, "ratio": 0.5, "name": "x", "done": True, "note": None}
    copied = json_safe(plain)
    assert copied == plain and copied is not plain
    odd = json_safe({"tags": ("a", "b"), 7: "seven", "nested": {"when": {1}}})
    assert odd == {"tags": ["a", "b"], "7": "seven", "nested": {"when": "{1}"}}
