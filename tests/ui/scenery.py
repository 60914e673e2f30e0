"""A ledger that looks like a working day: every kind of run, at realistic times.

`mixed_workload` (tests/integration/workload.py) makes every event type at the current
time; the pages also need runs that went stale minutes ago, heartbeats spread over an
attempt, reconciler evidence as the reconciler writes it, a day of history for the
overview strip, and hostile text (a workspace name, a parameter and a failure message
holding HTML). Runs are built with explicit times (`at=`) and saved in one go, so the
same `now` always gives the same pages: the tests and the screenshots (shots.py) use it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from ledger import OperationPolicy, OperationRun, ReasonCode, RunLedger

SYNC = OperationPolicy(timeout=60, max_tries=3, stale_queued_after=600, stale_running_after=300)
REPORT = OperationPolicy(timeout=600, max_tries=2, stale_queued_after=1800, stale_running_after=900)
W1, W2, W3 = "worker:web-1:4121", "worker:web-2:977", "worker:batch-7:31337"
XSS_WORKSPACE = '<img src=x onerror="alert(1)">'
XSS_PARAM = "<script>alert('param')</script>"
XSS_ERROR = "ValueError: <script>alert('error')</script> in row 7"
KINDS = ("inventory.sync", "report.build", "email.digest", "billing.charge")
WORKSPACES = ("acme", "beta", "gamma")


def _run(workspace: str, kind: str, at: datetime, **params: Any) -> OperationRun:
    policy = REPORT if kind == "report.build" else SYNC
    return OperationRun.queue(
        run_id=uuid4(),
        workspace=workspace,
        operation_type=kind,
        policy=policy,
        actor="system",
        at=at,
        initiator="operator:dana" if kind == "report.build" else "system",
        params_summary=params,
    )


def _evidence(run: OperationRun, now: datetime, state: str, **more: Any) -> dict[str, Any]:
    threshold = 300.0 if run.status == "running" else 600.0
    return {
        "previous_status": str(run.status),
        "last_activity_at": run.last_activity_at.isoformat(),
        "idle_seconds": round((now - run.last_activity_at).total_seconds(), 3),
        "threshold_seconds": threshold,
        "attempts": run.attempts,
        "arq_job_state": state,
        "checked_at": now.isoformat(),
        **more,
    }


Ago = Callable[[float], datetime]  # minutes before the scenery's now -> a time


def _queued(m: Ago) -> OperationRun:
    return _run("acme", "email.digest", m(1), batch=42)


def _running(m: Ago) -> OperationRun:
    r = _run("acme", "inventory.sync", m(4), tenant="t-204")
    r.start(attempt=1, worker_id=W1, actor=W1, at=m(3.9))
    for i, minute in enumerate((3, 2, 1, 0.3), start=1):
        r.heartbeat(attempt=1, progress={"done": i * 20, "total": 100}, actor=W1, at=m(minute))
    return r


def _stale(m: Ago) -> OperationRun:
    """Running, last heartbeat 14 min ago, past its 5 min threshold."""
    r = _run("beta", "inventory.sync", m(22), tenant="t-77")
    r.start(attempt=1, worker_id=W2, actor=W2, at=m(21))
    for minute in (20, 18, 16, 14):
        r.heartbeat(attempt=1, progress={"done": 30 - minute, "total": 40}, actor=W2, at=m(minute))
    return r


def _stale_queued(m: Ago) -> OperationRun:
    return _run("gamma", "billing.charge", m(16), invoice="INV-1009")


def _succeeded(m: Ago) -> OperationRun:
    """Succeeded on its second attempt, after the job asked for a retry."""
    r = _run("acme", "report.build", m(9), period="2026-02")
    r.start(attempt=1, worker_id=W3, actor=W3, at=m(8.8))
    r.schedule_retry(
        attempt=1, reason="retry.requested", defer_seconds=5, error=None, actor=W3, at=m(7)
    )
    r.start(attempt=2, worker_id=W1, actor=W1, at=m(6.9))
    summary = {"rows": 1240, "pages": 12}
    r.complete(attempt=2, reason_code=ReasonCode.JOB_SUCCEEDED, summary=summary, actor=W1, at=m(5))
    return r


def _partial(m: Ago) -> OperationRun:
    r = _run("beta", "email.digest", m(12), batch=41)
    r.start(attempt=1, worker_id=W2, actor=W2, at=m(11.9))
    code, summary = ReasonCode.JOB_PARTIALLY_SUCCEEDED, {"sent": 918, "bounced": 14}
    r.complete(attempt=1, reason_code=code, summary=summary, actor=W2, at=m(10))
    return r


def _failed_job(m: Ago) -> OperationRun:
    """The job raised: a multi-line traceback for the diagnostics."""
    r = _run("acme", "billing.charge", m(15), invoice="INV-1002")
    r.start(attempt=1, worker_id=W1, actor=W1, at=m(14.9))
    error = (
        'Traceback (most recent call last):\n  File "jobs.py", line 88, in charge\n'
        "stripe.error.CardError: card_declined"
    )
    code = ReasonCode.JOB_EXCEPTION
    r.complete(attempt=1, reason_code=code, summary={"error": error}, actor=W1, at=m(14.5))
    return r


def _timeout(m: Ago) -> OperationRun:
    """arq timed it out; the job's own completion arrived afterwards (a late signal)."""
    r = _run("beta", "report.build", m(40), period="2026-01")
    r.start(attempt=1, worker_id=W3, actor=W3, at=m(39.5))
    code = ReasonCode.QUEUE_TIMEOUT
    r.fail_by_queue(attempt=1, reason_code=code, error="TimeoutError()", actor=W3, at=m(29.5))
    details = {"reason_code": "job.succeeded"}
    r.record_late_signal(signal="completed", attempt=1, details=details, actor=W3, at=m(29))
    return r


