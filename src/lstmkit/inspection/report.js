// lstmkit report: interactive gates and states, drawn on <canvas> from the JSON embedded
// in the page (no network, no libraries). Each recurrent layer has a panel with a
// direction, sample and unit selector, a heatmap of i, f, g, o, c, h (units x time)
// and a line chart of the selected unit. Errors are counted in <body data-errors>;
// <body data-ready="1"> says that every panel was drawn (the browser test reads both).
(function () {
  "use strict";
  var body = document.body;
  body.setAttribute("data-errors", "0");
  window.addEventListener("error", function () {
    body.setAttribute("data-errors", String(Number(body.getAttribute("data-errors")) + 1));
  });

  var ARRAYS = ["i", "f", "g", "o", "c", "h"];
  var GATES = { i: 1, f: 1, o: 1, z: 1, r: 1 };
  var COLORS = { i: "#1f77b4", f: "#2ca02c", g: "#9467bd", o: "#ff7f0e", c: "#d62728", h: "#111111",
                 z: "#1f77b4", r: "#2ca02c", hh: "#9467bd" };
  var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  var RDBU = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];

  function ramp(stops, v) { // v in [0, 1]
    v = Math.max(0, Math.min(1, v));
    var x = v * (stops.length - 1), k = Math.min(Math.floor(x), stops.length - 2), w = x - k;
    var a = stops[k], b = stops[k + 1];
    return "rgb(" + [0, 1, 2].map(function (j) { return Math.round(a[j] + w * (b[j] - a[j])); }).join(",") + ")";
  }

  function color(name, v, cmax) {
    if (GATES[name]) { return ramp(VIRIDIS, v); }
    var m = name === "c" ? cmax : 1;
    return ramp(RDBU, (v / m + 1) / 2);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function select(label, n, names) {
    var wrap = el("label", {}, label + " ");
    var s = el("select");
    for (var k = 0; k < n; k++) { s.appendChild(el("option", { value: String(k) }, names ? names[k] : String(k))); }
    wrap.appendChild(s);
    return [wrap, s];
  }

  function panel(root, layer) {
    var ARRAYS = layer.arrays || ["i", "f", "g", "o", "c", "h"]; // a GRU: z, r, hh, h
    var dirs = layer.directions, state = { d: 0, s: 0, u: 0 };
    var controls = el("div", { "class": "lk-controls" });
    var dsel = select("direction", dirs.length, dirs.map(function (d) { return d.name; }));
    var ssel = select("sample", layer.samples);
    var usel = select("unit", layer.units);
    if (dirs.length > 1) { controls.appendChild(dsel[0]); }
    controls.appendChild(ssel[0]);
    controls.appendChild(usel[0]);
    var readout = el("span", { "class": "lk-readout" }, "hover over the heatmap; click a row to pick a unit");
    controls.appendChild(readout);
    root.appendChild(controls);
    var heat = el("canvas", { "class": "lk-heat" });
    var lines = el("canvas", { "class": "lk-lines" });
    root.appendChild(heat);
    root.appendChild(lines);

    var T = layer.timesteps, U = layer.units;
    var left = 34, top = 6, gap = 10;
    var cw = Math.max(4, Math.min(28, Math.floor(860 / T)));
    var ch = Math.max(3, Math.min(14, Math.floor(120 / U)));
    var blockH = U * ch;
    heat.width = left + T * cw + 8;
    heat.height = top + ARRAYS.length * (blockH + gap) + 14;
    lines.width = Math.max(heat.width + 120, 640);
    lines.height = 220;

    function cur() { return dirs[state.d]; }

    function drawHeat() {
      var g = heat.getContext("2d"), d = cur(), s = state.s;
      g.fillStyle = "#fff";
      g.fillRect(0, 0, heat.width, heat.height);
      var cmax = 1e-6;
      (d.c || d.h)[s].forEach(function (row) { row.forEach(function (v) { cmax = Math.max(cmax, Math.abs(v)); }); });
      ARRAYS.forEach(function (name, a) {
        var y0 = top + a * (blockH + gap), arr = d[name][s];
        for (var t = 0; t < T; t++) {
          for (var u = 0; u < U; u++) {
            g.fillStyle = color(name, arr[t][u], cmax);
            g.fillRect(left + t * cw, y0 + u * ch, cw, ch);
          }
          if (layer.mask && !layer.mask[s][t]) {
            g.fillStyle = "rgba(150,150,150,0.55)";
            g.fillRect(left + t * cw, y0, cw, blockH);
          }
        }
        g.strokeStyle = "#000";
        g.lineWidth = 1.5;
        g.strokeRect(left - 1, y0 + state.u * ch - 0.5, T * cw + 2, ch + 1);
        g.fillStyle = "#222";
        g.font = "12px sans-serif";
        g.fillText(name, 4, y0 + blockH / 2 + 4);
        if (ch >= 9) {  // unit numbers when the rows are tall enough to read them
          g.font = "8px sans-serif";
          g.fillStyle = "#666";
          for (var k = 0; k < U; k++) { g.fillText(String(k), left - 9, y0 + k * ch + ch - 2); }
        }
      });
      g.fillStyle = "#444";
      g.font = "10px sans-serif";
      var step = Math.max(1, Math.ceil(T / 20));
      for (var t = 0; t < T; t += step) { g.fillText(String(t), left + t * cw + 1, heat.height - 3); }
    }

    function drawLines() {
      var g = lines.getContext("2d"), d = cur(), s = state.s, u = state.u;
      var W = lines.width, H = lines.height, l = 40, r = 190, tp = 10, bt = 24;
      g.fillStyle = "#fff";
      g.fillRect(0, 0, W, H);
      var lo = -1, hi = 1;
      (d.c || d.h)[s].forEach(function (row) { lo = Math.min(lo, row[u]); hi = Math.max(hi, row[u]); });
      function X(t) { return l + (T > 1 ? t / (T - 1) : 0.5) * (W - l - r); }
      function Y(v) { return tp + (hi - v) / (hi - lo) * (H - tp - bt); }
      var ticks = [lo, 0, 1, hi].filter(function (v, k, all) { return all.indexOf(v) === k; });
      g.strokeStyle = "#ccc";
      g.lineWidth = 1;
      ticks.forEach(function (v) { g.beginPath(); g.moveTo(l, Y(v)); g.lineTo(W - r, Y(v)); g.stroke(); });
      g.fillStyle = "#444";
      g.font = "10px sans-serif";
      ticks.forEach(function (v) { g.fillText(v.toFixed(2), 2, Y(v) + 3); });
      if (layer.mask) {
        for (var t = 0; t < T; t++) {
          if (!layer.mask[s][t]) { g.fillStyle = "rgba(150,150,150,0.3)"; g.fillRect(X(t - 0.5), tp, X(1) - X(0), H - tp - bt); }
        }
      }
      ARRAYS.forEach(function (name, a) {
        g.strokeStyle = COLORS[name];
        g.lineWidth = name === "h" || name === "c" ? 2.2 : 1.2;
        g.beginPath();
        for (var t = 0; t < T; t++) {
          var v = d[name][s][t][u];
          if (t === 0) { g.moveTo(X(t), Y(v)); } else { g.lineTo(X(t), Y(v)); }
        }
        g.stroke();
        g.fillStyle = COLORS[name];
        g.font = "12px sans-serif";
        g.fillText(name + " " + layer.labels[name], W - r + 6, tp + 12 + a * 15);
      });
      g.fillStyle = "#444";
      g.font = "10px sans-serif";
      g.fillText("unit " + u + ", sample " + s + ", " + d.name + "; x: input position t", l, H - 6);
    }

    function redraw() { drawHeat(); drawLines(); }

    function cell(ev) {
      var rect = heat.getBoundingClientRect();
      var x = (ev.clientX - rect.left) * heat.width / rect.width;
      var y = (ev.clientY - rect.top) * heat.height / rect.height;
      var t = Math.floor((x - left) / cw), a = Math.floor((y - top) / (blockH + gap));
      var u = Math.floor((y - top - a * (blockH + gap)) / ch);
      if (t < 0 || t >= T || a < 0 || a >= ARRAYS.length || u < 0 || u >= U) { return null; }
      return { t: t, a: ARRAYS[a], u: u };
    }

    heat.addEventListener("mousemove", function (ev) {
      var c = cell(ev);
      if (!c) { return; }
      var v = cur()[c.a][state.s][c.t][c.u];
      readout.textContent = c.a + " (" + layer.labels[c.a] + "), unit " + c.u + ", t=" + c.t + ": " + v.toFixed(4);
    });
    heat.addEventListener("click", function (ev) {
      var c = cell(ev);
      if (c) { state.u = c.u; usel[1].value = String(c.u); redraw(); }
    });
    dsel[1].addEventListener("change", function () { state.d = Number(dsel[1].value); redraw(); });
    ssel[1].addEventListener("change", function () { state.s = Number(ssel[1].value); redraw(); });
    usel[1].addEventListener("change", function () { state.u = Number(usel[1].value); redraw(); });
    redraw();
  }

  var data = JSON.parse(document.getElementById("lk-data").textContent);
  data.layers.forEach(function (layer, k) {
    var root = document.getElementById("lk-panel-" + k);
    if (root) { panel(root, layer); }
  });
  body.setAttribute("data-ready", "1");
})();
