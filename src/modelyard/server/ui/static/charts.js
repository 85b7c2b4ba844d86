/* modelyard UI: metric charts (run and compare pages) and the parallel-coordinates plot.
   Chart data comes from the server already downsampled; this file only draws it with plotly.js. */
(function () {
  "use strict";

  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 11, color: "#334155" };

  function xMode() {
    var select = document.getElementById("x-axis");
    return select ? select.value : "step";
  }

  function axisTitle(mode) {
    if (mode === "relative") { return "seconds since first point"; }
    if (mode === "time") { return "time (UTC)"; }
    return "step";
  }

  function describe(list) {
    var shown = 0, total = 0, nan = 0, inf = 0, sampled = false;
    list.forEach(function (s) {
      shown += s.points; total += s.total_points; nan += s.nan_points; inf += s.inf_points;
      sampled = sampled || s.downsampled;
    });
    var text = sampled ? shown.toLocaleString() + " of " + total.toLocaleString() + " points (downsampled, extremes kept)"
                       : total.toLocaleString() + (total === 1 ? " point" : " points");
    if (nan) { text += " · " + nan.toLocaleString() + " NaN not drawn"; }
    if (inf) { text += " · " + inf.toLocaleString() + " ±inf not drawn"; }
    return text;
  }

  function draw(el, payload, mode) {
    var compare = el.dataset.compare === "1";
    var list = compare ? payload.series : [payload];
    var traces = list.map(function (s) {
      var color = COLORS[(compare ? s.index : 0) % COLORS.length];
      return {
        x: s.x, y: s.y, type: "scatter", mode: s.points === 1 ? "markers" : "lines",
        name: compare ? s.name : el.dataset.key,
        line: { width: 1.5, color: color }, marker: { color: color, size: 5 }
      };
    });
    var layout = {
      title: { text: el.dataset.key, font: { size: 13 }, x: 0.01, xanchor: "left", y: 0.98, yanchor: "top" },
      font: FONT, height: 260, margin: { l: 52, r: 12, t: compare ? 44 : 30, b: 36 },
      xaxis: { title: { text: axisTitle(mode) }, type: mode === "time" ? "date" : "linear", zeroline: false, gridcolor: "#eef1f5" },
      yaxis: { zeroline: false, gridcolor: "#eef1f5", automargin: true },
      hovermode: compare ? "x unified" : "closest",
      showlegend: compare,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", font: { size: 10 } },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff"
    };
    return window.Plotly.react(el, traces, layout, CONFIG).then(function () {
      var note = el.parentNode.querySelector(".chart-note");
      if (note) { note.textContent = describe(list); }
      el.dataset.points = String(list.reduce(function (n, s) { return n + s.points; }, 0));
      el.dataset.state = "ready";
    });
  }

  function load(el) {
    var mode = xMode();
    el.dataset.state = "loading";
    fetch(el.dataset.url + "&x=" + encodeURIComponent(mode), { credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body && body.error ? body.error.message : "HTTP " + response.status);
          }
          return body;
        });
      })
      .then(function (body) { return draw(el, body, mode); })
      .catch(function (err) {
        el.dataset.state = "error";
        el.classList.add("chart-error");
        el.textContent = "Could not load " + el.dataset.key + ": " + err.message;
      });
  }

  function setupCharts() {
    var charts = Array.prototype.slice.call(document.querySelectorAll(".chart[data-url]"));
    if (!charts.length) { return; }
    if ("IntersectionObserver" in window) {
      // Only charts near the viewport are fetched: a run with 200 metrics stays light.
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { observer.unobserve(entry.target); load(entry.target); }
        });
      }, { rootMargin: "300px" });
      charts.forEach(function (el) { observer.observe(el); });
    } else {
      charts.forEach(load);
    }
    var select = document.getElementById("x-axis");
    if (select) {
      select.addEventListener("change", function () {
        charts.forEach(function (el) { if (el.dataset.state !== "pending") { load(el); } });
      });
    }
  }

  function setupParallel() {
    var el = document.getElementById("parcoords");
    var source = document.getElementById("parcoords-data");
    if (!el || !source) { return; }
    var data = JSON.parse(source.textContent);
    var nanIfNull = function (v) { return v === null ? NaN : v; };
    var dimensions = data.dimensions.map(function (d) {
      var dim = { label: d.label, values: d.values.map(nanIfNull) };
      if (d.tickvals) { dim.tickvals = d.tickvals; dim.ticktext = d.ticktext; dim.range = d.range; }
      return dim;
    });
    var complete = data.color.every(function (v) { return v !== null; });
    var line = complete && data.color.length
      ? { color: data.color, colorscale: "Viridis", showscale: true, colorbar: { title: { text: data.metric }, thickness: 12 } }
      : { color: "#1f77b4" };
    var layout = { font: FONT, height: 340, margin: { l: 70, r: 70, t: 48, b: 24 }, paper_bgcolor: "#fff" };
    window.Plotly.newPlot(el, [{ type: "parcoords", line: line, dimensions: dimensions }], layout, CONFIG)
      .then(function () { el.dataset.state = "ready"; });
  }

  function start() {
    if (!window.Plotly) {
      document.querySelectorAll(".chart").forEach(function (el) {
        el.dataset.state = "error";
        el.textContent = "plotly.js did not load";
      });
      return;
    }
    setupCharts();
    setupParallel();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
