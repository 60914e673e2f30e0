"""Operations the hostile-input tests run through a real worker: one that reports what
params it received, one that returns a hostile summary, one that raises a hostile
message, one whose operation type is hostile itself, and a normal one that must still
complete after all of them.

The hostile values are built inside the job from a case name, so the 10 MB ones never
travel through Redis as params.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from workers import operation

# Aligned with the timing guard: window = 10 s + 10 s; thresholds well above it. The
# timeout leaves room for a loaded machine to build 10 MB strings.
POLICY = {"timeout": 10, "max_tries": 1, "stale_queued_after": 300, "stale_running_after": 300}

HTML = "<script>alert(\"x\")</script> & 'quotes' ../../etc/passwd C:\\Windows\\"
HOSTILE_TYPE = "<b onclick=\"x()\">op</b> 'q' /../ \\ & type"
MB = 1_000_000


def nested(levels: int) -> dict[str, Any]:
    """A dict nested `levels` deep: {"a": {"a": ... {} ...}}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def fingerprint(params: dict[str, Any]) -> str:
    """What the echo job reports of its params: equal only if they arrived unchanged."""
    return hashlib.sha256(ascii(sorted(params.items())).encode()).hexdigest()


# A job's summary per case: what it returns.
SUMMARIES: dict[str, Callable[[], dict[str, Any]]] = {
    "1mb": lambda: {"log": "x" * MB},
    "10mb": lambda: {"blob": "y" * (10 * MB), "more": ["z" * MB] * 9},
    "nul": lambda: {"a\x00b": "c\x00d", "list": ["\x00"]},
    "surrogates": lambda: {"s": "a\ud800b\udfff", "k\udc80": 1, "raw": b"\xff\xfe\x00"},
    "nested": lambda: {"deep": nested(1000)},
    "10k_keys": lambda: {f"k{i}": i for i in range(10_000)},
    "html": lambda: {HTML: HTML},
}

# A job's exception per case: what it raises.
MESSAGES: dict[str, Callable[[], BaseException]] = {
    "1mb": lambda: ValueError("e" * MB),
    "10mb": lambda: ValueError("E" * (10 * MB)),
    "nul": lambda: ValueError("bad\x00byte"),
    "surrogates": lambda: ValueError("bad \ud800 surrogate", b"\xff\xfe"),
    "nested": lambda: ValueError(nested(1000)),
    "10k_keys": lambda: ValueError({f"k{i}": i for i in range(10_000)}),
    "html": lambda: ValueError(HTML),
}


@operation("hostile.echo", **POLICY)
async def echo(ctx: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"fingerprint": fingerprint(params), "params": len(params)}


@operation("hostile.report", **POLICY)
async def report(ctx: dict[str, Any], case: str) -> dict[str, Any]:
    return SUMMARIES[case]()


@operation("hostile.fail", **POLICY)
async def fail(ctx: dict[str, Any], case: str) -> None:
    raise MESSAGES[case]()


@operation(HOSTILE_TYPE, **POLICY)
async def hostile_type(ctx: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"type": HOSTILE_TYPE}


@operation("hostile.normal", **POLICY)
async def normal(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}
