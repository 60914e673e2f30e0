"""`import ledger` pulls in no database driver, queue or web library."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_ledger_loads_no_io_library() -> None:
    probe = (
        "import sys, ledger; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'psycopg', 'psycopg_pool', 'arq', 'redis', 'starlette', 'uvicorn', 'sqlite3'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
