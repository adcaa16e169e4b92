// Charts on a canvas (no library): deliveries per hour and the delivery time distribution.
import { h, replace } from "../dom.js";
import { clock, duration, isWallClock } from "../model.js";
import { deliveriesPerHour, deliveryTimes, histogram, quantile } from "../stats.js";

export function mountCharts(root, ctx) {
  const perHour = h("canvas", { id: "chart-per-hour", width: "640", height: "260" });
  const times = h("canvas", { id: "chart-times", width: "640", height: "260" });
  const summary = h("p", { class: "hint", id: "chart-summary" });
  replace(root, h("section", { class: "panel" },
    h("h1", {}, "Charts"),
    h("h2", {}, "Deliveries per hour (parcel in its cell)"), perHour,
    h("h2", {}, "Delivery time (created → parcel in its cell)"), times, summary));

  function update() {
    const records = [...ctx.store.deliveries.values()];
    const now = ctx.store.now;
    const bins = Number.isFinite(now) ? deliveriesPerHour(records, now, 12) : [];
    // wall-clock hours on a real site; in simulation ROS time starts near 0, so hours relative to now instead
    const hourLabel = (b, i) => (isWallClock(now) ? clock(b.start)
      : i === bins.length - 1 ? "now" : `${i - bins.length + 1} h`);
    barChart(perHour, bins.map((b, i) => ({ label: hourLabel(b, i), value: b.count })), "deliveries");
    const values = deliveryTimes(records);
    const hist = histogram(values);
    barChart(times, hist.bins.map((b) => ({ label: `<${duration(b.to)}`, value: b.count })), "deliveries");
    summary.textContent = values.length
      ? `${values.length} delivered · median ${duration(quantile(values, 0.5))} · 90th percentile `
        + `${duration(quantile(values, 0.9))} · fastest ${duration(Math.min(...values))}`
      : "No delivery has reached a cell yet.";
  }

  return { update, unmount: () => {} };
}

function barChart(canvas, bars, unit) {
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  const left = 40; const bottom = 40; const top = 16; const right = 10;
  g.clearRect(0, 0, width, height);
  g.font = "11px system-ui, sans-serif";
  if (!bars.length) {
    g.fillStyle = "#6b7280";
    g.fillText("no data yet", left, height / 2);
    return;
  }
  const max = Math.max(1, ...bars.map((b) => b.value));
  const plotH = height - top - bottom;
  const slot = (width - left - right) / bars.length;
  g.strokeStyle = "#cbd5e1";
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, top + plotH); g.lineTo(width - right, top + plotH); g.stroke();
  const tick = Math.max(1, Math.ceil(max / 4));
  g.fillStyle = "#64748b";
  for (let v = 0; v <= max; v += tick) {
    const y = top + plotH - (v / max) * plotH;
    g.fillText(String(v), 8, y + 4);
  }
  bars.forEach((bar, i) => {
    const barH = (bar.value / max) * plotH;
    const x = left + i * slot + slot * 0.15;
    g.fillStyle = "#2563eb";
    g.fillRect(x, top + plotH - barH, slot * 0.7, barH);
    if (bar.value) {
      g.fillStyle = "#1e293b";
      g.fillText(String(bar.value), x + slot * 0.35 - 3, top + plotH - barH - 3);
    }
    g.save();
    g.fillStyle = "#475569";
    g.translate(x + slot * 0.35, top + plotH + 6);
    g.rotate(Math.PI / 6);
    g.fillText(bar.label, 0, 6);
    g.restore();
  });
  canvas.setAttribute("aria-label", `${bars.map((b) => `${b.label}: ${b.value}`).join(", ")} ${unit}`);
}
