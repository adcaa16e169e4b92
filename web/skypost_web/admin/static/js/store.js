// What the panel knows about the site, fed by bridge messages; views read it and redraw on "change".
// No DOM and no bridge in here: messages in, state out (tested under node).
import { DELIVERY, missionStateName, position, toSec } from "./model.js";

const TRAIL_POINTS = 40;
const TRAIL_MIN_STEP = 0.25;  // m between trail points
const TIMELINE_ENTRIES = 60;

export class Store extends EventTarget {
  constructor() {
    super();
    this.summary = null;
    this.summaryReceivedAt = 0;  // ms (Date.now) of the last /fleet/summary
    this.drones = new Map();  // drone id -> skypost/DroneState
    this.lockers = new Map();  // locker id -> skypost/LockerState
    this.deliveries = new Map();  // delivery id -> skypost/DeliveryStatus + delivered_at (s)
    this.trails = new Map();  // drone id -> [{x, y}]
    this.timelines = new Map();  // drone id -> [{t, state, delivery_id, message}]
    this.site = { bases: [], lockers: [], drones: [] };
    this.link = { state: "stopped", detail: "" };
    this.now = NaN;  // latest ROS time seen (s): summary and status stamps
  }

  changed(topic) {
    this.dispatchEvent(new CustomEvent("change", { detail: { topic } }));
  }

  setSite(site) {
    this.site = site;
    this.changed("site");
  }

  setLink(link) {
    this.link = link;
    this.changed("link");
  }

  seeTime(seconds) {
    if (Number.isFinite(seconds) && seconds > 0 && !(seconds < this.now)) this.now = seconds;
  }

  /** One skypost/FleetSummary. */
  applySummary(msg, receivedAt = Date.now()) {
    this.summary = msg;
    this.summaryReceivedAt = receivedAt;
    const stamp = toSec(msg.header && msg.header.stamp);
    this.seeTime(stamp);
    const seen = new Set();
    for (const drone of msg.drones || []) {
      seen.add(drone.drone_id);
      this.recordTimeline(drone, stamp);
      this.recordTrail(drone);
      this.drones.set(drone.drone_id, drone);
    }
    for (const id of [...this.drones.keys()]) if (!seen.has(id)) this.drones.delete(id);
    this.lockers = new Map((msg.lockers || []).map((locker) => [locker.locker_id, locker]));
    this.changed("summary");
  }

  recordTimeline(drone, stamp) {
    const entries = this.timelines.get(drone.drone_id) || [];
    const state = missionStateName(drone);
    const last = entries[entries.length - 1];
    if (!last || last.state !== state || last.delivery_id !== (drone.delivery_id || "")) {
      entries.push({ t: stamp, state, delivery_id: drone.delivery_id || "", message: drone.message || "" });
      if (entries.length > TIMELINE_ENTRIES) entries.shift();
    }
    this.timelines.set(drone.drone_id, entries);
  }

  recordTrail(drone) {
    const trail = this.trails.get(drone.drone_id) || [];
    const p = position(drone);
    const last = trail[trail.length - 1];
    if (!last || Math.hypot(p.x - last.x, p.y - last.y) >= TRAIL_MIN_STEP) {
      trail.push({ x: p.x, y: p.y });
      if (trail.length > TRAIL_POINTS) trail.shift();
    }
    this.trails.set(drone.drone_id, trail);
  }

  /** One skypost/DeliveryStatus transition (/fleet/delivery_status). */
  applyDeliveryStatus(msg) {
    this.mergeDelivery(msg, toSec(msg.header && msg.header.stamp));
    this.changed("deliveries");
  }

  mergeDelivery(msg, stamp) {
    const known = this.deliveries.get(msg.delivery_id);
    // A late or repeated message never moves a delivery back in time
    if (known && toSec(known.updated) > toSec(msg.updated)) return known;
    const record = { ...msg, delivered_at: known ? known.delivered_at : NaN };
    if (msg.state === DELIVERY.AWAITING_PICKUP && !Number.isFinite(record.delivered_at)) {
      record.delivered_at = Number.isFinite(stamp) && stamp > 0 ? stamp : toSec(msg.updated);
    }
    this.deliveries.set(msg.delivery_id, record);
    this.seeTime(toSec(msg.updated));
    return record;
  }

  /** The answer of /fleet/list_deliveries (after every (re)connect): newest state of each delivery. */
  loadDeliveries(list) {
    for (const msg of list || []) this.mergeDelivery(msg, NaN);
    this.changed("deliveries");
  }

  /** A /fleet/get_delivery answer: its status, and when the parcel reached its cell (from the history). */
  applyHistory(status, history) {
    if (status && status.delivery_id) this.mergeDelivery(status, NaN);
    const record = status && this.deliveries.get(status.delivery_id);
    const arrival = (history || []).find((h) => h.state === DELIVERY.AWAITING_PICKUP);
    if (record && arrival) record.delivered_at = toSec(arrival.header && arrival.header.stamp) || toSec(arrival.updated);
    this.changed("deliveries");
  }

  /** Deliveries whose arrival time is unknown although they were delivered (for the charts). */
  missingArrivals() {
    return [...this.deliveries.values()].filter((d) => d.state === DELIVERY.COMPLETED
      && !Number.isFinite(d.delivered_at) && !d.history_checked);
  }

  /** Seconds since the last /fleet/summary (Infinity before the first). */
  summaryAge(now = Date.now()) {
    return this.summary ? (now - this.summaryReceivedAt) / 1000 : Infinity;
  }

  /** Locker positions {x, y} by id: live ones, else the world file's. */
  lockerPositions() {
    const positions = new Map();
    for (const locker of this.site.lockers || []) {
      positions.set(locker.id, { x: locker.position[0], y: locker.position[1] });
    }
    for (const locker of this.lockers.values()) {
      if (locker.position) positions.set(locker.locker_id, { x: locker.position.x, y: locker.position.y });
    }
    return positions;
  }

  /** Each drone's home base position {x, y} by drone id (world file). */
  homes() {
    const bases = new Map((this.site.bases || []).map((b) => [b.id, { x: b.position[0], y: b.position[1] }]));
    const homes = new Map();
    for (const drone of this.site.drones || []) if (bases.has(drone.base)) homes.set(drone.id, bases.get(drone.base));
    return homes;
  }
}
