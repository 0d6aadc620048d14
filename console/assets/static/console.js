// gregor console: the little the pages need beyond HTML.
"use strict";
document.addEventListener("submit", function (e) {
  // A destructive form asks first (data-confirm).
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
document.addEventListener("click", function (e) {
  if (e.target.hasAttribute && e.target.hasAttribute("data-back")) {
    e.preventDefault();
    history.back();
  }
});
// Timestamps are rendered in UTC; show the reader's local time on hover.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[data-ms]").forEach(function (t) {
    t.title = new Date(Number(t.getAttribute("data-ms"))).toString();
  });
});
