// Live map in the site's local metres frame: bases, lockers with their markers, drones with heading, state colour,
// battery and a short trail, and the active route of each delivery. Canvas only, no tiles.
import { h, replace } from "../dom.js";
import { bounds, fitView, gridStep, labelOffsets } from "../geometry.js";
import {
  activeRoutes, battery, cellStatus, LOCKER_OFFLINE, missionStateName, position, STATE_COLOURS, stateColour, yawOf,
} from "../model.js";

const DRONE_SIZE = 11;  // px

export function mountMap(root, ctx) {
  const canvas = h("canvas", { id: "map-canvas", role: "img", "aria-label": "Live map of the site" });
  const objects = h("ul", { id: "map-objects", class: "visually-hidden" });
  const side = h("aside", { class: "map-side" });
  const holder = h("div", { class: "map-holder" }, canvas);
  replace(root, h("section", { class: "map-view" }, holder, side, objects));
  let box = null;
  let hits = [];

  const resize = () => {
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = holder.getBoundingClientRect();
    canvas.width = Math.max(1, Math.floor(width * ratio));
    canvas.height = Math.max(1, Math.floor(height * ratio));
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    draw();
  };
  const observer = new ResizeObserver(resize);
  observer.observe(holder);

  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    const hit = hits.find((t) => Math.hypot(t.x - x, t.y - y) < DRONE_SIZE + 6);
    if (hit) ctx.navigate(`#/drones/${encodeURIComponent(hit.id)}`);
  });

  function siteBounds() {
    const store = ctx.store;
    const points = [];
    for (const base of store.site.bases || []) points.push({ x: base.position[0], y: base.position[1] });
    for (const p of store.lockerPositions().values()) points.push(p);
    for (const drone of store.drones.values()) points.push(position(drone));
    const next = bounds(points, 30);
    // Only ever grow: a map that re-zooms at every message is unreadable
    box = box ? { minX: Math.min(box.minX, next.minX), minY: Math.min(box.minY, next.minY),
      maxX: Math.max(box.maxX, next.maxX), maxY: Math.max(box.maxY, next.maxY) } : next;
    return box;
  }

  function draw() {
    const store = ctx.store;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.width / ratio;
    const height = canvas.height / ratio;
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const view = fitView(siteBounds(), width, height, 50);
    drawGrid(g, view, width, height);
    for (const base of store.site.bases || []) drawBase(g, view, base);
    const lockerMeta = new Map((store.site.lockers || []).map((l) => [l.id, l]));
    const lockers = store.lockerPositions();
    for (const [id, p] of lockers) drawLocker(g, view, id, p, store.lockers.get(id), lockerMeta.get(id));
    const drones = [...store.drones.values()];
    for (const route of activeRoutes(drones, store.deliveries, lockers, store.homes())) drawRoute(g, view, route);
    hits = [];
    drones.sort((a, b) => a.drone_id.localeCompare(b.drone_id));  // a stable label order between frames
    const offsets = labelOffsets(drones.map((drone) => {
      const p = position(drone);
      return view.toCanvas(p.x, p.y);
    }));
    drones.forEach((drone, i) => {
      drawTrail(g, view, store.trails.get(drone.drone_id) || [], stateColour(missionStateName(drone)));
      hits.push(drawDrone(g, view, drone, offsets[i]));
    });
    drawScale(g, view, width, height);
    if (!drones.length) {
      g.fillStyle = "#6b7280";
      g.font = "14px system-ui, sans-serif";
      g.fillText(store.link.state === "up" ? "waiting for /fleet/summary…" : "bridge link down", 16, 24);
    }
    describe(drones, lockers);
    drawSide(store);
  }

  function describe(drones, lockers) {
    replace(objects,
      drones.map((drone) => {
        const p = position(drone);
        return h("li", { dataset: { drone: drone.drone_id, x: p.x.toFixed(2), y: p.y.toFixed(2),
          state: missionStateName(drone) } }, `${drone.drone_id} at ${p.x.toFixed(1)}, ${p.y.toFixed(1)}`);
      }),
      [...lockers].map(([id, p]) => h("li", { dataset: { locker: id, x: p.x, y: p.y } }, `${id}`)));
  }

  function drawSide(store) {
    const s = store.summary;
    const counts = s ? [
      ["Drones", `${s.drones_total} (${s.drones_idle} idle, ${s.drones_busy} busy, ${s.drones_offline} offline)`],
      ["Deliveries", `${s.deliveries_queued} queued, ${s.deliveries_active} active`],
      ["Done", `${s.deliveries_completed} completed, ${s.deliveries_failed} failed, ${s.deliveries_cancelled} cancelled`],
      ["Lockers", `${s.lockers_online} online, ${s.lockers_offline} offline`],
    ] : [];
    const used = new Set([...store.drones.values()].map(missionStateName));
    replace(side,
      h("h2", {}, "Site"),
      h("dl", { class: "counts" }, counts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h2", {}, "Legend"),
      h("ul", { class: "legend" },
        Object.entries(STATE_COLOURS).filter(([name]) => used.has(name) || ["IDLE", "NAVIGATING", "RETURNING",
          "OFFLINE"].includes(name)).map(([name, colour]) => h("li", {},
          h("span", { class: "swatch", style: { background: colour } }), name)),
        h("li", {}, h("span", { class: "swatch base" }), "base station"),
        h("li", {}, h("span", { class: "swatch locker" }), "locker (ArUco marker id)"),
        h("li", {}, h("span", { class: "swatch route" }), "active route")),
      h("p", { class: "hint" }, "Click a drone for its detail and camera."));
  }

  return {
    update: draw,
    unmount: () => observer.disconnect(),
  };
}

