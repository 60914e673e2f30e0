/* Live refresh of the operations index. It fetches the live region (chips, strip, rows,
   paging) of the same query and swaps it in place, so the filter form, the scroll
   position and the focus stay where they were. At most one request is in flight (the
   next is scheduled only when the last has finished); none is sent while the tab is
   hidden; each sends the last ETag, and an unchanged region answers a bodiless 304. */
(function () {
  "use strict";

  var INTERVAL = 5000;
  var status = document.querySelector("[data-live-url]");
  var region = document.getElementById("live-region");
  if (!status || !region || !window.fetch || !window.DOMParser) return;

  var url = status.getAttribute("data-live-url");
  var text = status.querySelector("[data-live-text]");
  var toggle = status.querySelector("[data-live-toggle]");
  var announce = document.querySelector("[data-live-announce]");
  var etag = status.getAttribute("data-live-etag") || null; /* the page's own version */
  var inFlight = false;
  var timer = null;
  var paused = false;
  var stopped = false;
  var updatedAt = null;

  function pad(n) { return String(n).padStart(2, "0"); }

  function show(state, words) {
    status.setAttribute("data-state", state);
    if (words !== undefined && text.textContent !== words) text.textContent = words;
  }

  function liveWords() {
    if (!updatedAt) return "Live";
    return "Live · updated " + pad(updatedAt.getHours()) + ":" + pad(updatedAt.getMinutes()) + ":" + pad(updatedAt.getSeconds());
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = null;
    if (paused || stopped || document.hidden) return;
    timer = setTimeout(refresh, delay === undefined ? INTERVAL : delay);
  }

  function rowIds() {
    var ids = {};
    region.querySelectorAll("[data-run-id]").forEach(function (row) { ids[row.getAttribute("data-run-id")] = true; });
    return ids;
  }

  /* The first row at least partly on screen, and where it is, to keep it there. */
  function anchor() {
    var rows = region.querySelectorAll("[data-run-id]");
    for (var i = 0; i < rows.length; i++) {
      var top = rows[i].getBoundingClientRect().top;
      if (top >= 0) return { id: rows[i].getAttribute("data-run-id"), top: top };
    }
    return null;
  }

  function focusKey() {
    var active = document.activeElement;
    if (!active || !region.contains(active)) return null;
    return active.getAttribute("href") || active.id || null;
  }

  function restoreFocus(key) {
    if (!key) return;
    var found = null;
    region.querySelectorAll("a[href], [id]").forEach(function (el) {
      if (!found && (el.getAttribute("href") === key || el.id === key)) found = el;
    });
    if (found) found.focus({ preventScroll: true });
  }

  function swap(html) {
    var parsed = new DOMParser().parseFromString(html, "text/html");
    var before = rowIds();
    var hadRows = Object.keys(before).length > 0;
    var kept = anchor();
    var key = focusKey();
    region.replaceChildren.apply(region, Array.prototype.slice.call(parsed.body.childNodes));
    var added = 0;
    region.querySelectorAll("[data-run-id]").forEach(function (row) {
      if (!before[row.getAttribute("data-run-id")]) { added += 1; if (hadRows) row.classList.add("is-new"); }
    });
    if (window.runledgerTimes) window.runledgerTimes.render(region);
    if (kept && window.scrollY > 0) {
      var same = region.querySelector('[data-run-id="' + kept.id + '"]');
      if (same) window.scrollBy(0, same.getBoundingClientRect().top - kept.top);
    }
    restoreFocus(key);
    if (added && hadRows && announce) announce.textContent = added + (added === 1 ? " new run" : " new runs");
  }

  function refresh() {
    timer = null;
    if (inFlight || paused || stopped || document.hidden) return;
    inFlight = true;
    show("loading");
    var headers = { "Accept": "text/html" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin", redirect: "error" })
      .then(function (response) {
        if (response.status === 304) return null;
        if (response.status === 401 || response.status === 403) { stopped = true; throw new Error("session"); }
        if (response.status === 400) { stopped = true; throw new Error("filter"); }
        if (!response.ok) throw new Error(String(response.status));
        var next = response.headers.get("ETag");
        return response.text().then(function (html) { return { html: html, etag: next }; });
      })
      .then(function (fresh) {
        if (paused) return; /* paused while it was in flight: the page stays as it is */
        if (fresh !== null) { etag = fresh.etag; swap(fresh.html); }
        updatedAt = new Date();
        if (document.hidden) show("hidden", "Paused while the tab is hidden");
        else show("live", liveWords());
      })
      .catch(function (error) {
        if (error.message === "session") show("error", "Session ended: reload the page to log in");
        else if (error.message === "filter") show("error", "Live refresh is off until the filter is fixed");
        else if (!paused) show("error", "Cannot reach the server; retrying");
      })
      .finally(function () {
        inFlight = false;
        schedule();
      });
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    toggle.textContent = paused ? "Resume" : "Pause";
    if (paused) { clearTimeout(timer); timer = null; show("paused", "Paused"); }
    else { show("live", liveWords()); schedule(0); }
  });

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      if (!paused && !stopped) show("hidden", "Paused while the tab is hidden");
    } else if (!paused && !stopped) {
      show("live", liveWords());
      schedule(0);
    }
  });

  show("live", "Live");
  schedule();
})();
