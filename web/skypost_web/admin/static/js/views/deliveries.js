// Deliveries: a board by state, and one delivery's detail with its full history and the operator actions.
import { SERVICES } from "../actions.js";
import { h, pill, replace } from "../dom.js";
import {
  boardColumns, clock, DELIVERY, deliveryActions, deliveryStateName, duration, finite, TERMINAL, toSec,
} from "../model.js";

const COLUMN_COLOURS = {
  QUEUED: "#64748b", ASSIGNED: "#0ea5e9", LOADING: "#f59e0b", IN_FLIGHT: "#2563eb", AT_LOCKER: "#7c3aed",
  DROPPING: "#9333ea", AWAITING_PICKUP: "#0d9488", COMPLETED: "#16a34a", FAILED: "#dc2626", CANCELLED: "#6b7280",
};

export function mountBoard(root, ctx) {
  const board = h("div", { class: "board", id: "delivery-board" });
  const filter = h("input", { type: "search", id: "board-filter", placeholder: "Filter by id, drone, locker…",
    oninput: () => update() });
  replace(root, h("section", { class: "panel wide" },
    h("div", { class: "title-row" }, h("h1", {}, "Deliveries"), filter),
    board));

  function update() {
    const needle = filter.value.trim().toLowerCase();
    const all = [...ctx.store.deliveries.values()].filter((d) => !needle
      || [d.delivery_id, d.drone_id, d.locker_id, d.reason].some((v) => (v || "").toLowerCase().includes(needle)));
    const now = ctx.store.now;
    replace(board, boardColumns(all).map((column) => h("div", { class: "column", dataset: { column: column.name } },
      h("h2", { style: { borderColor: COLUMN_COLOURS[column.name] } }, column.name.replace("_", " "),
        h("span", { class: "count" }, String(column.total))),
      column.items.map((d) => card(d, now)),
      column.total > column.items.length ? h("p", { class: "hint" }, `${column.total - column.items.length} older`)
        : null)));
  }

  return { update, unmount: () => {} };
}

function card(d, now) {
  const eta = finite(d.eta);
  const age = now - toSec(d.updated);
  return h("a", { class: "card", href: `#/deliveries/${encodeURIComponent(d.delivery_id)}`,
    dataset: { deliveryId: d.delivery_id, state: deliveryStateName(d) } },
  h("strong", {}, d.delivery_id),
  d.priority === 1 ? h("span", { class: "tag high" }, "high") : null,
  h("span", { class: "line" }, [d.drone_id || "no drone", d.locker_id ? `${d.locker_id}${d.cell_id ? ` #${d.cell_id}` : ""}`
    : "any locker"].join(" → ")),
  eta !== null && !TERMINAL.has(d.state) ? h("span", { class: "line" }, `ETA ${duration(eta)}`) : null,
  d.reason ? h("span", { class: d.state === DELIVERY.FAILED ? "line reason failed" : "line reason" }, d.reason) : null,
  Number.isFinite(age) ? h("span", { class: "line hint" }, `${duration(age)} ago`) : null);
}