function drawGrid(g, view, width, height) {
  const step = gridStep(view.scale);
  const topLeft = view.toWorld(0, 0);
  const bottomRight = view.toWorld(width, height);
  g.lineWidth = 1;
  g.font = "10px system-ui, sans-serif";
  for (let x = Math.ceil(topLeft.x / step) * step; x <= bottomRight.x; x += step) {
    const p = view.toCanvas(x, 0);
    g.strokeStyle = Math.abs(x) < 1e-9 ? "#cbd5e1" : "#eef2f7";
    g.beginPath(); g.moveTo(p.x, 0); g.lineTo(p.x, height); g.stroke();
    g.fillStyle = "#94a3b8";
    g.fillText(`${Math.round(x)} m`, p.x + 2, height - 4);
  }
  for (let y = Math.ceil(bottomRight.y / step) * step; y <= topLeft.y; y += step) {
    const p = view.toCanvas(0, y);
    g.strokeStyle = Math.abs(y) < 1e-9 ? "#cbd5e1" : "#eef2f7";
    g.beginPath(); g.moveTo(0, p.y); g.lineTo(width, p.y); g.stroke();
    g.fillStyle = "#94a3b8";
    g.fillText(`${Math.round(y)} m`, 4, p.y - 2);
  }
}

function drawScale(g, view, width, height) {
  const metres = gridStep(view.scale, 100);
  const pixels = metres * view.scale;
  const x = width - pixels - 20;
  const y = height - 24;
  g.strokeStyle = "#334155"; g.lineWidth = 2;
  g.beginPath(); g.moveTo(x, y); g.lineTo(x + pixels, y); g.stroke();
  g.fillStyle = "#334155"; g.font = "11px system-ui, sans-serif";
  g.fillText(`${metres} m`, x + pixels / 2 - 10, y - 5);
  g.fillText("N ↑", width - 34, 18);
}

function drawBase(g, view, base) {
  const p = view.toCanvas(base.position[0], base.position[1]);
  g.fillStyle = "#fef3c7"; g.strokeStyle = "#b45309"; g.lineWidth = 2;
  g.fillRect(p.x - 14, p.y - 14, 28, 28); g.strokeRect(p.x - 14, p.y - 14, 28, 28);
  g.fillStyle = "#b45309"; g.font = "bold 14px system-ui, sans-serif";
  g.fillText("H", p.x - 5, p.y + 5);
  g.font = "11px system-ui, sans-serif";
  g.fillText(base.id, p.x - 14, p.y - 18);  // above: drones park below and beside their base
}

function drawLocker(g, view, id, p, live, meta) {
  const c = view.toCanvas(p.x, p.y);
  const offline = !live || live.mode === LOCKER_OFFLINE;
  g.fillStyle = offline ? "#e5e7eb" : "#dcfce7";
  g.strokeStyle = offline ? "#9ca3af" : "#15803d"; g.lineWidth = 2;
  g.beginPath(); g.roundRect(c.x - 16, c.y - 16, 32, 32, 4); g.fill(); g.stroke();
  // the pad's ArUco marker: a small black square with a white centre
  g.fillStyle = "#111827"; g.fillRect(c.x - 7, c.y - 7, 14, 14);
  g.fillStyle = "#ffffff"; g.fillRect(c.x - 3, c.y - 3, 6, 6);
  g.fillStyle = offline ? "#6b7280" : "#14532d"; g.font = "bold 11px system-ui, sans-serif";
  const name = meta && meta.name ? `${id} · ${meta.name}` : id;
  g.fillText(name, c.x + 20, c.y - 4);
  g.font = "11px system-ui, sans-serif";
  const marker = live ? live.marker_id : meta && meta.marker_id;
  const cells = live ? live.cells || [] : [];
  const free = cells.filter((cell) => cellStatus(cell) === "free").length;
  const detail = !live ? "no live data" : offline ? "OFFLINE" : `${free}/${cells.length} free`;
  g.fillText(`ArUco ${marker ?? "?"} · ${detail}`, c.x + 20, c.y + 10);
}