def _retries(m: Ago) -> OperationRun:
    """Three attempts, two retries, then arq gave up."""
    r = _run("gamma", "inventory.sync", m(50), tenant="t-3")
    for attempt in (1, 2, 3):
        r.start(attempt=attempt, worker_id=W2, actor=W2, at=m(50 - attempt * 3))
        if attempt < 3:
            at = m(49 - attempt * 3)
            r.schedule_retry(attempt=attempt, reason="retry.requested", defer_seconds=30,
                             error="HTTP 503", actor=W2, at=at)  # fmt: skip
    code, error = ReasonCode.QUEUE_MAX_TRIES_EXCEEDED, "max 3 retries exceeded"
    r.fail_by_queue(attempt=3, reason_code=code, error=error, actor="system", at=m(38))
    return r


def _orphaned(m: Ago) -> OperationRun:
    """Its worker died mid-run: the reconciler closed it as stale_running."""
    r = _run("acme", "inventory.sync", m(70), tenant="t-9")
    r.start(attempt=1, worker_id=W1, actor=W1, at=m(69.8))
    r.heartbeat(attempt=1, progress={"done": 55, "total": 100}, actor=W1, at=m(66))
    evidence = _evidence(r, m(60.5), "queued")
    code = ReasonCode.RECONCILER_STALE_RUNNING
    r.reconcile_stale(reason_code=code, evidence=evidence, actor="reconciler", at=m(60.5))
    return r


def _lost(m: Ago) -> OperationRun:
    """Queued, but arq never had the job: the reconciler closed it as job_lost."""
    r = _run("beta", "email.digest", m(33), batch=40)
    evidence = _evidence(r, m(32), "not_found", grace_seconds=30.0)
    code = ReasonCode.RECONCILER_JOB_LOST
    r.reconcile_stale(reason_code=code, evidence=evidence, actor="reconciler", at=m(32))
    return r


SPECIAL: dict[str, Callable[[Ago], OperationRun]] = {
    "queued": _queued,
    "running": _running,
    "stale": _stale,
    "stale_queued": _stale_queued,
    "succeeded": _succeeded,
    "partial": _partial,
    "failed_job": _failed_job,
    "timeout": _timeout,
    "retries": _retries,
    "orphaned": _orphaned,
    "lost": _lost,
}


def special_runs(now: datetime) -> dict[str, OperationRun]:
    """One run of each kind an operator must tell apart, ended minutes before `now`."""

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    return {role: make(ago) for role, make in SPECIAL.items()}


def hostile_runs(now: datetime) -> dict[str, OperationRun]:
    """Runs whose workspace, parameter and failure text hold HTML and script."""
    r = _run(XSS_WORKSPACE, "inventory.sync", now - timedelta(minutes=25), note=XSS_PARAM)
    r.start(attempt=1, worker_id=W1, actor=W1, at=now - timedelta(minutes=24))
    r.complete(
        attempt=1,
        reason_code=ReasonCode.JOB_EXCEPTION,
        summary={"error": XSS_ERROR},
        actor=W1,
        at=now - timedelta(minutes=23),
    )
    return {"hostile": r}


def history_runs(now: datetime, count: int, seed: int = 7) -> list[OperationRun]:
    """`count` completed runs spread over the 24 hours before `now` (for the strip)."""
    rng = random.Random(seed)
    out: list[OperationRun] = []
    for n in range(count):
        ended = now - timedelta(minutes=75 + rng.random() * (24 * 60 - 90))
        kind = rng.choice(KINDS)
        r = _run(rng.choice(WORKSPACES), kind, ended - timedelta(seconds=40), n=n)
        r.start(attempt=1, worker_id=W1, actor=W1, at=ended - timedelta(seconds=38))
        roll = rng.random()
        if roll < 0.84:
            r.complete(
                attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=W1, at=ended
            )
        elif roll < 0.90:
            r.complete(attempt=1, reason_code=ReasonCode.JOB_FAILED, summary={}, actor=W1, at=ended)
        elif roll < 0.95:
            r.fail_by_queue(
                attempt=1,
                reason_code=ReasonCode.QUEUE_TIMEOUT,
                error="TimeoutError()",
                actor=W1,
                at=ended,
            )
        else:
            r.reconcile_stale(
                reason_code=ReasonCode.RECONCILER_STALE_RUNNING,
                evidence=_evidence(r, ended, "queued"),
                actor="reconciler",
                at=ended,
            )
        out.append(r)
    return out


def fill(
    ledger: RunLedger, now: datetime, *, history: int = 0, hostile: bool = True
) -> dict[str, UUID]:
    """Saves the scenery into `ledger`; returns the special runs' ids by role."""
    special = special_runs(now)
    if hostile:
        special.update(hostile_runs(now))
    older = history_runs(now, history)
    for start in range(0, len(older), 200):
        ledger.save(*older[start : start + 200])
    ledger.save(*special.values())
    return {role: run.id for role, run in special.items()}
