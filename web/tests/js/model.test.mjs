// Unit tests of the admin panel's pure modules (node --test; run by web/tests/test_admin_panel_js.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { bounds, fitView, gridStep, labelOffsets } from "../../skypost_web/admin/static/js/geometry.js";
import { ImageFormatError, jpegDataUrl } from "../../skypost_web/admin/static/js/image.js";
import {
  activeRoutes, alerts, battery, boardColumns, cellStatus, DELIVERY, deliveryActions, linkAge, toSec, yawOf,
} from "../../skypost_web/admin/static/js/model.js";
import { deliveriesPerHour, deliveryTimes, histogram, quantile } from "../../skypost_web/admin/static/js/stats.js";

const t = (secs) => ({ secs, nsecs: 0 });
const drone = (over = {}) => ({ drone_id: "drone_1", mission_state: 0, mission_state_name: "IDLE", delivery_id: "",
  fcu_connected: true, battery_known: true, battery_percentage: 0.8, telemetry_age: 0.2, in_service: true,
  pose: { position: { x: 1, y: 2, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } }, ...over });
const status = (id, state, over = {}) => ({ delivery_id: id, state, state_name: "", drone_id: "", locker_id: "",
  cell_id: 0, reason: "", created: t(100), updated: t(200), ...over });

test("battery: unknown when battery_known is false, NaN, null or missing; never shown as a number", () => {
  assert.deepEqual(battery(drone()), { known: true, fraction: 0.8, text: "80%" });
  for (const over of [{ battery_known: false }, { battery_percentage: null }, { battery_percentage: NaN },
    { battery_percentage: "NaN" }, { battery_percentage: undefined }]) {
    assert.equal(battery(drone(over)).known, false, JSON.stringify(over));
    assert.equal(battery(drone(over)).text, "unknown");
  }
});

test("link age: seconds, or unknown for null/NaN/negative", () => {
  assert.equal(linkAge(drone({ telemetry_age: 0.25 })), "0.3 s");
  assert.equal(linkAge(drone({ telemetry_age: 42.4 })), "42 s");
  assert.equal(linkAge(drone({ telemetry_age: null })), "unknown");
  assert.equal(linkAge(drone({ telemetry_age: -1 })), "unknown");
});

test("yaw from a quaternion", () => {
  const half = Math.PI / 4;
  assert.ok(Math.abs(yawOf({ x: 0, y: 0, z: Math.sin(half), w: Math.cos(half) }) - Math.PI / 2) < 1e-9);
  assert.equal(yawOf(null), 0);
});

test("cell status: fault, then open, then occupied, then reserved, then free", () => {
  const cell = { locked: true, door_closed: true, occupancy: 1, reserved: false, fault: false };
  assert.equal(cellStatus(cell), "free");
  assert.equal(cellStatus({ ...cell, reserved: true }), "reserved");
  assert.equal(cellStatus({ ...cell, reserved: true, occupancy: 2 }), "occupied");
  assert.equal(cellStatus({ ...cell, occupancy: 2, locked: false }), "open");
  assert.equal(cellStatus({ ...cell, door_closed: false, fault: true }), "fault");
  assert.equal(cellStatus({ ...cell, occupancy: 0 }), "unknown");
});

test("board: columns in state order, newest first, terminal columns capped", () => {
  const list = [status("a", DELIVERY.QUEUED, { updated: t(1) }), status("b", DELIVERY.QUEUED, { updated: t(5) }),
    ...Array.from({ length: 30 }, (_, i) => status(`c${i}`, DELIVERY.COMPLETED, { updated: t(i) }))];
  const columns = boardColumns(list, 25);
  assert.equal(columns.length, 10);
  assert.deepEqual(columns[0].items.map((d) => d.delivery_id), ["b", "a"]);
  assert.equal(columns[DELIVERY.COMPLETED].total, 30);
  assert.equal(columns[DELIVERY.COMPLETED].items.length, 25);
  assert.equal(columns[DELIVERY.COMPLETED].items[0].delivery_id, "c29");
});

test("delivery actions follow the state", () => {
  assert.deepEqual(deliveryActions(status("a", DELIVERY.QUEUED)), ["cancel"]);
  assert.deepEqual(deliveryActions(status("a", DELIVERY.FAILED)), ["retry"]);
  assert.deepEqual(deliveryActions(status("a", DELIVERY.COMPLETED)), []);
  const flying = drone({ mission_state: 3, mission_state_name: "NAVIGATING", delivery_id: "a" });
  assert.deepEqual(deliveryActions(status("a", DELIVERY.IN_FLIGHT, { drone_id: "drone_1" }), flying),
    ["cancel", "recall"]);
});

test("alerts: paused site, offline and low-battery drones, offline locker, failures, bridge down", () => {
  const summary = { paused: true, pause_reason: "storm", drones: [
    drone({ drone_id: "d_off", mission_state: 12 }), drone({ drone_id: "d_low", battery_percentage: 0.1 }),
    drone({ drone_id: "d_unknown", battery_known: false }), drone({ drone_id: "d_ok" })],
  lockers: [{ locker_id: "locker_2", mode: 4, message: "no sync" }, { locker_id: "locker_1", mode: 1 }] };
  const deliveries = new Map([["x", status("x", DELIVERY.FAILED, { reason: "drone_offline", updated: t(1000) })],
    ["old", status("old", DELIVERY.FAILED, { updated: t(10) })]]);
  const list = alerts({ link: { state: "down" }, summary, deliveries, now: 1100 }, { failedWindow: 500 });
  const kinds = list.map((a) => `${a.level}:${a.kind}:${a.key}`);
  assert.deepEqual(kinds.sort(), [
    "error:bridge:bridge", "error:delivery_failed:failed:x", "error:drone_offline:offline:d_off",
    "error:locker_offline:locker:locker_2", "error:low_battery:battery:d_low",
    "warning:battery_unknown:battery:d_unknown", "warning:paused:paused"].sort());
  assert.equal(list[list.length - 1].level, "warning");
  assert.deepEqual(alerts({ link: { state: "up" }, summary: { paused: false, drones: [drone()], lockers: [] },
    deliveries: new Map(), now: 0 }), []);
});

