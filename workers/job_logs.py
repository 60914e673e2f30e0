"""Keeping a job's exception from crashing the worker that logs it."""

from __future__ import annotations

import logging

from ledger.limits import safe_str


class RenderableRecords(logging.Filter):
    """Makes sure a log record's message can be rendered before any handler formats it.

    arq logs a failed job as `"... failed, %s: %s" % (kind, exception)`. An exception
    whose text cannot be made (one holding a 1,000-level nested value) raises
    RecursionError there, which logging's StreamHandler re-raises (bpo-36272) into
    arq's job loop: the whole worker would die of one job's exception. Such a record is
    logged with a placeholder instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.getMessage()
        except Exception:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(a if isinstance(a, (int, float)) else safe_str(a) for a in args)
            try:
                record.getMessage()
            except Exception as error:
                record.msg = f"{safe_str(record.msg)} (not rendered: {type(error).__name__})"
                record.args = None
        return True


_RENDERABLE = RenderableRecords()
# The loggers that render a job's exception or result text.
_JOB_LOGGERS = ("arq.worker", "arq.jobs", "workers.tracking")


def guard_job_logs() -> None:
    """Installs RenderableRecords on the loggers that render job text (once)."""
    for name in _JOB_LOGGERS:
        logger = logging.getLogger(name)
        if _RENDERABLE not in logger.filters:
            logger.addFilter(_RENDERABLE)
