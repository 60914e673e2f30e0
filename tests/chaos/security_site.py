"""A real `runledger web` over the UI's scenery, and the clients the security tests need.

`security_site` saves the scenery (tests/ui/scenery.py: every kind of run in the
workspaces acme, beta, gamma and one named with HTML, plus a day of history), projects
it, and serves it with `runledger web` on a free port with a secret key the tests know
(so they can forge cookies signed with it). `SecuritySite.browser` logs in over HTTP as a
browser would; `raw` sends exactly the bytes it is given (httpx would normalise `..`,
refuse CR/LF and re-encode), and reads the answer as it came.
"""

from __future__ import annotations

import contextlib
import re
import socket
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx

from ledger import DatabaseSettings, RunLedger, utcnow
from projections.db import Connection
from projections.events import EventLog
from projections.pool import ReadConnections
from projections.projector import catch_up
from runledger.wiring import migrate_all
from tests.conftest import REDIS_URL, store_url
from tests.ui.scenery import fill
from tests.web.client import Api
from tests.web.server import WebServer
from web.tokens import TokenStore

SECRET_KEY = "security-tests-secret-key-5f1c9a7e3b"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class RawResponse:
    status: int  # 0 when the server closed the connection without answering
    headers: list[tuple[str, str]]  # as they came, lower-cased names, in order
    body: bytes

    def header(self, name: str) -> str | None:
        found = [value for key, value in self.headers if key == name]
        return found[-1] if found else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page holds no CSRF field"
    return found.group(1)


@dataclass
class SecuritySite:
    kind: str
    settings: DatabaseSettings
    server: WebServer
    runs: dict[str, UUID]  # the scenery's special runs, by role

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def token(self, workspaces: list[str], capabilities: list[str] | None = None) -> str:
        connections = ReadConnections(self.settings, max_size=1)
        try:
            _, token = TokenStore(connections).create(
                f"op-{uuid.uuid4().hex[:6]}", workspaces, capabilities or [], utcnow()
            )
        finally:
            connections.close()
        return token

    def api(self, token: str | None) -> Api:
        return Api(self.url, token)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=15, **kwargs)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def browser(self, token: str, **kwargs: object) -> Iterator[httpx.Client]:
        """A client logged in with `token` through the login form, over HTTP."""
        with self.client(**kwargs) as client:
            form = client.get("/login")
            response = client.post("/login", data={"csrf": csrf_of(form.text), "token": token})
            assert response.status_code == 303, response.text
            yield client

    def raw(
        self,
        target: bytes | str,
        headers: Sequence[bytes | str] = (),
        *,
        method: str = "GET",
        body: bytes = b"",
    ) -> RawResponse:
        """One request of exactly these bytes, on a connection of its own."""
        wire = target if isinstance(target, bytes) else target.encode("latin-1")
        lines = [
            f"{method} ".encode() + wire + b" HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}".encode(),
        ]
        lines += [h if isinstance(h, bytes) else h.encode("latin-1") for h in headers]
        lines += [b"Connection: close", f"Content-Length: {len(body)}".encode()]
        received = bytearray()
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as sock:
            # A server refusing a request part way through may close before reading it all.
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received += chunk
        if not received:
            return RawResponse(0, [], b"")  # closed without an answer
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        pairs = []
        for line in header_lines:
            name, _, value = line.partition(":")
            pairs.append((name.strip().lower(), value.strip()))
        return RawResponse(int(status_line.split(" ")[1]), pairs, rest)

    def table_counts(self) -> dict[str, int]:
        """Every table of the ledger's database (or schema), with its row count."""
        with Connection(self.settings) as conn:
            if self.settings.is_postgres:
                rows = conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                    (self.settings.schema,),
                )
            else:
                rows = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            names = sorted(str(row[0]) for row in rows)
            return {n: int(conn.execute(f'SELECT COUNT(*) FROM {{s}}"{n}"')[0][0]) for n in names}

    def database_bytes(self) -> bytes:
        """Everything the database holds, as bytes to search: the SQLite file (and its
        WAL), or every row of every table of the schema as text."""
        if not self.settings.is_postgres:
            path = Path(self.settings.sqlite_path)
            files = [path, path.with_name(path.name + "-wal")]
            return b"".join(p.read_bytes() for p in files if p.exists())
        with Connection(self.settings) as conn:
            dumped = [
                repr(conn.execute(f'SELECT * FROM {{s}}"{name}"')).encode()
                for name in self.table_counts()
            ]
        return b"\n".join(dumped)


@contextlib.contextmanager
def security_site(kind: str, tmp: Path) -> Iterator[SecuritySite]:
    """The scenery on `kind` ("sqlite" or "postgresql"), projected and served."""
    with store_url(kind, tmp) as url:
        database = DatabaseSettings.from_url(url)
        list(migrate_all(database))
        ledger = RunLedger(database)
        try:
            runs = fill(ledger, utcnow().replace(microsecond=0), history=40)
        finally:
            ledger.close()
        with Connection(database) as conn:
            catch_up(conn, EventLog(database))
        env = {
            "RUNLEDGER_DATABASE_URL": url,
            "RUNLEDGER_SECRET_KEY": SECRET_KEY,
            "RUNLEDGER_REDIS_URL": REDIS_URL,
        }
        server = WebServer(env).start()
        try:
            yield SecuritySite(kind, database, server, runs)
        finally:
            server.stop()
