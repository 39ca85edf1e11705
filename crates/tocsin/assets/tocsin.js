// Tocsin's pages work without this script; with it, times stay relative and live lists refresh themselves.
(function () {
  "use strict";
  function relative(iso) {
    var seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
    var future = seconds < 0, s = Math.abs(seconds);
    var text = s < 45 ? "just now"
      : s < 3600 ? Math.max(1, Math.floor(s / 60)) + " min"
      : s < 86400 ? Math.floor(s / 3600) + " h"
      : Math.floor(s / 86400) + " d";
    if (text === "just now") return text;
    return future ? "in " + text : text + " ago";
  }
  function refreshTimes(root) {
    root.querySelectorAll("time[data-relative]").forEach(function (t) {
      t.textContent = relative(t.getAttribute("datetime"));
    });
  }
  // A region with data-live is fetched again every few seconds and replaced when what the server sent changed.
  // A session that ended answers with the sign-in page: the whole page is reloaded to show it.
  function live(region) {
    var url = region.getAttribute("data-live");
    var busy = false, last = null;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected || r.status === 401) { window.location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) return;
          if (html !== last) {
            region.innerHTML = html;
            refreshTimes(region);
          }
          last = html;
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, 5000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes(document);
    setInterval(function () { refreshTimes(document); }, 30000);
    document.querySelectorAll("[data-live]").forEach(live);
    // Copy buttons copy the text of the element they name.
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var source = document.getElementById(b.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) return;
        navigator.clipboard.writeText(source.textContent).then(function () {
          b.textContent = "Copied";
        });
      });
    });
    // Forms that cannot be undone ask first.
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  });
})();
