"""Where the ledger lives: RUNLEDGER_DATABASE_URL mapped to eventsourcing's settings.

This is the one place that knows how a database URL becomes eventsourcing's
configuration and a connection string for the read models (which live in the same
database). It parses strings only; no database driver is imported here.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import SettingsError

DATABASE_URL_VAR = "RUNLEDGER_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///runledger.db"
_URL_HELP = "expected sqlite:///PATH or postgresql://USER[:PASS]@HOST[:PORT]/DB[?schema=NAME]"


@dataclass(frozen=True)
class DatabaseSettings:
    """A parsed database URL. `schema` (PostgreSQL only) keeps several ledgers apart."""

    # Not in repr(): the URL and the password are secrets that a logged or printed
    # settings object (an assertion, a `%r`) would otherwise show.
    url: str = field(repr=False)
    kind: Literal["sqlite", "postgresql"]
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    schema: str = "public"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        environ = os.environ if environ is None else environ
        return cls.from_url(environ.get(DATABASE_URL_VAR) or DEFAULT_DATABASE_URL)

    @classmethod
    def from_url(cls, url: str) -> DatabaseSettings:
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise SettingsError(f"{DATABASE_URL_VAR}={redacted(url)!r} is not a URL: {_URL_HELP}")
        if scheme == "sqlite":
            return cls._sqlite(url, rest)
        if scheme in ("postgresql", "postgres"):
            return cls._postgres(url)
        raise SettingsError(f"{DATABASE_URL_VAR} has unsupported scheme {scheme!r}: {_URL_HELP}")

    @classmethod
    def _sqlite(cls, url: str, rest: str) -> DatabaseSettings:
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        if not rest.startswith("/") or rest == "/":
            raise SettingsError(f"{DATABASE_URL_VAR}={redacted(url)!r} names no file: {_URL_HELP}")
        path = unquote(rest[1:].split("?", 1)[0])
        if path == ":memory:":
            raise SettingsError("an in-memory SQLite ledger cannot be shared by processes")
        return cls(url=url, kind="sqlite", sqlite_path=str(Path(path).absolute()))

    @classmethod
    def _postgres(cls, url: str) -> DatabaseSettings:
        parts = urlsplit(url)
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            raise SettingsError(
                f"{DATABASE_URL_VAR}={redacted(url)!r} needs a host and a database: {_URL_HELP}"
            )
        try:
            port = parts.port or 5432
        except ValueError:
            raise SettingsError(
                f"{DATABASE_URL_VAR}={redacted(url)!r} has a malformed port"
            ) from None
        query = parse_qs(parts.query)
        schema = query.get("schema", ["public"])[0]
        if not schema.replace("_", "").isalnum():
            raise SettingsError(f"schema {schema!r} must be letters, digits and underscores")
        return cls(
            url=url,
            kind="postgresql",
            host=parts.hostname,
            port=port,
            dbname=dbname,
            user=unquote(parts.username or "") or os.environ.get("PGUSER") or getpass.getuser(),
            password=unquote(parts.password or ""),
            schema=schema,
        )

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.is_postgres:
            user = f"{self.user}@" if self.user else ""
            return (
                f"postgresql://{user}{self.host}:{self.port}/{self.dbname} (schema {self.schema})"
            )
        return f"sqlite:///{self.sqlite_path}"

    def conninfo(self) -> str:
        """A libpq connection string for the read models' own connections."""
        if not self.is_postgres:
            raise SettingsError("conninfo() is for PostgreSQL settings")
        parts = {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
        }
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items() if v)

    def eventsourcing_env(self, *, create_table: bool = False) -> dict[str, str]:
        """The settings of eventsourcing's persistence module for this database.

        Tables are created only by `runledger migrate` (create_table=True): several
        processes creating them at once fail on PostgreSQL.
        """
        env = {"CREATE_TABLE": "y" if create_table else "n"}
        if self.is_postgres:
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=self.dbname,
                POSTGRES_HOST=self.host,
                POSTGRES_PORT=str(self.port),
                POSTGRES_USER=self.user,
                POSTGRES_PASSWORD=self.password,
                POSTGRES_SCHEMA=self.schema,
                POSTGRES_CONNECT_TIMEOUT="5",
                # Pooled connections die with a database restart: test them before use.
                POSTGRES_PRE_PING="y",
            )
        else:
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=self.sqlite_path,
                SQLITE_LOCK_TIMEOUT="30",
            )
        return env


def redacted(url: str) -> str:
    """`url` with its password (if any) replaced by `***`, for an error message about a
    URL that did not parse (a parsed one is shown by `DatabaseSettings.display()`).

    It works on the text, not on a parse: the URL may be malformed, and a password may
    hold an unescaped `@` or `/`. Everything from the first `:` of the user part to the
    last `@` goes, so a doubt hides more, never less.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{head}{sep}{user}{':***' if colon else ''}@{host}"


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
