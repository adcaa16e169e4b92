// Who may do what in the panel. The panel only hides what a role may not do: the web app refuses bridge
// tokens to other roles and the bridge's per-role allow-lists (config/bridge.yaml) refuse the calls themselves.

export const PANEL_ROLES = ["admin", "operator"];

const ACTIONS = {
  cancel: PANEL_ROLES,  // /fleet/cancel_delivery
  retry: PANEL_ROLES,  // /fleet/retry_delivery
  recall: PANEL_ROLES,  // /fleet/recall_drone
  open_cell: PANEL_ROLES,  // /lockers/<id>/open_cell with maintenance=true
  pause: PANEL_ROLES,  // /fleet/set_paused
};

export function mayUsePanel(role) {
  return PANEL_ROLES.includes(role);
}

export function may(role, action) {
  return (ACTIONS[action] || []).includes(role);
}
