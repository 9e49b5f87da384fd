// Charts of the console, drawn from data the page carries (no inline scripts: CSP).
"use strict";

function drawPerDay() {
  const element = document.getElementById("per-day-chart");
  const data = document.getElementById("per-day-data");
  if (!element || !data || !window.echarts) return;
  const series = JSON.parse(data.textContent);
  const chart = window.echarts.init(element, null, { renderer: "svg" });
  chart.setOption({
    grid: { left: 40, right: 16, top: 16, bottom: 28 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: series.days },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "没答上", data: series.counts, itemStyle: { color: "#0b5cad" } }],
  });
  element.dataset.drawn = "true";
  window.addEventListener("resize", () => chart.resize());
}

document.addEventListener("DOMContentLoaded", drawPerDay);
