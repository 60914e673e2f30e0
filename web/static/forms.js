/* Filter forms submit only the fields that hold a value, so the address bar shows the
   shortest permalink of the view (the server reads an empty field as "not filtered"
   anyway, which is what a page without JavaScript sends). */
(function () {
  "use strict";

  document.querySelectorAll("form[data-filter-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[name], select[name]").forEach(function (field) {
        if (!field.value) field.disabled = true;
      });
    });
  });

  /* Back/forward restores the page from cache with the fields still disabled. */
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-filter-form] [disabled]").forEach(function (field) {
      field.disabled = false;
    });
  });
})();
