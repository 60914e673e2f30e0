"""Assertions the browser tests share: badges, the run page's order, inert hostile text,
the stale note's time, horizontal overflow."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Locator, Page, expect

# kind -> (words, icon symbol): docs/ui.md's legend, written out here rather than read
# from web/ui/badges.py, so a change of either is a change the tests notice.
BADGES = {
    "queued": ("Queued", "i-queued"),
    "running": ("Running", "i-running"),
    "stale": ("Stale", "i-stale"),
    "succeeded": ("Succeeded", "i-succeeded"),
    "partially_succeeded": ("Partially succeeded", "i-partial"),
    "failed_by_job": ("Failed by the job", "i-failed-job"),
    "failed_by_queue": ("Failed by the queue", "i-failed-queue"),
    "failed_by_reconciler": ("Failed by reconciliation", "i-failed-reconciler"),
}
CLOCK = r"(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}:\d{2} UTC"
IDLE = r"[\d.]+ (s|min|h|d)( \d+ (s|min|h))?"
STALE_NOTE = re.compile(rf"^no activity for {IDLE} — will be reconciled at {CLOCK}$")
RECONCILE_INTERVAL = timedelta(seconds=30)  # `runledger web`'s default

_BADGE_LOOK = """(state) => {
  const badge = state.querySelector('.badge');
  const use = badge.querySelector('svg use');
  const href = use && (use.getAttribute('href') || use.getAttribute('xlink:href'));
  const symbol = href && document.getElementById(href.slice(1));
  const box = badge.querySelector('svg').getBoundingClientRect();
  const style = getComputedStyle(badge);
  return {
    label: badge.querySelector('.badge__label').textContent.trim(),
    icon: href ? href.slice(1) : null,
    symbol: Boolean(symbol && symbol.tagName.toLowerCase() === 'symbol'),
    drawn: symbol ? symbol.children.length : 0,
    iconSize: [box.width, box.height],
    colour: [style.color, style.backgroundColor, style.borderTopColor].join(' / '),
    note: (state.querySelector('.state__note') || {textContent: ''}).textContent
      .replace(/\\s+/g, ' ').trim(),
  };
}"""


def badge_look(state: Locator) -> dict[str, Any]:
    """What a `[data-testid=run-state]` shows: words, icon, colours, second line."""
    return state.evaluate(_BADGE_LOOK)  # type: ignore[no-any-return]


def assert_badge(
    state: Locator, kind: str, note: str | re.Pattern[str] | None = None
) -> dict[str, Any]:
    """The badge says `kind` by its words and draws its own icon."""
    expect(state).to_have_attribute("data-badge", kind)
    look = badge_look(state)
    words, icon = BADGES[kind]
    assert look["label"] == words, look
    assert look["icon"] == icon and look["symbol"] and look["drawn"] > 0, look
    assert min(look["iconSize"]) >= 10, f"the {kind} icon is not drawn: {look}"
    if isinstance(note, re.Pattern):
        assert note.search(look["note"]), look
    elif note is not None:
        assert look["note"] == note, look
    return look


def assert_distinct(looks: dict[str, dict[str, Any]]) -> None:
    """No two kinds share words, an icon or a colour: none is told by colour alone, and
    none by words alone either."""
    for part in ("label", "icon", "colour"):
        seen: dict[str, str] = {}
        for kind, look in looks.items():
            assert look[part] not in seen, f"{kind} and {seen[look[part]]} share {part}"
            seen[look[part]] = kind


def assert_stale_note(state: Locator) -> datetime:
    """The stale badge says how long the run has been idle and when the reconciler heals
    it: a time within the next reconciler interval. Returns that time."""
    note = state.locator("[data-testid=stale-note]")
    expect(note).to_be_visible()
    text = " ".join(note.inner_text().split())
    assert STALE_NOTE.match(text), text
    when = datetime.fromisoformat(note.locator("time").get_attribute("datetime") or "")
    now = datetime.now(UTC)
    slack = timedelta(seconds=5)
    assert now - slack <= when <= now + RECONCILE_INTERVAL + slack, (when, now)
    shown = note.locator("time").inner_text()
    assert shown.endswith(f"{when:%H:%M:%S} UTC"), (shown, when)
    return when


_MAIN_ORDER = """() => {
  const main = document.querySelector('main');
  const content = [...main.children].filter(
    (el) => el.tagName !== 'NAV' && !el.hidden && getComputedStyle(el).display !== 'none');
  const top = (sel) => { const el = document.querySelector(sel);
                         return el ? el.getBoundingClientRect().top + window.scrollY : null; };
  const firstHeading = main.querySelector('h1, h2');
  return {
    first: content.length ? content[0].id : null,
    firstHeading: firstHeading ? firstHeading.id : null,
    explanation: top('#explanation'), timeline: top('#timeline'),
    diagnostics: top('#diagnostics'), viewport: window.innerHeight,
    diagnosticsOpen: document.querySelector('#diagnostics').open,
  };
}"""


def assert_explained_first(page: Page, headline: str | re.Pattern[str]) -> None:
    """The run page opens with the explanation: the first content in <main> (after the
    breadcrumb), on the first screen, above the timeline; the diagnostics come last,
    collapsed."""
    order = page.evaluate(_MAIN_ORDER)
    assert order["first"] == "explanation", order
    assert order["firstHeading"] == "headline", order
    assert order["explanation"] < order["timeline"] < order["diagnostics"], order
    assert order["explanation"] < order["viewport"], order
    assert order["diagnosticsOpen"] is False, order
    expect(page.locator("#explanation #headline")).to_have_text(headline)
    expect(page.locator("#explanation #headline")).to_be_in_viewport()
    expect(page.locator("#diagnostics .diag")).to_be_hidden()


_INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.toLowerCase().startsWith('on')) found.push(el.outerHTML.slice(0, 120));
    }
  }
  for (const s of document.scripts) if (!s.src) found.push('inline script: ' + s.text.slice(0, 80));
  for (const el of document.querySelectorAll('b, img, iframe, object, embed')) {
    found.push(el.outerHTML.slice(0, 120));
  }
  return found;
}"""


def assert_inert(page: Page) -> None:
    """No element, attribute or script came from the ledger's text."""
    assert page.evaluate(_INJECTED) == []


_OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1 && getComputedStyle(el).position !== 'fixed') {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (el.className && el.className.baseVal === undefined ? '.' + el.className : '') +
                ' right=' + Math.round(box.right));
    }
  }
  const panel = document.querySelector('dialog[open]');
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
    panel: panel ? [panel.scrollWidth, panel.clientWidth] : null, wide: wide.slice(0, 8),
  };
}"""


def assert_no_horizontal_scroll(page: Page) -> None:
    found = page.evaluate(_OVERFLOW)
    assert found["scrollWidth"] <= found["innerWidth"], found
    if found["panel"]:
        assert found["panel"][0] <= found["panel"][1], found
