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
    // A time shown in another zone (a status page's) says the reader's own on hover.
    root.querySelectorAll("time[data-local]").forEach(function (t) {
      var at = new Date(t.getAttribute("datetime"));
      if (!isNaN(at)) t.title = "Your time: " + at.toLocaleString();
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
    // A menu that scrolls sideways opens scrolled to the current page, so where one is stays in sight.
    var nav = document.querySelector("nav.main"), current = nav && nav.querySelector("[aria-current]");
    if (current && nav.scrollWidth > nav.clientWidth) {
      nav.scrollLeft = current.offsetLeft - nav.offsetLeft - (nav.clientWidth - current.offsetWidth) / 2;
    }
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
    // A file chosen for a form is read into the text box it names, so the form posts text like any other; without
    // this script the file picker stays hidden and the text is pasted.
    document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
      var target = document.getElementById(input.getAttribute("data-load-into"));
      if (!target || !window.FileReader) return;
      input.closest("[data-needs-script]").hidden = false;
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) return;
        var reader = new FileReader();
        reader.onload = function () { target.value = reader.result; };
        reader.readAsText(file);
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
