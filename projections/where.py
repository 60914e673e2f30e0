"""A WHERE clause built a condition at a time, its values always bound, never spliced."""

from __future__ import annotations

from typing import Any

from projections.scope import Scope


class Where:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> Where:
        self.parts.append(condition)
        self.params.extend(params)
        return self

    def equals(self, column: str, value: object | None) -> Where:
        """`column = value`, or nothing when the value is None (not filtered)."""
        if value is not None:
            self.add(f"{column} = ?", str(value))
        return self

    def within(self, scope: Scope, column: str = "workspace") -> Where:
        """Rows of the scope's workspaces only (the caller answers an empty scope itself)."""
        if scope.workspaces is not None:
            names = sorted(scope.workspaces)
            if len(names) == 1:
                self.add(f"{column} = ?", names[0])
            else:
                self.add(f"{column} IN ({', '.join('?' * len(names))})", *names)
        return self

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.parts)}" if self.parts else ""
