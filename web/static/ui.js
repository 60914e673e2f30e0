/* runledger: what every page shares. Shows the controls that need JavaScript (they are
   `hidden` in the HTML, so a page without JavaScript shows none that do nothing), and
   the keyboard shortcuts: "/" focuses the filter, "?" lists the shortcuts, "g o" and
   "g a" go to operations and the audit log, "[" and "]" page newer and older. */
(function () {
  "use strict";

  document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });

  var shortcuts = document.getElementById("shortcuts");
  var shortcutsOpener = null;
  var pendingG = null;

  function openShortcuts() {
    if (!shortcuts || shortcuts.open || !shortcuts.showModal) return;
    shortcutsOpener = document.activeElement;
    shortcuts.showModal();
    var title = shortcuts.querySelector("h2");
    if (title) title.focus();
  }

  if (shortcuts) {
    shortcuts.addEventListener("close", function () {
      if (shortcutsOpener && shortcutsOpener.focus) shortcutsOpener.focus();
      shortcutsOpener = null;
    });
  }
  document.querySelectorAll("[data-shortcuts-open]").forEach(function (button) {
    button.addEventListener("click", openShortcuts);
  });

  function focusFilter() {
    var details = document.getElementById("filters");
    if (!details) return;
    details.open = true;
    var field = details.querySelector("input, select");
    if (field) field.focus();
  }

  function follow(key) {
    var link = document.querySelector('a[data-key="' + key + '"]');
    if (link) link.click();
  }

  function isTyping(target) {
    return Boolean(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape" && event.target.blur) event.target.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return; /* a dialog handles its own keys */
    if (pendingG) {
      clearTimeout(pendingG);
      pendingG = null;
      if (event.key === "o") { window.location.assign("/operations"); return; }
      if (event.key === "a") { window.location.assign("/audit"); return; }
    }
    switch (event.key) {
      case "/": event.preventDefault(); focusFilter(); break;
      case "?": event.preventDefault(); openShortcuts(); break;
      case "g": pendingG = setTimeout(function () { pendingG = null; }, 1500); break;
      case "[": follow("["); break;
      case "]": follow("]"); break;
      default: break;
    }
  });
})();
