// Pure functions over SkyPost messages (no DOM, no bridge): names, units, alerts, board, routes.
// The message shapes are the ROS types in msg/ as rosbridge sends them (time as {secs, nsecs}).

export const MISSION_STATES = [
  "IDLE", "PREFLIGHT", "TAKEOFF", "NAVIGATING", "APPROACH", "WAITING_DROP", "DROPPED", "RETURNING", "LANDING",
  "COMPLETED", "ABORTED", "EMERGENCY_LAND", "OFFLINE",
];
export const DRONE_OFFLINE = 12;

export const DELIVERY_STATES = [
  "QUEUED", "ASSIGNED", "LOADING", "IN_FLIGHT", "AT_LOCKER", "DROPPING", "AWAITING_PICKUP", "COMPLETED", "FAILED",
  "CANCELLED",
];
export const DELIVERY = Object.fromEntries(DELIVERY_STATES.map((name, i) => [name, i]));
export const TERMINAL = new Set([DELIVERY.COMPLETED, DELIVERY.FAILED, DELIVERY.CANCELLED]);
// Between assignment and the drop: the delivery has a drone and a route on the map
export const EN_ROUTE = new Set([DELIVERY.ASSIGNED, DELIVERY.LOADING, DELIVERY.IN_FLIGHT, DELIVERY.AT_LOCKER,
  DELIVERY.DROPPING]);

export const LOCKER_MODES = ["UNKNOWN", "ONLINE", "BUSY", "MAINTENANCE", "OFFLINE"];
export const LOCKER_OFFLINE = 4;
export const OCCUPANCY_OCCUPIED = 2;
export const OCCUPANCY_UNKNOWN = 0;

// Colours by mission state (the map, the table pills and the legend use the same ones)
export const STATE_COLOURS = {
  IDLE: "#5b6b7f", PREFLIGHT: "#b08900", TAKEOFF: "#d97706", NAVIGATING: "#2563eb", APPROACH: "#7c3aed",
  WAITING_DROP: "#9333ea", DROPPED: "#0d9488", RETURNING: "#0891b2", LANDING: "#d97706", COMPLETED: "#16a34a",
  ABORTED: "#dc2626", EMERGENCY_LAND: "#b91c1c", OFFLINE: "#374151",
};

export const LOW_BATTERY = 0.3;
export const CRITICAL_BATTERY = 0.15;

/** ROS time ({secs, nsecs} or a number of seconds) as seconds; NaN when absent. */
export function toSec(t) {
  if (t === null || t === undefined) return NaN;
  if (typeof t === "number") return t;
  const secs = Number(t.secs ?? t.sec ?? NaN);
  const nsecs = Number(t.nsecs ?? t.nanosec ?? 0);
  return secs + nsecs / 1e9;
}

/** A float field that may arrive as NaN, null, a string or be missing: a finite number or null. */
export function finite(value) {
  const number = typeof value === "string" ? Number(value) : value;
  return typeof number === "number" && Number.isFinite(number) ? number : null;
}

export function missionStateName(drone) {
  return drone.mission_state_name || MISSION_STATES[drone.mission_state] || `STATE_${drone.mission_state}`;
}

export function deliveryStateName(status) {
  return status.state_name || DELIVERY_STATES[status.state] || `STATE_${status.state}`;
}

export function stateColour(name) {
  return STATE_COLOURS[name] || "#6b7280";
}

/** Battery as {known, fraction, text}: unknown (battery_known false, NaN, null) is never shown as a number. */
export function battery(drone) {
  const fraction = finite(drone.battery_percentage);
  if (!drone.battery_known || fraction === null) return { known: false, fraction: null, text: "unknown" };
  const clamped = Math.min(1, Math.max(0, fraction));
  return { known: true, fraction: clamped, text: `${Math.round(clamped * 100)}%` };
}

/** The autopilot telemetry's age as text ("unknown" when not a finite number). */
export function linkAge(drone) {
  const age = finite(drone.telemetry_age);
  if (age === null || age < 0) return "unknown";
  return age < 10 ? `${age.toFixed(1)} s` : `${Math.round(age)} s`;
}

/** Heading (yaw, rad, counter-clockwise from +x east) from a geometry_msgs/Quaternion. */
export function yawOf(q) {
  if (!q) return 0;
  const { x = 0, y = 0, z = 0, w = 1 } = q;
  return Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}

export function position(drone) {
  const p = (drone.pose && drone.pose.position) || {};
  return { x: finite(p.x) ?? 0, y: finite(p.y) ?? 0, z: finite(p.z) ?? 0 };
}

/** free | reserved | occupied | open | fault | unknown for a skypost/CellState (the most urgent first). */
export function cellStatus(cell) {
  if (cell.fault) return "fault";
  if (!cell.locked || !cell.door_closed) return "open";
  if (cell.occupancy === OCCUPANCY_OCCUPIED) return "occupied";
  if (cell.reserved) return "reserved";
  if (cell.occupancy === OCCUPANCY_UNKNOWN) return "unknown";
  return "free";
}

export function lockerModeName(locker) {
  return locker.mode_name || LOCKER_MODES[locker.mode] || `MODE_${locker.mode}`;
}

