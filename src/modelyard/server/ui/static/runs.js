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
  if (all) {
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", refresh); });
  refresh();
  // Close the column chooser when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open], details.help[open]").forEach(function (d) {
      if (!d.contains(event.target)) { d.removeAttribute("open"); }
    });
  });
}());
