/* The audit log's slide-over. An entry's link (/audit/{position}) opens the entry in a
   modal panel and puts that URL in the address bar; Back, Esc, the Close button or a
   click outside close it and focus returns to the link that opened it. Focus moves
   into the panel (its title) and Tab cycles inside it while it is open. The panel
   shows the #audit-entry article of the entry's own page, which is also what the URL
   shows opened directly or without JavaScript. */
(function () {
  "use strict";

  var panel = document.getElementById("audit-panel");
  if (!panel || typeof panel.showModal !== "function" || !window.fetch) return;

  var body = panel.querySelector("[data-panel-body]");
  var closeButton = panel.querySelector("[data-panel-close]");
  var statusEl = panel.querySelector("[data-panel-status]");
  var opener = null;
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

  function linkFor(href) {
    return document.querySelector('a[data-panel-link][href="' + href + '"]');
  }

  function show(article, href, push) {
    body.replaceChildren(document.adoptNode(article));
    if (window.runledgerTimes) window.runledgerTimes.render(body);
    if (push) window.history.pushState({ panel: href }, "", href);
    statusEl.textContent = "";
    if (!panel.open) panel.showModal();
    var title = body.querySelector("#entry-title");
    (title || closeButton).focus();
  }

  function open(href, push) {
    fetch(href, { headers: { "Accept": "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected) throw new Error("redirected");
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var article = parsed.getElementById("audit-entry") || parsed.querySelector("[data-testid=error-page]");
        if (!article) throw new Error("no entry");
        show(article, href, push);
      })
      .catch(function () { window.location.assign(href); });
  }

  function close() {
    if (!panel.open) return;
    panel.close();
    if (window.history.state && window.history.state.panel) window.history.back();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-panel-link]") : null;
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    opener = link;
    open(link.getAttribute("href"), true);
  });

  closeButton.addEventListener("click", close);
  panel.addEventListener("cancel", function (event) { event.preventDefault(); close(); });
  panel.addEventListener("click", function (event) { if (event.target === panel) close(); });
  panel.addEventListener("close", function () {
    body.replaceChildren();
    if (opener && document.contains(opener)) opener.focus();
  });

  panel.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var items = Array.prototype.filter.call(panel.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
    if (!items.length) return;
    var first = items[0];
    var last = items[items.length - 1];
    var active = document.activeElement;
    if (event.shiftKey && (active === first || !panel.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !panel.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  });

  window.addEventListener("popstate", function (event) {
    var state = event.state;
    if (state && state.panel) {
      opener = linkFor(state.panel) || opener;
      open(state.panel, false);
    } else if (panel.open) {
      panel.close();
    }
  });
})();