/** Deliveries grouped into the board's columns (state order); terminal columns keep the `terminalLimit` newest. */
export function boardColumns(deliveries, terminalLimit = 25) {
  const columns = DELIVERY_STATES.map((name, state) => ({ state, name, items: [] }));
  for (const status of deliveries) {
    const column = columns[status.state];
    if (column) column.items.push(status);
  }
  for (const column of columns) {
    column.total = column.items.length;
    column.items.sort((a, b) => toSec(b.updated) - toSec(a.updated) || a.delivery_id.localeCompare(b.delivery_id));
    if (TERMINAL.has(column.state)) column.items = column.items.slice(0, terminalLimit);
  }
  return columns;
}

/** What an operator may do with a delivery in its current state (before role checks). */
export function deliveryActions(status, drone) {
  const actions = [];
  if (!TERMINAL.has(status.state)) actions.push("cancel");
  if (status.state === DELIVERY.FAILED) actions.push("retry");
  if (status.drone_id && drone && drone.mission_state !== DRONE_OFFLINE && drone.mission_state !== 0
      && EN_ROUTE.has(status.state)) actions.push("recall");
  return actions;
}

/**
 * Lines to draw on the map: a delivery's drone to its locker while en route, and a returning drone to its base.
 * drones: DroneState[]; deliveries: Map id -> DeliveryStatus; lockers: Map id -> {x, y}; homes: Map drone -> {x, y}.
 */
export function activeRoutes(drones, deliveries, lockers, homes) {
  const routes = [];
  for (const drone of drones) {
    const from = position(drone);
    const stateName = missionStateName(drone);
    if (stateName === "RETURNING" || stateName === "LANDING") {
      const home = homes.get(drone.drone_id);
      if (home) routes.push({ drone_id: drone.drone_id, kind: "return", from, to: home });
      continue;
    }
    const status = drone.delivery_id ? deliveries.get(drone.delivery_id) : null;
    const lockerId = status ? status.locker_id : "";
    const locker = lockerId ? lockers.get(lockerId) : null;
    if (drone.delivery_id && locker && (!status || EN_ROUTE.has(status.state))) {
      routes.push({ drone_id: drone.drone_id, kind: "delivery", delivery_id: drone.delivery_id, from, to: locker });
    }
  }
  return routes;
}

/**
 * Everything that needs an operator's eye, most severe first: {level: error|warning, kind, key, text, href}.
 * state: {link, summary, deliveries (Map), now (s)}; failures older than `failedWindow` seconds are left out.
 */
export function alerts(state, { failedWindow = 24 * 3600, lowBattery = LOW_BATTERY,
  criticalBattery = CRITICAL_BATTERY } = {}) {
  const list = [];
  if (state.link && state.link.state !== "up") {
    list.push({ level: "error", kind: "bridge", key: "bridge", text: `Bridge link ${state.link.state}`, href: "" });
  }
  const summary = state.summary;
  if (summary && summary.paused) {
    list.push({ level: "warning", kind: "paused", key: "paused",
      text: `Site paused${summary.pause_reason ? `: ${summary.pause_reason}` : ""}`, href: "#/alerts" });
  }
  for (const drone of (summary && summary.drones) || []) {
    const href = `#/drones/${encodeURIComponent(drone.drone_id)}`;
    if (drone.mission_state === DRONE_OFFLINE) {
      list.push({ level: "error", kind: "drone_offline", key: `offline:${drone.drone_id}`,
        text: `${drone.drone_id} offline`, href });
      continue;
    }
    if (!drone.fcu_connected) {
      list.push({ level: "warning", kind: "drone_link", key: `fcu:${drone.drone_id}`,
        text: `${drone.drone_id}: autopilot not connected`, href });
    }
    const b = battery(drone);
    if (!b.known) {
      list.push({ level: "warning", kind: "battery_unknown", key: `battery:${drone.drone_id}`,
        text: `${drone.drone_id}: battery unknown`, href });
    } else if (b.fraction < lowBattery) {
      list.push({ level: b.fraction < criticalBattery ? "error" : "warning", kind: "low_battery",
        key: `battery:${drone.drone_id}`, text: `${drone.drone_id}: battery ${b.text}`, href });
    }
  }
  for (const locker of (summary && summary.lockers) || []) {
    if (locker.mode === LOCKER_OFFLINE) {
      list.push({ level: "error", kind: "locker_offline", key: `locker:${locker.locker_id}`,
        text: `${locker.locker_id} offline${locker.message ? `: ${locker.message}` : ""}`, href: "#/lockers" });
    }
  }
  const now = Number.isFinite(state.now) ? state.now : Infinity;
  const failed = [...(state.deliveries ? state.deliveries.values() : [])]
    .filter((d) => d.state === DELIVERY.FAILED && !(now - toSec(d.updated) > failedWindow))
    .sort((a, b) => toSec(b.updated) - toSec(a.updated));
  for (const d of failed) {
    list.push({ level: "error", kind: "delivery_failed", key: `failed:${d.delivery_id}`,
      text: `Delivery ${d.delivery_id} failed${d.reason ? `: ${d.reason}` : ""}`,
      href: `#/deliveries/${encodeURIComponent(d.delivery_id)}` });
  }
  const rank = { error: 0, warning: 1 };
  return list.sort((a, b) => rank[a.level] - rank[b.level]);
}

/** Seconds as a short duration: 42 s, 3 min 5 s, 2 h 10 min. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A ROS time as a clock time (wall-clock epochs) or as seconds since start (simulated time from 0). */
/** Whether a ROS time is wall-clock time (a real site) rather than sim time, which starts near 0. */
export function isWallClock(seconds) {
  return seconds > 1e9;
}

export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "—";
  if (isWallClock(seconds)) return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
  return `t+${duration(seconds)}`;
}
