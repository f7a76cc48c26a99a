/*!
 * 代发门户 · analytics.js — the 数据 page's daily chart (Apache ECharts, vendored).
 *
 * CSP-safe: no inline script, no eval, no HTML tooltips (ECharts' rich-text tooltips draw on
 * the canvas). The numbers come from the chart's own table, which stays on the page for screen
 * readers and for anyone who prefers numbers:
 *   <div class="chart" data-chart-table="TABLE_ID" data-label-assigned=… data-label-dispatched=…
 *        data-label-on-time=…></div>
 *   <table id="TABLE_ID"><tbody><tr data-date="MM-DD" data-assigned="N" data-dispatched="N"
 *        data-on-time="0.9500 or empty">…
 * Charts are (re)drawn on load and after every htmx swap, and follow the window's width.
 */
(function () {
  "use strict";

  function rows(table) {
    return Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-date]"));
  }

  function draw(element) {
    if (!window.echarts) return;
    var table = document.getElementById(element.getAttribute("data-chart-table"));
    if (!table) return;
    var data = rows(table);
    var old = window.echarts.getInstanceByDom(element);
    if (old) old.dispose();
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    var label = function (name) { return element.getAttribute("data-label-" + name) || name; };
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.map(function (r) { return r.getAttribute("data-date"); }) },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }
      ],
      series: [
        { name: label("assigned"), type: "bar",
          data: data.map(function (r) { return Number(r.getAttribute("data-assigned")); }) },
        { name: label("dispatched"), type: "bar",
          data: data.map(function (r) { return Number(r.getAttribute("data-dispatched")); }) },
        { name: label("on-time"), type: "line", yAxisIndex: 1, connectNulls: false,
          data: data.map(function (r) {
            var value = r.getAttribute("data-on-time");
            return value === "" ? null : Math.round(Number(value) * 1000) / 10;
          }) }
      ]
    });
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var charts = scope.querySelectorAll("[data-chart-table]");
    Array.prototype.forEach.call(charts, draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
  window.addEventListener("resize", function () {
    var charts = document.querySelectorAll("[data-chart-table]");
    Array.prototype.forEach.call(charts, function (element) {
      var chart = window.echarts && window.echarts.getInstanceByDom(element);
      if (chart) chart.resize();
    });
  });
})();
