"""The timing guard: operation policies checked against arq's redelivery window.

arq marks a job in progress with a key whose TTL is its redelivery window: the longest
timeout among the worker's functions plus 10 s. When that key expires, arq runs the job
again. So every timeout (plus the time to record the ending: SAFETY_MARGIN) must end
before the window does, or a live job is run twice; and a stale threshold must outlast
the longest time a healthy run can spend without a new sign of life, or the reconciler
heals runs a worker was about to redeliver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger import OperationPolicy
from workers.errors import TimingViolationError
from workers.operations import Operation, OperationRegistry

if TYPE_CHECKING:
    from arq.cron import CronJob

# arq 0.28.0, worker.py: in_progress_timeout_s = max(timeouts) + 10.
ARQ_REDELIVERY_EXTRA = 10.0
ARQ_DEFAULT_JOB_TIMEOUT = 300.0
# arq's default job expiry (expires_extra_ms): a job not started by then is dropped.
ARQ_JOB_EXPIRY = 86_400.0
# Time a job needs around its timeout: reading the job before it starts, recording its
# ending in the ledger and writing arq's result before the in-progress key may expire.
SAFETY_MARGIN = 5.0


@dataclass(frozen=True)
class Violation:
    operation: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.problem}\n  fix: {self.fix}"


@dataclass(frozen=True)
class TimingReport:
    window: float
    margin: float
    operations: tuple[Operation, ...]
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        head = (
            f"arq redelivery window {self.window:g} s (longest timeout + "
            f"{ARQ_REDELIVERY_EXTRA:g} s), safety margin {self.margin:g} s"
        )
        body = [
            f"  {op.name}: {describe(op.policy, self.window, self.margin)}"
            for op in self.operations
        ]
        if self.ok:
            return [head, *body, f"OK: {len(self.operations)} operation(s) aligned"]
        found = [str(v) for v in self.violations]
        return [head, *body, *found, f"{len(self.violations)} timing violation(s)"]


def redelivery_window(
    timeouts: Iterable[float | None], job_timeout: float | None = ARQ_DEFAULT_JOB_TIMEOUT
) -> float:
    """arq's in-progress TTL for a worker whose functions have these timeouts."""
    longest = max((t or job_timeout or 0 for t in timeouts), default=job_timeout or 0)
    return float(longest) + ARQ_REDELIVERY_EXTRA


def longest_running(policy: OperationPolicy, window: float, margin: float) -> float:
    """The longest a healthy run can stay running: every try times out, every retry waits
    its defer, and one crash costs a redelivery window."""
    timeout = policy.timeout or 0.0
    tries = policy.max_tries
    return tries * timeout + (tries - 1) * policy.retry_defer + window + margin


def shortest_queued(window: float, margin: float) -> float:
    """A run picked up by a worker that dies before `Started` stays queued until arq
    redelivers it: a queued threshold must outlast that."""
    return window + margin


def describe(policy: OperationPolicy, window: float, margin: float) -> str:
    timeout = "none" if policy.timeout is None else f"{policy.timeout:g} s"
    return (
        f"timeout {timeout}, max_tries {policy.max_tries}, retry_defer "
        f"{policy.retry_defer:g} s, stale_running_after {policy.stale_running_after:g} s "
        f"(needs > {longest_running(policy, window, margin):g} s), stale_queued_after "
        f"{policy.stale_queued_after:g} s (needs > {shortest_queued(window, margin):g} s)"
    )


def check_timing(
    operations: Sequence[Operation],
    *,
    other_timeouts: Iterable[float | None] = (),
    job_timeout: float | None = ARQ_DEFAULT_JOB_TIMEOUT,
    margin: float = SAFETY_MARGIN,
) -> TimingReport:
    """Checks every operation one worker serves; `other_timeouts` are its cron jobs'."""
    timeouts = [op.policy.timeout for op in operations] + list(other_timeouts)
    window = redelivery_window(timeouts, job_timeout)
    violations = [v for op in operations for v in _violations(op, window, margin)]
    return TimingReport(window, margin, tuple(operations), tuple(violations))


def _violations(declared: Operation, window: float, margin: float) -> list[Violation]:
    policy, name = declared.policy, declared.name
    if policy.timeout is None:
        return [
            Violation(
                name,
                "declares no timeout (arq would apply its worker default "
                f"of {ARQ_DEFAULT_JOB_TIMEOUT:g} s)",
                "give @operation an explicit timeout=SECONDS",
            )
        ]
    found: list[Violation] = []
    if policy.timeout + margin >= window:
        found.append(
            Violation(
                name,
                f"timeout {policy.timeout:g} s + safety margin {margin:g} s = "
                f"{policy.timeout + margin:g} s is not below arq's redelivery window {window:g} s",
                f"lower timeout below {window - margin:g} s (arq would run the job twice)",
            )
        )
    needed = longest_running(policy, window, margin)
    if policy.stale_running_after <= needed:
        found.append(
            Violation(
                name,
                f"stale_running_after {policy.stale_running_after:g} s is not above the longest "
                f"healthy running time {needed:g} s = {policy.max_tries} tries x timeout "
                f"{policy.timeout:g} s + {policy.max_tries - 1} x retry_defer "
                f"{policy.retry_defer:g} s + redelivery window {window:g} s + margin {margin:g} s",
                f"raise stale_running_after above {needed:g} s (e.g. {_round_up(needed)}), or "
                "lower timeout / max_tries",
            )
        )
    found.extend(_queued_violations(name, policy, window, margin))
    return found


def _queued_violations(
    name: str, policy: OperationPolicy, window: float, margin: float
) -> list[Violation]:
    needed = shortest_queued(window, margin)
    if policy.stale_queued_after <= needed:
        return [
            Violation(
                name,
                f"stale_queued_after {policy.stale_queued_after:g} s is not above the redelivery "
                f"window {window:g} s + margin {margin:g} s = {needed:g} s (a run whose worker "
                "died before it started waits that long for arq to redeliver it)",
                f"raise stale_queued_after above {needed:g} s (e.g. {_round_up(needed)})",
            )
        ]
    if policy.stale_queued_after >= ARQ_JOB_EXPIRY:
        return [
            Violation(
                name,
                f"stale_queued_after {policy.stale_queued_after:g} s is not below arq's job "
                f"expiry {ARQ_JOB_EXPIRY:g} s: arq drops the job before the ledger calls it stale",
                f"lower stale_queued_after below {ARQ_JOB_EXPIRY:g} s",
            )
        ]
    return []


def _round_up(seconds: float) -> str:
    step = 60 if seconds > 120 else 10
    return f"{(int(seconds) // step + 1) * step} s"


def timing_report(
    operations: OperationRegistry,
    cron_jobs: list[CronJob],
    job_timeout: float | None = ARQ_DEFAULT_JOB_TIMEOUT,
) -> TimingReport:
    """How the timeouts of a worker's jobs sit against arq's redelivery window."""
    return check_timing(
        list(operations), other_timeouts=[c.timeout_s for c in cron_jobs], job_timeout=job_timeout
    )


def check_worker_timing(
    operations: OperationRegistry, cron_jobs: list[CronJob], job_timeout: float | None
) -> None:
    """Raises TimingViolationError, naming each violation, for a worker whose timeouts
    do not sit safely below arq's redelivery window."""
    report = timing_report(operations, cron_jobs, job_timeout)
    if not report.ok:
        raise TimingViolationError(
            "\n".join(report.lines()), hint="the worker refuses to start until fixed"
        )
