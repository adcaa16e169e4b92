// The bridge link against a fake roslibjs (auth first, resubscribe after a reconnect, calls failing on link loss)
// and the store (trails, timelines, deliveries that never go back in time, arrival times).
import assert from "node:assert/strict";
import { test } from "node:test";

import { BridgeLink } from "../../skypost_web/admin/static/js/bridge.js";
import { DELIVERY } from "../../skypost_web/admin/static/js/model.js";
import { Store } from "../../skypost_web/admin/static/js/store.js";

/** A stand-in for roslibjs 1.x: records what each connection sent; the test opens and closes sockets. */
function fakeRoslib() {
  const sockets = [];
  class Ros {
    constructor() {
      this.handlers = {};
      this.sent = [];
      this.isConnected = false;
      sockets.push(this);
    }
    on(event, fn) { (this.handlers[event] ||= []).push(fn); }
    emit(event, ...args) { for (const fn of this.handlers[event] || []) fn(...args); }
    connect(url) { this.url = url; }
    open() { this.isConnected = true; this.emit("connection"); }
    close() { if (this.closed) return; this.closed = true; this.isConnected = false; this.emit("close"); }
    authenticate(mac, client, dest, rand, t, level, end) { this.sent.push({ op: "auth", mac, level, end }); }
  }
  class Topic {
    constructor({ ros, name, messageType, throttle_rate, queue_length, reconnect_on_close }) {
      Object.assign(this, { ros, name, messageType, throttle_rate, queue_length, reconnect_on_close });
    }
    subscribe(cb) { this.cb = cb; this.ros.sent.push({ op: "subscribe", topic: this.name, topicObj: this }); }
    unsubscribe() { this.ros.sent.push({ op: "unsubscribe", topic: this.name }); }
  }
  class Service {
    constructor({ ros, name, serviceType }) { Object.assign(this, { ros, name, serviceType }); }
    callService(request, ok, fail) { this.ros.sent.push({ op: "call_service", service: this.name, request, ok, fail }); }
  }
  return { Ros, Topic, Service, sockets };
}

