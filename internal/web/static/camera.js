// camera.js: read a QR code with the webcam. A <section data-scan="URL"
// data-target="ID"> holds a <video>, a <button data-scan-start> and an
// <output>. The button opens the camera; every few hundred milliseconds a
// frame goes to URL as a JPEG (the server decodes it and collects the parts
// of a message); the answer's status is shown in the <output>, and when the
// message is whole its text goes into the textarea #ID and that form is
// submitted. Nothing is decoded here and nothing leaves this server.
"use strict";
(function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf"]');
    return m ? m.content : "";
  }
  function start(sec, button) {
    var video = sec.querySelector("video");
    var out = sec.querySelector("output");
    var target = document.getElementById(sec.dataset.target);
    var canvas = document.createElement("canvas");
    var busy = false, stopped = false, stream = null;
    function say(s) { if (out) { out.textContent = s; } }
    function stop() {
      stopped = true;
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      button.disabled = false;
    }
    function tick() {
      if (stopped) { return; }
      if (busy || video.readyState < 2 || !video.videoWidth) { setTimeout(tick, 200); return; }
      busy = true;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        fetch(sec.dataset.scan, {
          method: "POST", credentials: "same-origin", body: blob,
          headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": csrf() }
        }).then(function (r) {
          if (r.status === 401 || r.status === 403) { return null; }
          return r.json();
        }).then(function (a) {
          busy = false;
          if (!a) {
            // Signed out, or the page's token is stale: scanning on would
            // only be refused again.
            stop();
            say("signed out, or this page is out of date: reload it");
            return;
          }
          say(a.status || "");
          if (a.done && target) {
            stop();
            target.value = a.text;
            if (target.form) { target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit(); }
            return;
          }
          setTimeout(tick, 250);
        }).catch(function () { busy = false; say("the server did not answer; retrying"); setTimeout(tick, 1000); });
      }, "image/jpeg", 0.92);
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("this browser gives no camera here (a camera needs https or localhost); drop a file or photo instead");
      return;
    }
    button.disabled = true;
    say("opening the camera…");
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.setAttribute("playsinline", "");
        video.muted = true;
        return video.play();
      })
      .then(function () { say("hold the QR code up to the camera"); tick(); })
      .catch(function (e) { button.disabled = false; say("no camera: " + (e && e.name ? e.name : "refused")); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("section[data-scan]").forEach(function (sec) {
      var b = sec.querySelector("[data-scan-start]");
      if (b) { b.addEventListener("click", function () { start(sec, b); }); }
    });
  });
})();
