// Alerts: failed deliveries, offline drones and lockers, low or unknown battery, a paused site; pause/resume.
import { h, replace } from "../dom.js";
import { alerts } from "../model.js";

export function mountAlerts(root, ctx) {
  const site = h("div", { class: "site-control", id: "site-control" });
  const list = h("ul", { class: "alerts", id: "alerts-list" });
  replace(root, h("section", { class: "panel" }, h("h1", {}, "Alerts"), site, list));

  function update() {
    const summary = ctx.store.summary;
    const paused = Boolean(summary && summary.paused);
    replace(site,
      h("p", { id: "site-state", dataset: { paused: String(paused) } },
        summary ? (paused ? `Site PAUSED${summary.pause_reason ? `: ${summary.pause_reason}` : ""}`
          : "Site running: deliveries are dispatched") : "Site state unknown (no /fleet/summary)"),
      summary && ctx.may("pause") ? h("button", { id: paused ? "resume-site" : "pause-site",
        class: paused ? "primary" : "danger", onclick: () => ctx.actions.setPaused(!paused) },
      paused ? "Resume the site" : "Pause the site") : null);
    const items = alerts(ctx.store);
    replace(list, items.length ? items.map((a) => h("li", { class: `alert ${a.level}`, dataset: { kind: a.kind } },
      a.href ? h("a", { href: a.href }, a.text) : a.text)) : h("li", { class: "alert ok" }, "All clear"));
  }

  return { update, unmount: () => {} };
}