const until = async (predicate, what, timeout = 2000) => {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

const grant = { token: "jwt", url: "ws://127.0.0.1:9090", role: "operator", expires_at: "2030-01-01T00:00:00Z" };

test("auth goes first, subscriptions are made again after a reconnect, pending calls fail on link loss", async () => {
  const roslib = fakeRoslib();
  let tokens = 0;
  const link = new BridgeLink({ roslib, getToken: async () => { tokens += 1; return grant; }, initialDelay: 5,
    maxDelay: 10 });
  const received = [];
  link.subscribe("/fleet/summary", "skypost/FleetSummary", (m) => received.push(m), { queue_length: 1 });
  link.start();
  await until(() => roslib.sockets.length === 1, "the first socket");
  const first = roslib.sockets[0];
  assert.equal(first.url, grant.url);
  first.open();
  assert.equal(link.state, "up");
  assert.deepEqual(first.sent.map((m) => m.op), ["auth", "subscribe"]);
  assert.equal(first.sent[0].mac, "jwt");
  assert.equal(first.sent[1].topicObj.reconnect_on_close, false);
  first.sent[1].topicObj.cb({ n: 1 });
  assert.deepEqual(received, [{ n: 1 }]);

  const call = link.call("/fleet/get_delivery", "skypost/GetDelivery", { delivery_id: "x" });
  first.close();
  await assert.rejects(call, /went down/);
  assert.equal(link.state, "down");

  await until(() => roslib.sockets.length === 2, "a reconnect");
  const second = roslib.sockets[1];
  second.open();
  assert.equal(tokens, 2, "a fresh token for every connection");
  assert.deepEqual(second.sent.map((m) => m.op), ["auth", "subscribe"]);
  first.sent[1].topicObj.cb({ n: "stale" });  // the old connection's topic is ignored
  second.sent[1].topicObj.cb({ n: 2 });
  assert.deepEqual(received, [{ n: 1 }, { n: 2 }]);
  assert.equal(link.connections, 2);
  link.stop();
  assert.equal(link.state, "stopped");
});

test("a silent link is probed; no answer drops it and connects again, any answer keeps it", async () => {
  const roslib = fakeRoslib();
  const link = new BridgeLink({ roslib, getToken: async () => grant, silence: 40, probeTimeout: 40, initialDelay: 5 });
  link.subscribe("/fleet/summary", "skypost/FleetSummary", () => {});
  link.start();
  await until(() => roslib.sockets.length === 1, "a socket");
  const first = roslib.sockets[0];
  first.open();
  // a refusal is an answer: the link is alive
  await until(() => first.sent.some((m) => m.op === "call_service"), "a probe");
  const probe = first.sent.find((m) => m.op === "call_service");
  assert.equal(probe.service, "/rosapi/get_time");
  probe.fail("not allowed");
  assert.equal(link.state, "up");
  // messages keep it quiet for a while, then silence again: this probe gets no answer
  await until(() => first.sent.filter((m) => m.op === "call_service").length === 2, "a second probe");
  await until(() => link.state === "down" || roslib.sockets.length === 2, "the dead link dropped");
  assert.ok(first.closed, "the silent socket was closed");
  assert.match(link.detail || "", /no answer from the bridge|connection/);
  await until(() => roslib.sockets.length === 2, "a new socket");
  roslib.sockets[1].open();
  assert.deepEqual(roslib.sockets[1].sent.slice(0, 2).map((m) => m.op), ["auth", "subscribe"]);
  link.stop();
});

test("service calls: answer, refusal, timeout, and no call while down", async () => {
  const roslib = fakeRoslib();
  const link = new BridgeLink({ roslib, getToken: async () => grant, callTimeout: 30 });
  await assert.rejects(link.call("/x", "t", {}), /stopped/);
  link.start();
  await until(() => roslib.sockets.length === 1, "a socket");
  roslib.sockets[0].open();
  const ok = link.call("/fleet/cancel_delivery", "skypost/CancelDelivery", { delivery_id: "a" });
  const refused = link.call("/fleet/set_paused", "skypost/SetSitePaused", { paused: true });
  const slow = link.call("/fleet/list_deliveries", "skypost/ListDeliveries", {});
  const calls = roslib.sockets[0].sent.filter((m) => m.op === "call_service");
  calls[0].ok({ success: true, message: "" });
  calls[1].fail("role operator may not call /fleet/set_paused");
  assert.deepEqual(await ok, { success: true, message: "" });
  await assert.rejects(refused, (exc) => exc.kind === "refused" && /may not call/.test(exc.message));
  await assert.rejects(slow, (exc) => exc.kind === "timeout");
  link.stop();
});

test("a refused token stops the link; other token errors are retried", async () => {
  const roslib = fakeRoslib();
  const forbidden = Object.assign(new Error("this needs the role admin or operator"), { status: 403 });
  const link = new BridgeLink({ roslib, getToken: async () => { throw forbidden; } });
  link.start();
  await until(() => link.state === "refused", "refused");
  assert.equal(roslib.sockets.length, 0);

  let attempts = 0;
  const flaky = new BridgeLink({ roslib, initialDelay: 5, getToken: async () => {
    attempts += 1;
    if (attempts < 3) throw new Error("web app down");
    return grant;
  } });
  flaky.start();
  await until(() => roslib.sockets.length === 1, "a socket after two failed token requests");
  assert.equal(attempts, 3);
  flaky.stop();
});

const stamp = (secs) => ({ secs, nsecs: 0 });
const droneMsg = (x, state = 3, name = "NAVIGATING") => ({ drone_id: "drone_1", mission_state: state,
  mission_state_name: name, delivery_id: "d1", pose: { position: { x, y: 0, z: 5 } } });

test("store: trails, timelines, lockers, summary age", () => {
  const store = new Store();
  const topics = [];
  store.addEventListener("change", (e) => topics.push(e.detail.topic));
  store.applySummary({ header: { stamp: stamp(10) }, drones: [droneMsg(0)], lockers: [{ locker_id: "locker_1" }] },
    1000);
  store.applySummary({ header: { stamp: stamp(11) }, drones: [droneMsg(0.1)], lockers: [] }, 2000);
  store.applySummary({ header: { stamp: stamp(12) }, drones: [droneMsg(3, 5, "WAITING_DROP")], lockers: [] }, 3000);
  assert.deepEqual(store.trails.get("drone_1"), [{ x: 0, y: 0 }, { x: 3, y: 0 }]);
  assert.deepEqual(store.timelines.get("drone_1").map((e) => [e.t, e.state]), [[10, "NAVIGATING"], [12, "WAITING_DROP"]]);
  assert.equal(store.lockers.size, 0);
  assert.equal(store.now, 12);
  assert.equal(store.summaryAge(4000), 1);
  assert.deepEqual(topics, ["summary", "summary", "summary"]);
  store.applySummary({ header: { stamp: stamp(13) }, drones: [], lockers: [] });
  assert.equal(store.drones.size, 0, "a drone gone from the summary is gone from the store");
});

test("store: deliveries never move back in time; arrival time from the transition or the history", () => {
  const store = new Store();
  const status = (state, updated) => ({ delivery_id: "d1", state, updated: stamp(updated), created: stamp(1),
    header: { stamp: stamp(updated) } });
  store.applyDeliveryStatus(status(DELIVERY.IN_FLIGHT, 50));
  store.applyDeliveryStatus(status(DELIVERY.AWAITING_PICKUP, 80));
  store.loadDeliveries([status(DELIVERY.IN_FLIGHT, 50)]);  // a list answer older than what we saw
  assert.equal(store.deliveries.get("d1").state, DELIVERY.AWAITING_PICKUP);
  assert.equal(store.deliveries.get("d1").delivered_at, 80);
  store.applyDeliveryStatus(status(DELIVERY.COMPLETED, 120));
  assert.equal(store.deliveries.get("d1").delivered_at, 80, "kept after pickup");

  store.loadDeliveries([{ ...status(DELIVERY.COMPLETED, 300), delivery_id: "d2" }]);
  assert.deepEqual(store.missingArrivals().map((d) => d.delivery_id), ["d2"]);
  store.applyHistory({ ...status(DELIVERY.COMPLETED, 300), delivery_id: "d2" },
    [status(DELIVERY.QUEUED, 200), status(DELIVERY.AWAITING_PICKUP, 260), status(DELIVERY.COMPLETED, 300)]);
  assert.equal(store.deliveries.get("d2").delivered_at, 260);
  assert.deepEqual(store.missingArrivals(), []);
});
