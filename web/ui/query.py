"""A page's query string: its filters, read with the API's own declarations (web/params.py).

The JSON API stops at the first bad parameter; a page instead reads every parameter,
keeps what the operator typed (to fill the form back in), and collects each refusal
under the parameter's name, so the page can answer 400 with the bad field marked and
the rest of the page intact. Links (chips, paging) are built from what was typed, so a
permalink reproduces the view exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from web.errors import ApiError
from web.params import Param

__all__ = ["PageQuery", "read_query"]


@dataclass(frozen=True)
class PageQuery:
    """The parsed values (defaults where absent or refused), the typed text, the refusals."""

    values: dict[str, Any]
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def given(self, names: Iterable[str]) -> bool:
        """True when any of these parameters was typed (non-empty)."""
        return any(self.typed.get(name) for name in names)

    def link(self, path: str, changes: Mapping[str, str | None] | None = None) -> str:
        """`path` with this query, `changes` applied (None drops a parameter); empty
        parameters are left out, so the link is the shortest permalink of the view."""
        merged: dict[str, str | None] = {**self.typed, **(changes or {})}
        pairs = [(name, value) for name, value in merged.items() if value]
        return f"{path}?{urlencode(pairs)}" if pairs else path

    def paging(self, path: str, older: str | None, newer: str | None) -> dict[str, str | None]:
        """The pager's links: older, newer (keyset cursors) and back to the newest page."""
        return {
            "older": self.link(path, {"cursor": older}) if older else None,
            "newer": self.link(path, {"cursor": newer}) if newer else None,
            "newest": self.link(path, {"cursor": None}) if self.typed.get("cursor") else None,
        }

    def query_string(self) -> str:
        pairs = [(name, value) for name, value in self.typed.items() if value]
        return urlencode(pairs)


def read_query(query: Sequence[tuple[str, str]], accepted: Sequence[Param]) -> PageQuery:
    """Every accepted parameter parsed; each unknown, repeated or malformed one refused."""
    by_name = {p.name: p for p in accepted}
    values: dict[str, Any] = {p.name: p.default for p in accepted}
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, text in query:
        param = by_name.get(name)
        if param is None:
            known = ", ".join(sorted(by_name)) or "none"
            errors[name[:60]] = f"unknown parameter {name[:60]!r} (accepted: {known})"
            continue
        if name in typed:
            errors[name] = f"{name} is given more than once"
            continue
        typed[name] = text
        if text.strip():
            try:
                values[name] = param.parse(text.strip())
            except ApiError as error:
                errors[name] = error.message
    return PageQuery(values, typed, errors)
