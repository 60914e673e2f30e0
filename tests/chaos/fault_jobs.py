"""The operations of the infrastructure fault tests (tests/chaos/test_infra_faults.py): the
chaos mix (tests/chaos_jobs.py) with a 30 s timeout. A job's time includes waiting for
its `Started` to be durable, and during a database restart or a locked SQLite file that
wait lasts as long as the fault: with the chaos mix's 4 s, those runs would end as
`queue.timeout`, and the test could not tell a lost transition from a timed-out one.

The timing guard's numbers: window 40 s; running at most 2 x 30 + 0.5 + 40 + 5 =
105.5 s, so `stale_running_after` is 150 s; `stale_queued_after` (above 45 s) is 120 s.
"""

from __future__ import annotations

from typing import Any

from tests import chaos_jobs as jobs
from workers import operation

POLICY: dict[str, Any] = {
    **jobs.POLICY,
    "timeout": 30,
    "stale_queued_after": 120,
    "stale_running_after": 150,
}

quick = operation("fault.quick", **POLICY)(jobs.quick_job)
slow = operation("fault.slow", **POLICY)(jobs.slow_job)
heartbeat = operation("fault.heartbeat", **POLICY)(jobs.heartbeat_job)
retry = operation("fault.retry", **POLICY)(jobs.retry_job)
fail = operation("fault.fail", **POLICY)(jobs.fail_job)
explode = operation("fault.explode", **POLICY)(jobs.explode_job)

MIX = [name.replace("chaos.", "fault.") for name in jobs.MIX]

STARTED = [("Queued",), ("Started", 1)]
# Each operation's whole record when nothing is lost, heartbeats aside.
RECORDS: dict[str, list[tuple[object, ...]]] = {
    "fault.quick": [*STARTED, ("Completed", 1, "job.succeeded")],
    "fault.slow": [*STARTED, ("Completed", 1, "job.succeeded")],
    "fault.heartbeat": [*STARTED, ("Completed", 1, "job.succeeded")],
    "fault.retry": [
        *STARTED,
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("Completed", 2, "job.succeeded"),
    ],
    "fault.fail": [*STARTED, ("Completed", 1, "job.failed")],
    "fault.explode": [*STARTED, ("Completed", 1, "job.exception")],
}