function drawRoute(g, view, route) {
  const a = view.toCanvas(route.from.x, route.from.y);
  const b = view.toCanvas(route.to.x, route.to.y);
  g.save();
  g.strokeStyle = route.kind === "return" ? "#0891b2" : "#2563eb";
  g.lineWidth = 2;
  g.setLineDash([6, 5]);
  g.beginPath(); g.moveTo(a.x, a.y); g.lineTo(b.x, b.y); g.stroke();
  g.setLineDash([]);
  const angle = Math.atan2(b.y - a.y, b.x - a.x);
  g.fillStyle = g.strokeStyle;
  g.beginPath();
  g.moveTo(b.x, b.y);
  g.lineTo(b.x - 10 * Math.cos(angle - 0.4), b.y - 10 * Math.sin(angle - 0.4));
  g.lineTo(b.x - 10 * Math.cos(angle + 0.4), b.y - 10 * Math.sin(angle + 0.4));
  g.closePath(); g.fill();
  g.restore();
}

function drawTrail(g, view, trail, colour) {
  if (trail.length < 2) return;
  g.save();
  g.strokeStyle = colour; g.globalAlpha = 0.35; g.lineWidth = 2;
  g.beginPath();
  trail.forEach((point, i) => {
    const p = view.toCanvas(point.x, point.y);
    if (i === 0) g.moveTo(p.x, p.y); else g.lineTo(p.x, p.y);
  });
  g.stroke();
  g.restore();
}

function drawDrone(g, view, drone, label = { dx: 0, dy: 0 }) {
  const p = position(drone);
  const c = view.toCanvas(p.x, p.y);
  const stateName = missionStateName(drone);
  const colour = stateColour(stateName);
  const yaw = yawOf(drone.pose && drone.pose.orientation);
  g.save();
  g.translate(c.x, c.y);
  g.rotate(-yaw);  // canvas y points down: a counter-clockwise yaw is a clockwise canvas rotation
  g.fillStyle = colour; g.strokeStyle = "#ffffff"; g.lineWidth = 1.5;
  g.beginPath();
  g.moveTo(DRONE_SIZE, 0);
  g.lineTo(-DRONE_SIZE * 0.7, DRONE_SIZE * 0.65);
  g.lineTo(-DRONE_SIZE * 0.35, 0);
  g.lineTo(-DRONE_SIZE * 0.7, -DRONE_SIZE * 0.65);
  g.closePath(); g.fill(); g.stroke();
  g.restore();
  // battery bar under the drone: grey with "?" when unknown
  const b = battery(drone);
  const bw = 24;
  g.fillStyle = "#e5e7eb"; g.fillRect(c.x - bw / 2, c.y + 14, bw, 4);
  if (b.known) {
    g.fillStyle = b.fraction < 0.15 ? "#dc2626" : b.fraction < 0.3 ? "#d97706" : "#16a34a";
    g.fillRect(c.x - bw / 2, c.y + 14, bw * b.fraction, 4);
  }
  const lx = c.x + 14 + label.dx;
  const ly = c.y + label.dy;
  if (label.dx || label.dy) {  // moved clear of its neighbours: a leader line says whose label it is
    g.strokeStyle = "#9ca3af"; g.lineWidth = 1;
    g.beginPath(); g.moveTo(c.x + 6, c.y + 4); g.lineTo(lx - 2, ly - 4); g.stroke();
  }
  g.fillStyle = "#111827"; g.font = "bold 11px system-ui, sans-serif";
  g.fillText(drone.drone_id, lx, ly - 6);
  g.font = "10px system-ui, sans-serif"; g.fillStyle = colour;
  g.fillText(`${stateName} · ${b.known ? b.text : "battery ?"}${p.z > 0.3 ? ` · ${p.z.toFixed(1)} m` : ""}`,
    lx, ly + 6);
  return { id: drone.drone_id, x: c.x, y: c.y };
}
