"""Whose runs a reader may see: the operator's workspaces, or every workspace.

Every read method of the read API takes a `Scope` and there is no default: a caller
must say which workspaces it reads, so no code path can forget the restriction. Outside
its scope a run or an audit entry is `None`, exactly as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EVERY_WORKSPACE = "*"


@dataclass(frozen=True, slots=True)
class Scope:
    """`workspaces=None` is every workspace (`*`); an empty set is none at all."""

    workspaces: frozenset[str] | None

    @classmethod
    def every_workspace(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, workspaces: Iterable[str]) -> Scope:
        """The scope a token grants: `*` among its workspaces means every workspace."""
        names = frozenset(workspaces)
        return cls(None) if EVERY_WORKSPACE in names else cls(names)

    @property
    def is_everything(self) -> bool:
        return self.workspaces is None

    @property
    def is_empty(self) -> bool:
        return self.workspaces is not None and not self.workspaces

    def allows(self, workspace: str) -> bool:
        return self.workspaces is None or workspace in self.workspaces

    def narrowed(self, workspace: str | None) -> Scope:
        """This scope limited to one workspace (a `workspace` filter); never wider."""
        if workspace is None:
            return self
        return Scope(frozenset({workspace}) if self.allows(workspace) else frozenset())

    def describe(self) -> list[str]:
        return [EVERY_WORKSPACE] if self.workspaces is None else sorted(self.workspaces)
