/* modelyard UI: runs table niceties. Everything works without this file (plain GET forms). */
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=runs][form=compare-form]"));
  var button = document.getElementById("compare-button");
  function refresh() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    if (button) {
      button.textContent = n ? "Compare " + n + " selected" : "Compare selected";
      button.disabled = n < 2 || n > 10;
      button.title = n > 10 ? "at most 10 runs" : "select 2 to 10 runs";
    }
  }
  function shown(box) { var row = box.closest("tr"); return !row || !row.hidden; }
  if (all) {
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked && shown(b); });
      refresh();
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", refresh); });
  refresh();
  // Nested runs: a parent's toggle shows or hides its child rows (without JavaScript the toggle is
  // a link to the table filtered to those children).
  Array.prototype.slice.call(document.querySelectorAll("#runs-table a.toggle")).forEach(function (toggle) {
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggle.title = open ? "hide the child runs" : "show the child runs";
      document.querySelectorAll("#runs-table tr.child").forEach(function (row) {
        if (row.getAttribute("data-parent") === toggle.getAttribute("data-run")) {
          row.hidden = !open;
          var box = row.querySelector("input[name=runs]");
          if (box && !open) { box.checked = false; }
        }
      });
      refresh();
    });
  });
  // Close the column chooser when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open], details.help[open]").forEach(function (d) {
      if (!d.contains(event.target)) { d.removeAttribute("open"); }
    });
  });
}());
