// Drones: a table (state, battery, link age, delivery) and one drone's detail with its live camera and timeline.
import { h, pill, replace } from "../dom.js";
import { jpegDataUrl } from "../image.js";
import {
  battery, clock, DRONE_OFFLINE, finite, linkAge, missionStateName, position, stateColour, yawOf,
} from "../model.js";

const CAMERA_THROTTLE_MS = 400;  // ~2.5 frames/s is plenty to watch an approach

export function mountDrones(root, ctx) {
  const body = h("tbody", {});
  replace(root, h("section", { class: "panel" },
    h("h1", {}, "Drones"),
    h("table", { class: "grid", id: "drones-table" },
      h("thead", {}, h("tr", {}, ["Drone", "State", "Battery", "Link age", "Delivery", "Autopilot", "Service",
        "Position (m)", "Message"].map((t) => h("th", {}, t)))),
      body)));

  function update() {
    const drones = [...ctx.store.drones.values()].sort((a, b) => a.drone_id.localeCompare(b.drone_id));
    replace(body, drones.length ? drones.map((drone) => {
      const b = battery(drone);
      const p = position(drone);
      const stateName = missionStateName(drone);
      const href = `#/drones/${encodeURIComponent(drone.drone_id)}`;
      return h("tr", { dataset: { drone: drone.drone_id }, class: drone.mission_state === DRONE_OFFLINE ? "muted" : "" },
        h("td", {}, h("a", { href }, drone.drone_id)),
        h("td", {}, pill(stateName, stateColour(stateName), { class: "pill state" })),
        h("td", { class: b.known ? "battery" : "battery unknown", dataset: { known: String(b.known) } }, b.text),
        h("td", { class: "link-age" }, linkAge(drone)),
        h("td", {}, drone.delivery_id
          ? h("a", { href: `#/deliveries/${encodeURIComponent(drone.delivery_id)}` }, drone.delivery_id) : "—"),
        h("td", {}, drone.fcu_connected ? `${drone.armed ? "armed" : "disarmed"} · ${drone.flight_mode || "?"}`
          : "not connected"),
        h("td", {}, drone.in_service ? "in service" : "out of service"),
        h("td", {}, `${p.x.toFixed(1)}, ${p.y.toFixed(1)}, ${p.z.toFixed(1)}`),
        h("td", { class: "message" }, drone.message || ""));
    }) : h("tr", {}, h("td", { colspan: "9", class: "empty" },
      ctx.store.link.state === "up" ? "No drones in /fleet/summary yet" : "Bridge link down: no live data")));
  }

  return { update, unmount: () => {} };
}

export function mountDroneDetail(root, ctx, droneId) {
  const camera = h("img", { id: "camera", width: "320", height: "240", alt: `${droneId} camera` });
  const cameraInfo = h("p", { class: "hint", id: "camera-info" }, "waiting for the camera…");
  const facts = h("dl", { class: "facts" });
  const timeline = h("ol", { class: "timeline", id: "drone-timeline" });
  const actions = h("div", { class: "actions" });
  replace(root, h("section", { class: "panel" },
    h("p", {}, h("a", { href: "#/drones" }, "← all drones")),
    h("h1", {}, `Drone ${droneId}`),
    h("div", { class: "detail-grid" },
      h("div", {}, h("h2", {}, "Camera"), camera, cameraInfo),
      h("div", {}, h("h2", {}, "State"), facts, actions)),
    h("h2", {}, "Mission timeline"),
    h("p", { class: "hint" }, "State changes seen since this page opened (from /fleet/summary)."),
    timeline));

  let frames = 0;
  // JPEG frames (image_transport's compressed topic): a tenth of the raw image's bytes through the bridge
  const topic = `/${droneId}/main_camera/image_raw/compressed`;
  const subscription = ctx.bridge.subscribe(topic, "sensor_msgs/CompressedImage", (msg) => {
    try {
      camera.src = jpegDataUrl(msg);
      frames += 1;
      camera.dataset.frames = String(frames);
      cameraInfo.textContent = `${topic} · ${msg.format} · frame ${frames}`;
    } catch (exc) {
      cameraInfo.textContent = `${topic}: ${exc.message}`;
    }
  }, { throttle_rate: CAMERA_THROTTLE_MS, queue_length: 1 });

  function update() {
    const drone = ctx.store.drones.get(droneId);
    if (!drone) {
      replace(facts, h("dd", {}, "This drone is not in /fleet/summary."));
      replace(actions);
      return;
    }
    const b = battery(drone);
    const p = position(drone);
    const stateName = missionStateName(drone);
    const yaw = (yawOf(drone.pose && drone.pose.orientation) * 180) / Math.PI;
    const voltage = finite(drone.battery_voltage);
    const rows = [
      ["State", pill(stateName, stateColour(stateName), { class: "pill state", id: "drone-state" })],
      ["Battery", h("span", { id: "drone-battery" }, b.known ? `${b.text}${voltage !== null ? ` · ${voltage.toFixed(2)} V` : ""}`
        : "unknown")],
      ["Link age", linkAge(drone)],
      ["Delivery", drone.delivery_id
        ? h("a", { href: `#/deliveries/${encodeURIComponent(drone.delivery_id)}` }, drone.delivery_id) : "none"],
      ["Position", `x ${p.x.toFixed(1)} m, y ${p.y.toFixed(1)} m, z ${p.z.toFixed(1)} m, heading ${yaw.toFixed(0)}°`],
      ["Speed", `${(finite(drone.speed) ?? 0).toFixed(1)} m/s`],
      ["Autopilot", drone.fcu_connected ? `${drone.armed ? "armed" : "disarmed"}, ${drone.flight_mode}` : "not connected"],
      ["Service", drone.in_service ? "in service" : "out of service"],
      ["Message", drone.message || "—"],
    ];
    replace(facts, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const busy = drone.mission_state !== 0 && drone.mission_state !== DRONE_OFFLINE;
    replace(actions, ctx.may("recall") && (busy || drone.delivery_id)
      ? h("button", { class: "danger", id: "recall-drone", onclick: () => ctx.actions.recallDrone(droneId) },
        "Send home") : null);
    const entries = ctx.store.timelines.get(droneId) || [];
    replace(timeline, [...entries].reverse().map((entry) => h("li", {},
      h("span", { class: "when" }, clock(entry.t)), " ",
      pill(entry.state, stateColour(entry.state), { class: "pill state" }),
      entry.delivery_id ? ` delivery ${entry.delivery_id}` : "",
      entry.message ? h("span", { class: "hint" }, ` — ${entry.message}`) : "")));
  }

  return { update, unmount: () => subscription.unsubscribe() };
}
