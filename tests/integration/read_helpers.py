"""What the read-API tests share: reading every workspace, and projecting the ledger.
(The `view` fixture over the test's ledger is in tests/integration/conftest.py.)"""

from __future__ import annotations

from ledger import RunLedger
from projections import Scope
from projections.db import Connection
from projections.events import EventLog
from projections.projector import catch_up

ALL = Scope.every_workspace()


def project(ledger: RunLedger, batch_size: int = 500) -> int:
    """Projects everything the ledger holds; returns how many events that was."""
    with Connection(ledger.settings) as conn:
        return catch_up(conn, EventLog(ledger.settings), batch_size=batch_size)
