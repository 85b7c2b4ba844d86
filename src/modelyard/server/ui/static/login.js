/* modelyard UI: log in through the auth API (POST /api/v1/auth/login sets the session cookie). */
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var error = document.getElementById("login-error");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var body = { username: form.username.value, password: form.password.value };
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) {
        window.location.assign(form.dataset.next || "/ui/");
        return null;
      }
      return response.json().catch(function () { return null; }).then(function (payload) {
        var message = payload && payload.error ? payload.error.message : "login failed (HTTP " + response.status + ")";
        error.textContent = message;
        error.hidden = false;
      });
    }).catch(function (err) {
      error.textContent = "login failed: " + err.message;
      error.hidden = false;
    });
  });
}());
