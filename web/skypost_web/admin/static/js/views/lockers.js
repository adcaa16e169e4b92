// Lockers: a grid of cells per locker (free, reserved, occupied, open, fault); an OFFLINE locker is greyed.
// Operators open a cell for maintenance (/lockers/<id>/open_cell, maintenance=true) after a confirmation.
import { h, replace } from "../dom.js";
import { cellStatus, LOCKER_OFFLINE, lockerModeName } from "../model.js";

const STATUS_TEXT = { free: "free", reserved: "reserved", occupied: "occupied", open: "open", fault: "fault",
  unknown: "unknown" };

export function mountLockers(root, ctx) {
  const list = h("div", { class: "lockers", id: "lockers" });
  replace(root, h("section", { class: "panel wide" },
    h("h1", {}, "Lockers"),
    h("ul", { class: "legend inline" }, Object.keys(STATUS_TEXT).map((s) => h("li", {},
      h("span", { class: `swatch cell-${s}` }), STATUS_TEXT[s]))),
    list));

  function update() {
    const names = new Map((ctx.store.site.lockers || []).map((l) => [l.id, l.name]));
    const lockers = [...ctx.store.lockers.values()].sort((a, b) => a.locker_id.localeCompare(b.locker_id));
    const known = new Set(lockers.map((l) => l.locker_id));
    const silent = (ctx.store.site.lockers || []).filter((l) => !known.has(l.id));
    replace(list,
      lockers.map((locker) => lockerCard(locker, names.get(locker.locker_id), ctx)),
      silent.map((l) => h("article", { class: "locker offline", dataset: { locker: l.id, mode: "NOT REPORTING" } },
        h("header", {}, h("h2", {}, `${l.id} · ${l.name}`), h("span", { class: "mode" }, "not in /fleet/summary")))),
      !lockers.length && !silent.length ? h("p", { class: "empty" }, "No locker known yet.") : null);
  }

  return { update, unmount: () => {} };
}

function lockerCard(locker, name, ctx) {
  const offline = locker.mode === LOCKER_OFFLINE;
  const mode = lockerModeName(locker);
  const canOpen = ctx.may("open_cell") && !offline;
  const cells = [...(locker.cells || [])].sort((a, b) => a.cell_id - b.cell_id);
  return h("article", { class: `locker${offline ? " offline" : ""}`, dataset: { locker: locker.locker_id, mode } },
    h("header", {},
      h("h2", {}, name ? `${locker.locker_id} · ${name}` : locker.locker_id),
      h("span", { class: `mode mode-${mode.toLowerCase()}` }, mode),
      h("span", { class: "hint" }, `ArUco ${locker.marker_id} · ${locker.free_cells} free of ${cells.length}`)),
    locker.message ? h("p", { class: "hint" }, locker.message) : null,
    h("div", { class: "cells" }, cells.map((cell) => {
      const status = cellStatus(cell);
      const title = [`cell ${cell.cell_id} (${cell.size}): ${STATUS_TEXT[status]}`,
        cell.reserved ? `reserved for ${cell.reservation_id}` : "", cell.fault ? cell.fault_reason : "",
        `lock ${cell.locked ? "engaged" : "open"}, door ${cell.door_closed ? "closed" : "open"}`]
        .filter(Boolean).join("\n");
      const attrs = { class: `cell cell-${status}`, title, dataset: { cell: String(cell.cell_id), status } };
      const content = [h("span", { class: "num" }, `#${cell.cell_id}`), h("span", { class: "size" }, cell.size),
        h("span", { class: "status" }, STATUS_TEXT[status]),
        cell.reserved && cell.reservation_id ? h("span", { class: "res" }, cell.reservation_id) : null];
      return canOpen
        ? h("button", { ...attrs, type: "button", onclick: () => ctx.actions.openCell(locker.locker_id, cell.cell_id) },
          content)
        : h("div", attrs, content);
    })),
    canOpen ? h("p", { class: "hint" }, "Click a cell to open it for maintenance.") : null);
}