test("routes: delivery drone to its locker, returning drone to its base", () => {
  const drones = [drone({ drone_id: "a", mission_state: 3, mission_state_name: "NAVIGATING", delivery_id: "d1" }),
    drone({ drone_id: "b", mission_state: 7, mission_state_name: "RETURNING" }), drone({ drone_id: "c" })];
  const deliveries = new Map([["d1", status("d1", DELIVERY.IN_FLIGHT, { locker_id: "locker_1" })]]);
  const routes = activeRoutes(drones, deliveries, new Map([["locker_1", { x: 24, y: 8 }]]),
    new Map([["b", { x: 0, y: 0 }]]));
  assert.deepEqual(routes.map((r) => [r.drone_id, r.kind, r.to]),
    [["a", "delivery", { x: 24, y: 8 }], ["b", "return", { x: 0, y: 0 }]]);
});

test("time: ROS time objects and numbers", () => {
  assert.equal(toSec({ secs: 3, nsecs: 500000000 }), 3.5);
  assert.equal(toSec(7), 7);
  assert.ok(Number.isNaN(toSec(null)));
});

test("JPEG frames become data URLs; anything else is refused", () => {
  const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
  const base64 = Buffer.from(jpeg).toString("base64");
  const format = "mono8; jpeg compressed mono8";
  assert.equal(jpegDataUrl({ format, data: base64 }), `data:image/jpeg;base64,${base64}`);
  assert.equal(jpegDataUrl({ format, data: [...jpeg] }), `data:image/jpeg;base64,${base64}`);
  assert.throws(() => jpegDataUrl({ format: "png", data: base64 }), ImageFormatError);
  assert.throws(() => jpegDataUrl({ format, data: Buffer.from("not a jpeg").toString("base64") }), ImageFormatError);
  assert.throws(() => jpegDataUrl({ format, data: 42 }), ImageFormatError);
});

test("map projection: fit, round trip, north up, round grid steps", () => {
  const box = bounds([{ x: 0, y: 0 }, { x: 24, y: 8 }, { x: -10, y: 30 }], 20);
  const view = fitView(box, 800, 600, 40);
  const p = view.toCanvas(24, 8);
  const back = view.toWorld(p.x, p.y);
  assert.ok(Math.abs(back.x - 24) < 1e-9 && Math.abs(back.y - 8) < 1e-9);
  assert.ok(view.toCanvas(0, 30).y < view.toCanvas(0, 0).y, "north is up");
  for (const corner of [[box.minX, box.minY], [box.maxX, box.maxY]]) {
    const c = view.toCanvas(...corner);
    assert.ok(c.x >= 39.9 && c.x <= 760.1 && c.y >= 39.9 && c.y <= 560.1);
  }
  assert.equal(gridStep(10, 80), 10);
  assert.equal(gridStep(3, 80), 50);
  assert.deepEqual(bounds([], 20), { minX: -10, minY: -10, maxX: 10, maxY: 10 });
});

test("charts: deliveries per hour and delivery time histogram", () => {
  const records = [
    { state: DELIVERY.COMPLETED, created: t(3600 * 5), delivered_at: 3600 * 5 + 300 },
    { state: DELIVERY.AWAITING_PICKUP, created: t(3600 * 9), updated: t(3600 * 9 + 90) },
    { state: DELIVERY.QUEUED, created: t(3600 * 9), updated: t(3600 * 9) },
    { state: DELIVERY.COMPLETED, created: t(10), delivered_at: NaN },
  ];
  const bins = deliveriesPerHour(records, 3600 * 9 + 100, 12);
  assert.equal(bins.length, 12);
  assert.equal(bins.reduce((n, b) => n + b.count, 0), 2);
  assert.equal(bins[bins.length - 1].count, 1);
  assert.deepEqual(deliveryTimes(records).sort((a, b) => a - b), [90, 300]);
  const hist = histogram([90, 300, 310]);
  assert.equal(hist.width, 30);
  assert.equal(hist.bins.reduce((n, b) => n + b.count, 0), 3);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test("labels of drones parked together are stacked right of the group, apart ones stay put", () => {
  const size = { width: 100, height: 20 };
  // three drones a few pixels apart at one base, one far away
  const points = [{ x: 100, y: 200 }, { x: 120, y: 202 }, { x: 80, y: 199 }, { x: 400, y: 50 }];
  const offsets = labelOffsets(points, size);
  assert.deepEqual(offsets[3], { dx: 0, dy: 0 });
  const labels = points.slice(0, 3).map((p, i) => ({ x: p.x + offsets[i].dx, y: p.y + offsets[i].dy }));
  for (const label of labels) assert.equal(label.x, 120, "every label starts right of the rightmost drone");
  const tops = labels.map((l) => l.y).sort((a, b) => a - b);
  assert.ok(tops[1] - tops[0] >= 20 && tops[2] - tops[1] >= 20, `labels overlap: ${tops}`);
  assert.deepEqual(labelOffsets([], size), []);
});
