// Charts of the console, drawn from data the page carries (no inline scripts: CSP).
"use strict";

function drawPerDay() {
  const element = document.getElementById("per-day-chart");
  const data = document.getElementById("per-day-data");
  if (!element || !data || !window.echarts) return;
  const series = JSON.parse(data.textContent);
  const chart = window.echarts.init(element, null, { renderer: "svg" });
  chart.setOption({
    animation: false, // slow office computers, and what is shown is what is there
    grid: { left: 40, right: 16, top: 16, bottom: 28 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: series.days },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "没答上", data: series.counts, itemStyle: { color: "#0b5cad" } }],
  });
  element.dataset.drawn = "true";
  window.addEventListener("resize", () => chart.resize());
}

function drawTurns() {
  const element = document.getElementById("turns-chart");
  const data = document.getElementById("turns-data");
  if (!element || !data || !window.echarts) return;
  const figures = JSON.parse(data.textContent);
  const chart = window.echarts.init(element, null, { renderer: "svg" });
  const colours = ["#1a7f37", "#0b5cad", "#b42318", "#8a4b00"];
  chart.setOption({
    animation: false,
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    legend: { top: 0 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: figures.days },
    yAxis: { type: "value", minInterval: 1 },
    series: Object.entries(figures.series).map(([name, values], index) => ({
      type: "bar",
      stack: name === "要求转人工" ? "handoff" : "turns",
      name,
      data: values,
      itemStyle: { color: colours[index] },
    })),
  });
  element.dataset.drawn = "true";
  window.addEventListener("resize", () => chart.resize());
}

// The handoff conversation: new messages appear without reloading; a change of state
// (taken by someone, handed back) reloads the page so its actions match.
function followConversation() {
  const list = document.getElementById("handoff-messages");
  if (!list) return;
  const poll = async () => {
    try {
      const response = await fetch(`${list.dataset.url}?after=${list.dataset.after}`, {
        credentials: "same-origin",
      });
      if (response.status === 401) {
        window.location.reload(); // the session ended: the page sends to the login
        return;
      }
      if (!response.ok) return;
      const data = await response.json();
      if (data.state !== list.dataset.state) {
        window.location.reload();
        return;
      }
      for (const message of data.messages) {
        document.getElementById("no-messages")?.remove();
        const item = document.createElement("li");
        item.className = message.from_resident ? "resident" : "bot";
        const who = document.createElement("span");
        who.textContent = message.from_resident ? "居民" : message.staff_name;
        item.append(who, document.createTextNode(message.text));
        list.append(item);
        list.dataset.after = String(message.id);
      }
    } catch (error) {
      // Offline for a moment: the next poll catches up.
    }
  };
  window.setInterval(poll, 3000);
}

// A training run: its stage, progress and log while it runs; the page reloads when it
// ends, to show the comparison or the error.
function followTraining() {
  const card = document.getElementById("run-progress");
  if (!card || !["queued", "running"].includes(card.dataset.state)) return;
  const poll = async () => {
    try {
      const response = await fetch(card.dataset.url, { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (!response.ok) return;
      const run = await response.json();
      if (run.state !== card.dataset.state && !["queued", "running"].includes(run.state)) {
        window.location.reload();
        return;
      }
      card.dataset.state = run.state;
      document.getElementById("run-state").textContent = run.state_label;
      document.getElementById("run-stage").textContent = run.stage_label;
      document.getElementById("run-percent").value = run.percent;
      document.getElementById("run-log").textContent = run.log_tail;
    } catch (error) {
      // Offline for a moment: the next poll catches up.
    }
  };
  window.setInterval(poll, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawPerDay();
  drawTurns();
  followConversation();
  followTraining();
});
