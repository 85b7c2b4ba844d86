/* modelyard UI: draws the plotly figures the server embedded in the page (#ui-figures, one JSON
   document: {key: {data, layout}}) into every .figure[data-figure=key], when it scrolls into view.
   Dataset profiles, the size history, model state timelines and evaluation plots use it. */
(function () {
  "use strict";

  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 11, color: "#334155" };

  function figures() {
    var node = document.getElementById("ui-figures");
    return node ? JSON.parse(node.textContent) : {};
  }

  function draw(el, spec) {
    var layout = Object.assign({ height: 280 }, spec.layout || {});
    layout.font = FONT;
    layout.autosize = true;
    layout.margin = Object.assign({ l: 56, r: 16, t: 40, b: 48 }, (spec.layout || {}).margin || {});
    if (layout.title && layout.title.text) {
      layout.title = Object.assign({}, layout.title, { font: { size: 13 }, x: 0.01, xanchor: "left" });
    }
    el.dataset.state = "loading";
    return window.Plotly.newPlot(el, spec.data || [], layout, CONFIG).then(function () {
      el.dataset.state = "ready";
      el.dataset.traces = String((spec.data || []).length);
    }, function (err) {
      el.dataset.state = "error";
      el.classList.add("chart-error");
      el.textContent = "Could not draw this chart: " + err.message;
    });
  }

  function start() {
    var specs = figures();
    var pending = Array.prototype.slice.call(document.querySelectorAll(".figure[data-figure]"));
    function drawOne(el) {
      var spec = specs[el.dataset.figure];
      if (!spec) {
        el.dataset.state = "error";
        el.textContent = "No data for this chart.";
        return;
      }
      draw(el, spec);
    }
    if (!("IntersectionObserver" in window)) {
      pending.forEach(drawOne);
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          drawOne(entry.target);
        }
      });
    }, { rootMargin: "200px" });
    pending.forEach(function (el) { observer.observe(el); });
  }

  function whenPlotly(callback) {
    if (window.Plotly) { callback(); return; }
    var tries = 0;
    var timer = window.setInterval(function () {
      tries += 1;
      if (window.Plotly || tries > 200) {
        window.clearInterval(timer);
        if (window.Plotly) { callback(); }
      }
    }, 50);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { whenPlotly(start); });
  } else {
    whenPlotly(start);
  }
})();
