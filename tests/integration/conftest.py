"""Fixtures of the integration tests beyond tests/conftest.py's stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import RunLedger
from projections import MonitoringView


@pytest.fixture
def view(ledger: RunLedger) -> Iterator[MonitoringView]:
    """The read API over the test's ledger (both stores, as `ledger` is)."""
    view = MonitoringView(ledger.settings)
    yield view
    view.close()
