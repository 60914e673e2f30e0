"""The timing guard: policies against arq's redelivery window (pure: no Redis needed)."""

from __future__ import annotations

from typing import Any

import pytest
from arq.worker import Worker

from ledger import OperationPolicy
from workers import Operation, check_timing
from workers.execution import arq_function
from workers.timing import longest_running, redelivery_window


async def _noop(ctx: dict[str, Any]) -> None:
    return None


def op(name: str, **policy: Any) -> Operation:
    defaults: dict[str, Any] = {"timeout": 60, "max_tries": 3, "stale_running_after": 300}
    return Operation(name, _noop, OperationPolicy(**{**defaults, **policy}))


def test_the_designs_example_policy_is_aligned() -> None:
    report = check_timing([op("inventory.sync", stale_queued_after=600)])
    assert report.ok
    assert report.window == 70
    assert report.lines()[-1] == "OK: 1 operation(s) aligned"


def test_the_window_is_the_longest_timeout_of_the_worker_plus_ten_seconds() -> None:
    report = check_timing([op("a", timeout=5), op("b", timeout=40)])
    assert report.window == 50


async def test_the_window_matches_what_arq_itself_computes() -> None:
    operations = [op("a", timeout=5), op("b", timeout=40)]
    worker = Worker([arq_function(o) for o in operations], handle_signals=False)
    assert worker.in_progress_timeout_s == redelivery_window([5, 40])


def test_a_missing_timeout_is_a_violation_with_its_fix() -> None:
    report = check_timing([op("a", timeout=None)])
    assert not report.ok
    (violation,) = report.violations
    assert "declares no timeout" in violation.problem
    assert "timeout=SECONDS" in violation.fix


def test_a_stale_running_threshold_below_the_redelivery_window_is_refused() -> None:
    report = check_timing([op("a", timeout=30, max_tries=1, stale_running_after=30)])
    (violation,) = report.violations
    # 1 x 30 s + window 40 s + margin 5 s
    assert "stale_running_after 30 s is not above the longest healthy running time 75 s" in (
        violation.problem
    )
    assert "raise stale_running_after above 75 s" in violation.fix


def test_the_longest_running_time_counts_every_try_defer_and_one_redelivery() -> None:
    policy = OperationPolicy(timeout=10, max_tries=4, retry_defer=2, stale_running_after=999)
    assert longest_running(policy, window=20, margin=5) == 4 * 10 + 3 * 2 + 20 + 5


def test_a_stale_queued_threshold_must_outlast_a_redelivery() -> None:
    report = check_timing([op("a", timeout=60, stale_queued_after=60)])
    (violation,) = report.violations
    assert "stale_queued_after 60 s is not above the redelivery window 70 s" in violation.problem


def test_a_stale_queued_threshold_beyond_arqs_job_expiry_is_not_sane() -> None:
    report = check_timing([op("a", stale_queued_after=90_000)])
    (violation,) = report.violations
    assert "arq's job expiry" in violation.problem


def test_a_timeout_that_leaves_no_safety_margin_is_refused() -> None:
    report = check_timing([op("a", timeout=60)], margin=12)
    assert any("is not below arq's redelivery window 70 s" in v.problem for v in report.violations)


def test_a_cron_jobs_longer_timeout_widens_the_window() -> None:
    report = check_timing([op("a", timeout=10, stale_running_after=999)], other_timeouts=[100])
    assert report.window == 110


@pytest.mark.parametrize("stale", [1, 0.5])
def test_each_violation_prints_its_numbers(stale: float) -> None:
    report = check_timing([op("a", timeout=1, max_tries=1, stale_running_after=stale)])
    text = "\n".join(report.lines())
    assert f"stale_running_after {stale:g} s" in text
    assert "fix:" in text
    assert text.endswith("1 timing violation(s)")
