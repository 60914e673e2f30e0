/* Times: relative ("3 min ago"), UTC or local, at the operator's choice, remembered in
   localStorage. Rewrites every <time data-t> from its datetime attribute: data-t="ago"
   reads relative in the relative mode, data-t="clock" always reads as a clock time. The
   rounding matches web/ui/times.py, so the page does not change when this first runs. */
(function () {
  "use strict";

  var KEY = "runledger.timeMode";
  var MODES = ["relative", "utc", "local"];
  var STEPS = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  var JUST_NOW = 10;

  function pad(n) { return String(n).padStart(2, "0"); }

  function relative(date, now) {
    var seconds = (date.getTime() - now.getTime()) / 1000;
    var size = Math.abs(seconds);
    if (size < JUST_NOW) return "just now";
    for (var i = 0; i < STEPS.length; i++) {
      if (size >= STEPS[i][0]) {
        var text = Math.floor(size / STEPS[i][0]) + " " + STEPS[i][1];
        return seconds > 0 ? "in " + text : text + " ago";
      }
    }
    return "just now";
  }

  /* A clock time drops its date on the day of `today` (as projections.wording.clock). */
  function utc(date, today) {
    var day = date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate());
    var sameDay = today && day === today.getUTCFullYear() + "-" + pad(today.getUTCMonth() + 1) + "-" + pad(today.getUTCDate());
    var time = pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":" + pad(date.getUTCSeconds()) + " UTC";
    return sameDay ? time : day + " " + time;
  }

  function local(date, today) {
    var zone = "";
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      parts.forEach(function (part) { if (part.type === "timeZoneName") zone = " " + part.value; });
    } catch (error) { zone = ""; }
    var day = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
    var sameDay = today && day === today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" + pad(today.getDate());
    var time = pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + zone;
    return sameDay ? time : day + " " + time;
  }

  function mode() {
    var stored = null;
    try { stored = window.localStorage.getItem(KEY); } catch (error) { stored = null; }
    return MODES.indexOf(stored) >= 0 ? stored : "relative";
  }

  function render(root) {
    var chosen = mode();
    var now = new Date();
    (root || document).querySelectorAll("time[data-t]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      var clock = el.dataset.t === "clock";
      var text;
      if (chosen === "local") text = local(date, now);
      else if (chosen === "utc" || clock) text = utc(date, now); /* a clock never reads "in 5 min" */
      else text = relative(date, now);
      if (el.textContent !== text) el.textContent = text;
      el.title = utc(date, null) + " · " + local(date, null) + " (local)";
    });
  }

  window.runledgerTimes = { render: render };

  var select = document.getElementById("time-mode");
  if (select) {
    select.value = mode();
    select.addEventListener("change", function () {
      try { window.localStorage.setItem(KEY, select.value); } catch (error) { /* private mode */ }
      render(document);
    });
  }
  render(document);
  setInterval(function () { if (!document.hidden) render(document); }, 15000);
})();
