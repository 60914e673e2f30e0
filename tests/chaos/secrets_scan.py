"""Scanning what processes wrote for secrets: a token, a secret key, a database password.

`scan_for_secrets(paths, secrets)` reads every file under `paths` (a file, or a
directory walked for files) as bytes and counts each secret in it, spelled as it is and
as it would appear percent-encoded in a URL or a form. It returns the figures the issue
asks for (files, bytes, hits per secret and where), so a test can assert 0 hits and print
what it scanned. The chaos tests hand it their `Fleet`'s logs; test_secrets_in_logs.py
the demo's and a PostgreSQL run's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_LENGTH", "describe_scan", "scan_for_secrets"]

MIN_SECRET_LENGTH = 8  # shorter "secrets" would match by chance and prove nothing


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for entry in map(Path, paths):
        if entry.is_dir():
            yield from sorted(p for p in entry.rglob("*") if p.is_file())
        elif entry.is_file():
            yield entry


def _spellings(secret: str) -> set[bytes]:
    return {secret.encode(), quote(secret, safe="").encode(), quote_plus(secret).encode()}


def scan_for_secrets(paths: Iterable[Path | str], secrets: Mapping[str, str]) -> dict[str, Any]:
    """`{"files", "bytes", "hits": {name: total}, "where": {name: {path: count}}}`.

    `secrets` maps a name ("token", "database password") to its value; every value must
    be at least MIN_SECRET_LENGTH characters, or a hit would mean nothing.
    """
    for name, value in secrets.items():
        assert len(value) >= MIN_SECRET_LENGTH, f"the {name} is too short to scan for"
    spellings = {name: _spellings(value) for name, value in secrets.items()}
    files = 0
    scanned = 0
    where: dict[str, dict[str, int]] = {name: {} for name in secrets}
    for path in _files(paths):
        data = path.read_bytes()
        files += 1
        scanned += len(data)
        for name, forms in spellings.items():
            count = sum(data.count(form) for form in forms)
            if count:
                where[name][str(path)] = count
    return {
        "files": files,
        "bytes": scanned,
        "hits": {name: sum(found.values()) for name, found in where.items()},
        "where": where,
    }


def describe_scan(what: str, result: Mapping[str, Any]) -> str:
    """One line of figures: what was scanned, and the hits per secret."""
    hits = ", ".join(f"{name} {count}" for name, count in result["hits"].items())
    return (
        f"secrets scan of {what}: {result['files']} files, {result['bytes']:,} bytes; hits: {hits}"
    )
