// live.js: refresh the parts of a page marked data-live="URL" (optional
// data-every="seconds", default 5) with the HTML fragment the server
// renders at URL. A part that holds the keyboard focus is left alone until
// focus leaves it, so nobody loses what they are typing or where they are.
"use strict";
(function () {
  function refresh(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) {
      return;
    }
    fetch(el.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        // Signed out (the session ended or was revoked): the page itself
        // says so once it is loaded again, instead of polling on.
        if (r.status === 401) { window.location.reload(); }
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        if (!el.contains(document.activeElement) || document.activeElement === document.body) {
          el.innerHTML = html;
          el.removeAttribute("aria-busy");
        }
      })
      .catch(function () { el.setAttribute("aria-busy", "true"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var every = Math.max(1, parseInt(el.dataset.every || "5", 10)) * 1000;
      setInterval(function () { refresh(el); }, every);
    });
  });
})();
