"""The worker tests' operations (tests/worker_jobs.py) for tests/e2e/test_sqlite_writers.py,
with a timeout a loaded machine cannot hit by accident: a job's time includes waiting
for its Started to commit, and there the store has many writers to take turns with.
Only `busy.hang` keeps a short one, since timing out is its ending."""

from __future__ import annotations

from tests import worker_jobs as jobs
from workers import operation

ROOMY = {"timeout": 30, "stale_queued_after": 600, "stale_running_after": 600}

succeed = operation("busy.succeed", max_tries=1, **ROOMY)(jobs.succeed.function)
partial = operation("busy.partial", max_tries=1, **ROOMY)(jobs.partial.function)
fail = operation("busy.fail", max_tries=1, **ROOMY)(jobs.fail.function)
explode = operation("busy.explode", max_tries=3, **ROOMY)(jobs.explode.function)
retry_once = operation("busy.retry", max_tries=3, **ROOMY)(jobs.retry_once.function)
always_retry = operation("busy.always_retry", max_tries=2, retry_defer=0.02, **ROOMY)(
    jobs.always_retry.function
)
heartbeat = operation("busy.heartbeat", max_tries=1, **ROOMY)(jobs.heartbeat.function)
nap = operation("busy.nap", max_tries=1, **ROOMY)(jobs.nap.function)
hang = operation("busy.hang", max_tries=3, **jobs.FAST)(jobs.hang.function)