export function mountDeliveryDetail(root, ctx, deliveryId) {
  const facts = h("dl", { class: "facts", id: "delivery-facts" });
  const actions = h("div", { class: "actions", id: "delivery-actions" });
  const history = h("tbody", {});
  const note = h("p", { class: "hint", id: "history-note" }, "loading the history…");
  replace(root, h("section", { class: "panel" },
    h("p", {}, h("a", { href: "#/deliveries" }, "← the board")),
    h("h1", {}, `Delivery ${deliveryId}`),
    h("div", { class: "detail-grid" }, facts, actions),
    h("h2", {}, "Status history"),
    note,
    h("table", { class: "grid", id: "delivery-history" },
      h("thead", {}, h("tr", {}, ["Time", "State", "Reason", "Drone", "Locker / cell", "Attempts"]
        .map((t) => h("th", {}, t)))),
      history)));

  let rows = [];
  let lastUpdated = NaN;
  let loading = false;

  async function load() {
    if (loading || ctx.store.link.state !== "up") return;
    loading = true;
    try {
      const [name, type] = SERVICES.get;
      const answer = await ctx.bridge.call(name, type, { delivery_id: deliveryId });
      if (!answer.success) {
        note.textContent = `The fleet does not know this delivery: ${answer.message}`;
        return;
      }
      ctx.store.applyHistory(answer.status, answer.history);
      rows = answer.history || [];
      note.textContent = `${rows.length} transitions (from /fleet/get_delivery)`;
      renderHistory();
    } catch (exc) {
      note.textContent = `History unavailable: ${exc.message}`;
    } finally {
      loading = false;
    }
  }

  function renderHistory() {
    replace(history, rows.map((entry) => h("tr", { dataset: { state: deliveryStateName(entry) } },
      h("td", {}, clock(toSec(entry.header && entry.header.stamp) || toSec(entry.updated))),
      h("td", {}, deliveryStateName(entry)),
      h("td", {}, entry.reason || ""),
      h("td", {}, entry.drone_id || ""),
      h("td", {}, entry.locker_id ? `${entry.locker_id}${entry.cell_id ? ` #${entry.cell_id}` : ""}` : ""),
      h("td", {}, String(entry.attempts ?? "")))));
  }

  function update(topic) {
    const d = ctx.store.deliveries.get(deliveryId);
    if (!d) {
      replace(facts, h("dd", {}, "Not seen on /fleet/delivery_status yet."));
    } else {
      const eta = finite(d.eta);
      const created = toSec(d.created);
      const rowsOut = [
        ["State", h("span", { id: "delivery-state" }, deliveryStateName(d))],
        ["Drone", d.drone_id ? h("a", { href: `#/drones/${encodeURIComponent(d.drone_id)}` }, d.drone_id) : "—"],
        ["Locker", d.locker_id || "any"],
        ["Cell", d.cell_id ? `${d.cell_id} (${d.cell_size})` : `none yet (${d.cell_size || "S"})`],
        ["Priority", d.priority === 1 ? "high" : "normal"],
        ["Attempts", String(d.attempts)],
        ["Created", clock(created)],
        ["Updated", clock(toSec(d.updated))],
        ["Delivered", Number.isFinite(d.delivered_at)
          ? `${clock(d.delivered_at)} (${duration(d.delivered_at - created)} after creation)` : "—"],
        ["Drop confirmed", d.state >= 6 && d.state !== 9 ? (d.drop_confirmed ? "yes" : "NO (unconfirmed)") : "—"],
        ["ETA", eta !== null && !TERMINAL.has(d.state) ? duration(eta) : "—"],
        ["Reason", h("span", { id: "delivery-reason" }, d.reason || "—")],
      ];
      replace(facts, rowsOut.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
      const drone = d.drone_id ? ctx.store.drones.get(d.drone_id) : null;
      const buttons = deliveryActions(d, drone).filter((a) => ctx.may(a)).map((action) => ({
        cancel: h("button", { class: "danger", id: "cancel-delivery",
          onclick: () => ctx.actions.cancelDelivery(deliveryId) }, "Cancel delivery"),
        retry: h("button", { class: "primary", id: "retry-delivery",
          onclick: () => ctx.actions.retryDelivery(deliveryId) }, "Retry"),
        recall: h("button", { class: "danger", id: "recall-drone",
          onclick: () => ctx.actions.recallDrone(d.drone_id) }, `Send ${d.drone_id} home`),
      })[action]);
      replace(actions, buttons.length ? buttons : h("p", { class: "hint" }, "No action available."));
      const updated = toSec(d.updated);
      if (topic !== "summary" && updated !== lastUpdated) {
        lastUpdated = updated;
        load();
      }
    }
    if (topic === "link" && ctx.store.link.state === "up") load();
  }

  load();
  return { update, unmount: () => {} };
}
