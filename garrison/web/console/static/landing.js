// A simulation's landing page: tells Garrison a person is here (the first move, key or scroll), and on submit
// sends nothing of what was typed (the inputs have no names) — only that the form was submitted.
(function () {
  var token = document.body.getAttribute("data-token");
  var sent = false;
  function beacon() {
    if (sent) { return; }
    sent = true;
    fetch("/t/b/" + encodeURIComponent(token), { method: "POST", keepalive: true }).catch(function () {});
  }
  ["pointermove", "keydown", "scroll", "touchstart", "pointerdown"].forEach(function (e) {
    window.addEventListener(e, beacon, { once: true, passive: true });
  });
  var form = document.getElementById("f");
  if (form) {
    form.setAttribute("action", form.getAttribute("action") + "?js=1");
    form.addEventListener("submit", beacon);
  }
})();
