// Operator actions: each asks for confirmation, calls the fleet or locker service through the bridge and says
// what happened. Roles that may not act never see the buttons (permissions.js); the bridge refuses them too.
import { confirmAction } from "./dialog.js";
import { may } from "./permissions.js";

export const SERVICES = {
  cancel: ["/fleet/cancel_delivery", "skypost/CancelDelivery"],
  retry: ["/fleet/retry_delivery", "skypost/RetryDelivery"],
  recall: ["/fleet/recall_drone", "skypost/RecallDrone"],
  pause: ["/fleet/set_paused", "skypost/SetSitePaused"],
  get: ["/fleet/get_delivery", "skypost/GetDelivery"],
  list: ["/fleet/list_deliveries", "skypost/ListDeliveries"],
};

export function openCellService(lockerId) {
  return [`/lockers/${lockerId}/open_cell`, "skypost/OpenCell"];
}

export class Actions {
  constructor({ bridge, role, toast, onDone = () => {} }) {
    this.bridge = bridge;
    this.role = role;
    this.toast = toast;
    this.onDone = onDone;
  }

  async run(action, { title, body, confirmLabel, service, request, reasonDefault, danger = true }) {
    if (!may(this.role, action)) {
      this.toast(`Your role (${this.role}) may not ${action}`, "error");
      return null;
    }
    const reason = await confirmAction({ title, body, confirmLabel, danger, reason: reasonDefault });
    if (reason === null) return null;
    const [name, type] = service;
    try {
      const response = await this.bridge.call(name, type, { ...request, reason: reason || reasonDefault });
      if (!response.success) {
        this.toast(`${title}: refused: ${response.message || "no reason given"}`, "error");
      } else {
        this.toast(`${title}: done${response.message ? ` (${response.message})` : ""}`, "ok");
      }
      this.onDone(action, response);
      return response;
    } catch (exc) {
      this.toast(`${title}: ${exc.message}`, "error");
      return null;
    }
  }

  cancelDelivery(id) {
    return this.run("cancel", { title: `Cancel delivery ${id}`, confirmLabel: "Cancel delivery",
      body: "Queued: it is dropped. In flight: the cell is released and the drone brings the parcel back.",
      service: SERVICES.cancel, request: { delivery_id: id }, reasonDefault: "cancelled by operator" });
  }

  retryDelivery(id) {
    return this.run("retry", { title: `Retry delivery ${id}`, confirmLabel: "Queue again", danger: false,
      body: "The failed delivery is queued again as a new attempt.",
      service: SERVICES.retry, request: { delivery_id: id }, reasonDefault: "retried by operator" });
  }

  recallDrone(droneId) {
    return this.run("recall", { title: `Send ${droneId} home`, confirmLabel: "Send home",
      body: "The drone's delivery (if any) is cancelled and the drone returns to its base now.",
      service: SERVICES.recall, request: { drone_id: droneId }, reasonDefault: "recalled by operator" });
  }

  openCell(lockerId, cellId) {
    return this.run("open_cell", { title: `Open ${lockerId} cell ${cellId}`, confirmLabel: "Open cell",
      body: "Maintenance opening: the cell unlocks whatever its reservation. Someone must be at the locker.",
      service: openCellService(lockerId), request: { cell_id: cellId, reservation_id: "", maintenance: true },
      reasonDefault: "maintenance" });
  }

  setPaused(paused) {
    return this.run("pause", { title: paused ? "Pause the site" : "Resume the site",
      confirmLabel: paused ? "Pause dispatch" : "Resume dispatch", danger: paused,
      body: paused ? "No new delivery is dispatched; flights in progress finish."
        : "Queued deliveries are dispatched again.",
      service: SERVICES.pause, request: { paused }, reasonDefault: paused ? "paused by operator" : "" });
  }
}
