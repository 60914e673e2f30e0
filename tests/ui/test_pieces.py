"""The HTML views' pure pieces, without a database: `next`, times, badges, the strip's
geometry, the live region's clock step, the session codec, permalinks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ledger import ReasonCode
from web.params import RUNS_LIST
from web.ui.badges import KINDS, REASON_WORDS, badge_of
from web.ui.live import clock_step
from web.ui.next_path import safe_next
from web.ui.query import read_query
from web.ui.session import Session, SessionCodec
from web.ui.strip import BUCKET, HEIGHT, StripCache, build, window
from web.ui.times import relative

NOW = datetime(2026, 3, 4, 10, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/operations?status=queued", True),
        ("/audit/12", True),
        ("/", True),
        ("//evil.example", False),
        ("///evil.example", False),
        ("/\\evil.example", False),
        ("https://evil.example", False),
        ("http:/evil.example", False),
        ("/ops\r\nSet-Cookie: a=b", False),
        ("/ops\x00", False),
        ("/ops with space", False),
        ("/login?next=/audit", False),
        ("", False),
        (None, False),
        ("/" + "a" * 3000, False),
    ],
)
def test_next_is_a_local_path_or_the_operations_index(given: str | None, kept: bool) -> None:
    assert safe_next(given) == (given if kept else "/operations")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-3), "just now"),
        (timedelta(seconds=-45), "45 s ago"),
        (timedelta(minutes=-3, seconds=-59), "3 min ago"),
        (timedelta(hours=-2), "2 h ago"),
        (timedelta(days=-4, hours=-23), "4 d ago"),
        (timedelta(minutes=5), "in 5 min"),
    ],
)
def test_relative_times_round_down_like_the_script_does(delta: timedelta, text: str) -> None:
    assert relative(NOW + delta, NOW) == text
    assert relative((NOW + delta).isoformat().replace("+00:00", "Z"), NOW) == text


def _doc(**fields: object) -> dict[str, object]:
    return {"status": "completed", "attempts": 1, "max_tries": 3, **fields}


def test_every_reason_code_has_words_and_every_ending_a_badge() -> None:
    assert set(REASON_WORDS) == {code.value for code in ReasonCode}
    for code in ReasonCode:
        outcome = "succeeded" if code == ReasonCode.JOB_SUCCEEDED else "failed"
        badge = badge_of(
            _doc(reason_code=code.value, outcome=outcome, ended_by=code.ended_by.value), NOW, 30
        )
        assert badge.kind in KINDS and badge.label and badge.icon


def test_badges_tell_who_failed_a_run() -> None:
    kinds = {
        by: badge_of(_doc(outcome="failed", ended_by=by, reason_code=None), NOW, 30).kind
        for by in ("job", "queue", "reconciler")
    }
    assert kinds == {
        "job": "failed_by_job",
        "queue": "failed_by_queue",
        "reconciler": "failed_by_reconciler",
    }
    cancelled = badge_of(_doc(outcome="cancelled", reason_code="queue.aborted"), NOW, 30)
    assert (cancelled.kind, cancelled.detail) == ("cancelled", "aborted")


def test_a_stale_badge_says_the_idle_time_in_minutes_and_the_next_pass() -> None:
    run = {
        "status": "running",
        "freshness": "stale",
        "last_activity_at": (NOW - timedelta(minutes=14, seconds=36)).isoformat(),
    }
    badge = badge_of(run, NOW, 30)
    assert (badge.kind, badge.idle, badge.reconcile_at) == (
        "stale",
        "14 min",
        "2026-03-04T10:30:30Z",
    )


def test_a_running_badge_shows_progress_only_when_the_job_reports_done_and_total() -> None:
    run = {"status": "running", "freshness": "fresh", "attempts": 2, "max_tries": 3}
    assert badge_of({**run, "progress": {"done": 3, "total": 4}}, NOW, 30).progress == (3.0, 4.0)
    assert badge_of({**run, "progress": {"rows": 9}}, NOW, 30).progress is None
    assert badge_of({**run, "progress": {"done": 1, "total": 0}}, NOW, 30).progress is None
    assert badge_of(run, NOW, 30).detail == "attempt 2 of 3"


@pytest.mark.parametrize(("interval", "step"), [(30, 10), (15, 5), (12, 6), (60, 10), (7, 7)])
def test_the_live_clock_step_divides_the_reconcile_interval(interval: int, step: int) -> None:
    assert clock_step(interval) == step


@dataclass
class _Bucket:
    start: datetime
    outcome: str
    ended_by: str
    runs: int


def test_the_strip_stacks_each_bucket_by_kind_and_scales_to_the_peak() -> None:
    since, until = window(NOW)
    assert (until - since) // BUCKET == 288 and since.minute % 5 == 0
    buckets = [
        _Bucket(since, "succeeded", "job", 8),
        _Bucket(since, "failed", "queue", 2),
        _Bucket(since + BUCKET * 287, "failed", "reconciler", 1),
        _Bucket(since - BUCKET, "succeeded", "job", 99),  # before the window: left out
    ]
    strip = build(buckets, since, until)
    assert strip.state == "ok" and strip.peak == 10
    assert [bar.x for bar in strip.bars] == [0, 287]
    first = strip.bars[0]
    assert [s.kind for s in first.segments] == ["succeeded", "failed_by_queue"]
    assert first.segments[0].height == HEIGHT * 0.8 and first.segments[1].y == 0
    assert "8 succeeded, 2 failed by the queue" in first.title
    assert strip.bars[1].segments[0].height == 4.0
    assert strip.total == 11 and strip.summary.startswith("11 runs ended in the last 24 hours")
    assert build([], since, until).state == "empty"


def test_the_session_codec_refuses_anything_it_did_not_sign_or_that_is_too_old() -> None:
    codec = SessionCodec("k" * 32, max_age=60)
    session = Session.open("tok_0123456789", "dana", NOW)
    value = codec.dumps(session)
    assert codec.loads(value, NOW + timedelta(seconds=59)) == session
    assert codec.loads(value, NOW + timedelta(seconds=61)) is None
    assert codec.loads(value, NOW - timedelta(minutes=5)) is None, "issued in the future"
    assert SessionCodec("other-key" * 4).loads(value, NOW) is None
    # A character inside the signature: the last one also carries unused padding bits.
    flipped = "A" if value[-5] != "A" else "Q"
    assert codec.loads(value[:-5] + flipped + value[-4:], NOW) is None
    assert codec.loads("", NOW) is None and codec.loads("x" * 5000, NOW) is None
    assert Session.open("t", "o", NOW).csrf != Session.open("t", "o", NOW).csrf


def test_a_pages_links_are_its_shortest_permalink() -> None:
    query = read_query(
        [("workspace", "acme"), ("status", ""), ("cursor", "abc"), ("limit", "9")], RUNS_LIST
    )
    assert query.ok and query.values["limit"] == 9 and query.values["status"] is None
    assert query.link("/operations", {"cursor": None, "outcome": "failed"}) == (
        "/operations?workspace=acme&limit=9&outcome=failed"
    )
    bad = read_query([("limit", "0"), ("nope", "1"), ("limit", "2")], RUNS_LIST)
    assert set(bad.errors) == {"limit", "nope"}


def test_the_strip_cache_keeps_the_most_recently_used_strips() -> None:
    since, until = window(NOW)
    cache, strips = StripCache(size=2), [build([], since, until) for _ in range(3)]
    cache.put(("a",), strips[0])
    cache.put(("b",), strips[1])
    assert cache.get(("a",)) is strips[0]  # now the most recently used
    cache.put(("c",), strips[2])  # evicts the least recently used: b
    assert cache.get(("b",)) is None
    assert cache.get(("a",)) is strips[0] and cache.get(("c",)) is strips[2]
