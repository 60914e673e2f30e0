"""Talking to the served API as an operator's script would: a bearer token, JSON, cursors.

`Api` wraps one keep-alive HTTP client; `pages` follows `next_cursor` (or `prev_cursor`)
to the end; `assert_error` holds every refusal to the contract's error shape. `Ledger`
is what the fixture's worker put in the ledger, read back once with a `*` token, so a
test can say which runs (and audit entries) a listing should hold.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from tests.web.server import ALL_STORIES

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class Api:
    """GETs against the served app with one token (or none)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Idle connections are dropped well before uvicorn's 5 s keep-alive ends them, so
        # a request never goes out on a connection the server is closing.
        limits = httpx.Limits(keepalive_expiry=1.0)
        self.http = httpx.Client(base_url=url, headers=headers, timeout=15, limits=limits)
        self.requests = 0  # how many GETs this client has sent
        self._counting = threading.Lock()

    def get(self, path: str, params: Params | None = None, **more: Any) -> httpx.Response:
        with self._counting:
            self.requests += 1
        return self.http.get(path, params=params or more or None)

    def get_all(self, paths: Iterable[str], params: Params | None = None) -> list[httpx.Response]:
        """GETs of many paths at once, as a busy dashboard sends them (in the paths' order)."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda path: self.get(path, params), paths))

    def ok(self, path: str, params: Params | None = None, **more: Any) -> Any:
        response = self.get(path, params, **more)
        assert response.status_code == 200, (path, params or more, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def pages(
        self, path: str, *, follow: str = "next_cursor", **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page from the one `params` name to the last, following `follow`."""
        page = self.ok(path, params)
        yield page
        seen: set[str] = set()
        while page[follow] is not None:
            assert page[follow] not in seen, f"{path} hands out the cursor {page[follow]} twice"
            seen.add(page[follow])
            page = self.ok(path, {**params, "cursor": page[follow]})
            yield page

    def close(self) -> None:
        self.http.close()


def assert_error(
    response: httpx.Response, status: int, *, parameter: str | None = None
) -> dict[str, Any]:
    """The response is `status` with the contract's error JSON (naming `parameter`)."""
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    if parameter is not None:
        assert error.get("parameter") == parameter, body
        assert parameter in error["message"], body
    return dict(error)


def expected_counts(documents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The counts these runs add up to, as /api/stats reports them."""
    runs = list(documents)

    def count(field: str, where: Any = lambda run: True) -> dict[str, int]:
        return dict(Counter(r[field] for r in runs if r[field] is not None and where(r)))

    return {
        "total": len(runs),
        "stale": sum(run["freshness"] == "stale" for run in runs),
        "by_status": count("status"),
        "by_outcome": count("outcome"),
        "by_ended_by": count("ended_by"),
        "by_reason_code": count("reason_code"),
        "failed_by": count("ended_by", lambda run: run["outcome"] == "failed"),
    }


def forged_cursor(*value: Any) -> str:
    """A cursor spelled the way the API spells its own (base64 of a JSON list), to forge."""
    raw = json.dumps(list(value), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), f"{text} is not ISO 8601 UTC"
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Ledger:
    """The served ledger as the fixture wrote it: each story's run and its audit entries."""

    stories: dict[str, UUID]  # story -> run id
    documents: dict[UUID, dict[str, Any]]  # run id -> GET /api/runs/{id}
    entries: list[dict[str, Any]]  # every audit entry, newest first

    @classmethod
    def read(cls, url: str, token: str, stories: Mapping[str, UUID]) -> Ledger:
        api = Api(url, token)
        try:
            documents = {run_id: api.ok(f"/api/runs/{run_id}") for run_id in stories.values()}
            entries = [e for page in api.pages("/api/audit", limit=200) for e in page["entries"]]
        finally:
            api.close()
        for story, run_id in stories.items():
            _, workspace, _ = ALL_STORIES[story]
            assert documents[run_id]["workspace"] == workspace, story
        return cls(dict(stories), documents, entries)

    def run_ids(self, where: Callable[[dict[str, Any]], bool] = lambda run: True) -> set[str]:
        return {str(run_id) for run_id, run in self.documents.items() if where(run)}

    def in_workspaces(self, workspaces: set[str] | None) -> set[str]:
        """The runs a token of these workspaces (None: `*`) may see."""
        return self.run_ids(lambda run: workspaces is None or run["workspace"] in workspaces)

    def entries_where(self, where: Callable[[dict[str, Any]], bool]) -> list[int]:
        """The positions of the entries `where` keeps, newest first."""
        return [entry["position"] for entry in self.entries if where(entry)]

    def entries_with(self, **fields: Any) -> list[int]:
        """The positions of the entries with these field values, newest first."""
        return self.entries_where(lambda e: all(e[k] == v for k, v in fields.items()))

    def newest_first(self, ids: set[str]) -> list[str]:
        """`ids` in the order /api/runs lists runs: queued time, then id, newest first."""
        key = {i: (parse_time(self.documents[UUID(i)]["queued_at"]), i) for i in ids}
        return sorted(ids, key=lambda i: key[i], reverse=True)
