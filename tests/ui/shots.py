"""Screenshots of every page against a real `runledger web`, for docs/images and review.

    .venv/bin/python -m tests.ui.shots [--out docs/images] [--keep]

Makes a SQLite ledger with `runledger migrate`, fills it with the scenery (scenery.py:
every kind of run, a day of history, hostile text), projects it, creates a token with
`runledger token create`, starts `runledger web` on a free port, logs in through the
form and photographs each page at 1280x800 and 375x812, light and dark, with Debian's
Chromium. Not a test: the browser tests keep their own screenshots as artifacts.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx

from ledger import DatabaseSettings, RunLedger, utcnow
from projections.db import Connection
from projections.events import EventLog
from projections.projector import catch_up
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, SIZES
from tests.ui.scenery import fill

ROOT = Path(__file__).resolve().parents[2]
RUNLEDGER = str(ROOT / ".venv" / "bin" / "runledger")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(folder: Path) -> tuple[dict[str, str], dict[str, UUID], str]:
    """(environment for the commands, the special runs' ids, a token)."""
    env = {
        **os.environ,
        "RUNLEDGER_DATABASE_URL": f"sqlite:///{folder / 'runledger.db'}",
        "RUNLEDGER_SECRET_KEY": "screenshots-only-secret-key-0123456789",
    }
    subprocess.run([RUNLEDGER, "migrate"], env=env, check=True, capture_output=True)
    settings = DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"])
    ledger = RunLedger(settings)
    try:
        runs = fill(ledger, utcnow(), history=1500)
    finally:
        ledger.close()
    with Connection(settings) as conn:
        catch_up(conn, EventLog(settings))
    made = subprocess.run(
        [RUNLEDGER, "token", "create", "--operator", "dana", "--workspace", "*"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return env, runs, made.stdout.strip().splitlines()[-1]


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [RUNLEDGER, "web", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    full: bool = False  # the whole page, not just the first screen
    diagnostics: bool = False  # open the run page's diagnostics first


def shots(runs: dict[str, UUID]) -> list[Shot]:
    return [
        Shot("operations", "/operations"),
        Shot("operations-bad-filter", "/operations?queued_after=yesterday&workspace=acme"),
        Shot("run-stale", f"/operations/{runs['stale']}", full=True),
        Shot("run-reconciled", f"/operations/{runs['orphaned']}", full=True, diagnostics=True),
        Shot("audit", "/audit"),
        Shot("audit-entry", "/audit/1", full=True),
        Shot("not-found", "/operations/00000000-0000-4000-8000-000000000000"),
    ]


def shoot(base: str, token: str, runs: dict[str, UUID], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    made: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            for size, (width, height) in SIZES.items():
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,
                    device_scale_factor=1,
                )
                page = context.new_page()
                page.goto(f"{base}/login")
                made.append(_save(page, out / f"login-{size}-{scheme}.png"))
                page.fill("#token", token)
                page.click("button[type=submit]")
                page.wait_for_url("**/operations")
                for shot in shots(runs):
                    page.goto(base + shot.path)
                    if shot.diagnostics:
                        page.click("#diagnostics > summary")
                    made.append(_save(page, out / f"{shot.name}-{size}-{scheme}.png", shot.full))
                page.goto(f"{base}/audit?run_id={runs['lost']}")
                page.click("[data-testid=audit-entry-link] >> nth=0")
                page.wait_for_selector("#audit-panel[open] #audit-entry")
                page.wait_for_timeout(400)  # the slide-in animation
                made.append(_save(page, out / f"audit-panel-{size}-{scheme}.png"))
                context.close()
        browser.close()
    return made


def _save(page: object, path: Path, full: bool = False) -> Path:
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=full)  # type: ignore[attr-defined]
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        env, runs, token = prepare(Path(folder))
        with serving(env) as base:
            for path in shoot(base, token, runs, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
