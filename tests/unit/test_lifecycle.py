"""Lifecycle rules: freshness and staleness from timestamps, policy and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger import (
    Freshness,
    OperationPolicy,
    PolicyError,
    ReasonCode,
    RunStatus,
    freshness,
    stale_at,
    stale_reason,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = OperationPolicy(timeout=60, stale_queued_after=600, stale_running_after=300)


def test_a_running_run_turns_stale_exactly_at_its_threshold() -> None:
    assert stale_at(RunStatus.RUNNING, T0, POLICY) == T0 + timedelta(seconds=300)
    assert freshness(RunStatus.RUNNING, T0, POLICY, T0 + timedelta(seconds=299)) is Freshness.FRESH
    assert freshness(RunStatus.RUNNING, T0, POLICY, T0 + timedelta(seconds=300)) is Freshness.STALE


def test_a_queued_run_uses_the_queued_threshold() -> None:
    assert freshness(RunStatus.QUEUED, T0, POLICY, T0 + timedelta(seconds=599)) is Freshness.FRESH
    assert freshness(RunStatus.QUEUED, T0, POLICY, T0 + timedelta(seconds=600)) is Freshness.STALE


def test_a_completed_run_is_neither_fresh_nor_stale() -> None:
    assert freshness(RunStatus.COMPLETED, T0, POLICY, T0 + timedelta(days=9)) is None
    assert stale_at(RunStatus.COMPLETED, T0, POLICY) is None
    with pytest.raises(ValueError, match="never stale"):
        stale_reason(RunStatus.COMPLETED)


def test_the_stale_reason_follows_the_status() -> None:
    assert stale_reason(RunStatus.QUEUED) is ReasonCode.RECONCILER_STALE_QUEUED
    assert stale_reason(RunStatus.RUNNING) is ReasonCode.RECONCILER_STALE_RUNNING


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": 10, "max_tries": 0},
        {"timeout": 10, "stale_queued_after": 0},
        {"timeout": 10, "stale_running_after": -1},
        {"timeout": 10, "retry_defer": -1},
    ],
)
def test_a_malformed_policy_is_refused_with_the_field_named(kwargs: dict[str, float]) -> None:
    with pytest.raises(
        PolicyError, match=next(iter(kwargs)) if len(kwargs) == 1 else list(kwargs)[-1]
    ):
        OperationPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_policy_survives_its_snapshot_in_an_event() -> None:
    assert OperationPolicy.from_dict(POLICY.to_dict()) == POLICY
