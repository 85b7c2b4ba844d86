/* modelyard UI: the deployment page's rollback button. Posts to the deployment API with the
   session's CSRF token (the cookie's value in the X-CSRF-Token header), guarded by the revision
   shown, then reloads the page; an error is shown beside the button. */
(function () {
  "use strict";
  var form = document.getElementById("rollback-form");
  if (!form) { return; }
  var error = document.getElementById("rollback-error");

  function csrf() {
    var match = document.cookie.match(/(?:^|;\s*)modelyard_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var body = { expected_revision: Number(form.dataset.revision) };
    if (form.reason.value) { body.reason = form.reason.value; }
    fetch(form.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) { window.location.reload(); return null; }
      return response.json().catch(function () { return null; }).then(function (payload) {
        error.textContent = payload && payload.error ? payload.error.message : "rollback failed (HTTP " + response.status + ")";
        error.hidden = false;
      });
    }).catch(function (err) {
      error.textContent = "rollback failed: " + err.message;
      error.hidden = false;
    });
  });
}());
