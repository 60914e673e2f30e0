"""Debian's Chromium as the browser tests and the screenshot script launch it: headless,
with no network of its own (this machine has none but the loopback)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("RUNLEDGER_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"desktop": (1280, 800), "phone": (375, 812)}
