"""Errors of the read API that callers turn into a 400 naming the parameter at fault."""

from __future__ import annotations


class ReadRequestError(ValueError):
    """A request the read API cannot answer as asked; `parameter` names what to fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class InvalidCursorError(ReadRequestError):
    """A cursor this API did not hand out (or one of another listing)."""

    def __init__(self, parameter: str = "cursor") -> None:
        super().__init__(
            parameter, f"{parameter} is not a cursor from this listing: pass back next_cursor"
        )
