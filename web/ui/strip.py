"""The overview strip: runs ended per 5 minutes over the last 24 hours, by how they ended.

Drawn on the server as SVG (no charting library, nothing for the CSP to allow): one
column per 5-minute bucket, stacked by kind, coloured by the badge classes and, for the
failure kinds, hatched as well, so the strip does not rely on colour alone; each column
has a hover title and the whole strip a text summary.

The figures come from a time-bucketed read model, `MonitoringView.activity(scope, *,
since, until, workspace=None, operation_type=None)` returning buckets of (start,
outcome, ended_by, runs), whose cost does not grow with history. Until that read model
exists the strip says "no data yet" and the rest of the page works as before.

Its cost follows what ended in the last day (up to 288 buckets by workspaces by types by
endings read and summed), which at tens of thousands of runs a day is most of the
index page's time. A `StripCache` keeps each strip drawn until the read model moves: the
activity rows change only when the projector commits a batch (rows and tracking position
in one transaction), and the window only every 5 minutes, so a strip drawn for (scope,
filters, window, projector position) is exact for as long as that position holds. Each
stack is drawn as one SVG path per kind, not a rectangle per segment, with one
transparent column per bucket that carries its hover title.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from projections import MonitoringView, Scope
from web.ui.badges import KINDS, ending_kind
from web.ui.times import moment

__all__ = [
    "BUCKET",
    "BUCKETS",
    "HEIGHT",
    "STACK",
    "Bar",
    "Strip",
    "StripCache",
    "cache_of",
    "overview",
]

BUCKET = timedelta(minutes=5)
BUCKETS = 288  # 24 hours
HEIGHT = 40  # the SVG's height in its own units (its width is one unit per bucket)
# Bottom to top: the common case at the base, the failures on top where they show.
STACK = (
    "succeeded",
    "partially_succeeded",
    "cancelled",
    "completed",
    "failed_by_job",
    "failed_by_queue",
    "failed_by_reconciler",
)


@dataclass(frozen=True)
class Segment:
    kind: str
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    x: int
    title: str
    segments: list[Segment]


@dataclass(frozen=True)
class Strip:
    state: Literal["unavailable", "empty", "ok"]
    since: datetime
    until: datetime
    bars: list[Bar] = field(default_factory=list)
    totals: list[tuple[str, str, int]] = field(default_factory=list)  # kind, words, runs
    peak: int = 0
    paths: list[tuple[str, str]] = field(default_factory=list)  # kind, SVG path of its stacks

    @property
    def total(self) -> int:
        return sum(count for _, _, count in self.totals)

    @property
    def summary(self) -> str:
        if self.state == "unavailable":
            return "No data yet: the activity read model is not available."
        if self.state == "empty":
            return "No run ended in the last 24 hours."
        said = ", ".join(f"{count:,} {words.lower()}" for _, words, count in self.totals)
        return f"{self.total:,} runs ended in the last 24 hours: {said}."


def window(now: datetime) -> tuple[datetime, datetime]:
    """(since, until): 288 whole buckets, the last one the bucket `now` falls in. The
    window depends on the bucket of `now` alone, so a strip holds for its 5 minutes."""
    now = now.astimezone(UTC)
    floor = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    return floor - BUCKET * (BUCKETS - 1), floor + BUCKET


class StripCache:
    """The strips drawn lately, by (scope, filters, window, projector position): the
    last `size` of them, least recently used first out. Safe to share between threads."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._strips: OrderedDict[tuple[Any, ...], Strip] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Strip | None:
        with self._lock:
            strip = self._strips.get(key)
            if strip is not None:
                self._strips.move_to_end(key)
            return strip

    def put(self, key: tuple[Any, ...], strip: Strip) -> None:
        with self._lock:
            self._strips[key] = strip
            self._strips.move_to_end(key)
            while len(self._strips) > self.size:
                self._strips.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary[MonitoringView, StripCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_of(view: MonitoringView) -> StripCache:
    """The strips drawn from this view's database (one cache per view, gone with it)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(view)
        if cache is None:
            cache = _CACHES[view] = StripCache()
        return cache


def overview(
    view: MonitoringView,
    scope: Scope,
    now: datetime,
    *,
    workspace: str | None = None,
    operation_type: str | None = None,
    cache: StripCache | None = None,
) -> Strip:
    """The strip of the 24 hours up to `now`; drawn once per projector position with a
    cache (the position is read first: a batch committed meanwhile only makes the strip
    kept under the older position fresher than it needs to be, never older)."""
    since, until = window(now)
    activity = getattr(view, "activity", None)
    if activity is None:
        return Strip("unavailable", since, until)
    key: tuple[Any, ...] = ()
    if cache is not None:
        key = (scope.workspaces, workspace, operation_type, since, view.position())
        if (kept := cache.get(key)) is not None:
            return kept
    buckets = activity(
        scope, since=since, until=until, workspace=workspace, operation_type=operation_type
    )
    strip = build(buckets, since, until)
    if cache is not None:
        cache.put(key, strip)
    return strip


def build(buckets: Iterable[Any], since: datetime, until: datetime) -> Strip:
    """The strip from activity buckets (anything with start, outcome, ended_by, runs)."""
    grid: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for bucket in buckets:
        start = moment(bucket.start)
        index = -1 if start is None else int((start - since) // BUCKET)
        if 0 <= index < BUCKETS and bucket.runs > 0:
            kind = ending_kind(bucket.outcome, bucket.ended_by)
            grid[index][kind] += int(bucket.runs)
            totals[kind] += int(bucket.runs)
    if not totals:
        return Strip("empty", since, until)
    peak = max(sum(kinds.values()) for kinds in grid.values())
    bars = [_bar(x, grid[x], peak, since) for x in sorted(grid)]
    listed = [(kind, KINDS[kind][0], totals[kind]) for kind in STACK if totals.get(kind)]
    return Strip("ok", since, until, bars, listed, peak, _paths(bars))


def _paths(bars: list[Bar]) -> list[tuple[str, str]]:
    """One path per kind: each of its segments a 0.8-wide rectangle in its bucket's column."""
    drawn: dict[str, list[str]] = defaultdict(list)
    for bar in bars:
        for s in bar.segments:
            drawn[s.kind].append(f"M{bar.x + 0.1:g} {s.y:g}h.8v{s.height:g}h-.8z")
    return [(kind, "".join(drawn[kind])) for kind in STACK if kind in drawn]


def _bar(x: int, kinds: dict[str, int], peak: int, since: datetime) -> Bar:
    segments: list[Segment] = []
    top = float(HEIGHT)
    for kind in STACK:
        runs = kinds.get(kind, 0)
        if not runs:
            continue
        height = max(1.0, runs / peak * HEIGHT)  # a single failed run still shows
        top = max(0.0, top - height)
        segments.append(Segment(kind, round(top, 2), round(height, 2)))
    start = since + BUCKET * x
    said = ", ".join(f"{kinds[k]:,} {KINDS[k][0].lower()}" for k in STACK if kinds.get(k))
    title = f"{start:%H:%M} to {start + BUCKET:%H:%M} UTC: {said}"
    return Bar(x, title, segments)
