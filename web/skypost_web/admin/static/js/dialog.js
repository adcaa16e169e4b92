// A confirmation dialog (<dialog>) with an optional reason; resolves with the reason or null when cancelled.
import { h, replace } from "./dom.js";

export function confirmAction({ title, body, confirmLabel = "Confirm", danger = true, reason = "" }) {
  const dialog = document.getElementById("confirm-dialog");
  const input = h("input", { id: "confirm-reason", type: "text", maxlength: "200", value: reason,
    "aria-label": "Reason" });
  const form = h("form", { method: "dialog" },
    h("h2", { id: "confirm-title" }, title),
    h("p", { class: "dialog-body" }, body),
    h("label", { for: "confirm-reason" }, "Reason (kept in the delivery's history)"),
    input,
    h("menu", {},
      h("button", { type: "submit", value: "cancel", id: "confirm-no", class: "secondary" }, "Back"),
      h("button", { type: "submit", value: "ok", id: "confirm-yes", class: danger ? "danger" : "primary" },
        confirmLabel)));
  replace(dialog, form);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? input.value.trim() : null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
  });
}
