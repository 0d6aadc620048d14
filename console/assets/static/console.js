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
// Live charts: a container with data-refresh names a JSON endpoint
// (live.go) whose charts replace its own every data-every ms while the
// page is visible; data-samples counts the points drawn, data-last is
// the newest one's time (unix ms), data-error
// says why the last refresh failed.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-refresh]").forEach(function (box) {
    var url = box.getAttribute("data-refresh");
    var every = Math.max(500, Number(box.getAttribute("data-every")) || 10000);
    var busy = false;
    function refresh() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (resp) {
          return resp.json().then(function (body) {
            if (!resp.ok) {
              throw new Error(body.error || resp.status + " " + resp.statusText);
            }
            return body;
          });
        })
        .then(function (body) {
          box.innerHTML = (body.charts || []).map(function (c) { return c.html; }).join("");
          box.setAttribute("data-samples", String(body.samples || 0));
          box.setAttribute("data-last", String(body.last || 0));
          box.removeAttribute("data-error");
        })
        .catch(function (err) {
          box.setAttribute("data-error", String(err && err.message || err));
        })
        .finally(function () { busy = false; });
    }
    setInterval(refresh, every);
  });
});
