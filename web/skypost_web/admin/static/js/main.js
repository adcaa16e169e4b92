// The admin panel's entry point: login, the bridge link, the store, the router and the views.
import { Actions, SERVICES } from "./actions.js";
import { Api, ApiError } from "./api.js";
import { BridgeLink } from "./bridge.js";
import { h, replace } from "./dom.js";
import { alerts, toSec } from "./model.js";
import { may, mayUsePanel, PANEL_ROLES } from "./permissions.js";
import { Store } from "./store.js";
import { mountAlerts } from "./views/alerts.js";
import { mountCharts } from "./views/charts.js";
import { mountBoard, mountDeliveryDetail } from "./views/deliveries.js";
import { mountDroneDetail, mountDrones } from "./views/drones.js";
import { mountLockers } from "./views/lockers.js";
import { mountMap } from "./views/map.js";

const LIST_LIMIT = 500;
const ARRIVAL_LOOKUPS = 40;  // histories fetched after a (re)connect to date deliveries completed before it
const STALE_SUMMARY_S = 5;

const NAV = [
  ["#/map", "Map"], ["#/drones", "Drones"], ["#/deliveries", "Deliveries"], ["#/lockers", "Lockers"],
  ["#/alerts", "Alerts"], ["#/charts", "Charts"],
];

const root = document.getElementById("app");
let stopPanel = null;  // set while the panel runs: stops the bridge link

function fatal(message) {
  replace(root, h("div", { class: "login" }, h("h1", {}, "SkyPost admin"), h("p", { class: "error" }, message)));
}

function showLogin(api, message = "") {
  const error = h("p", { class: "error", id: "login-error", role: "alert" }, message);
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in");
  const form = h("form", { id: "login-form", class: "login", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const user = await api.login(username.value, password.value);
      if (mayUsePanel(user.role)) {
        startPanel(api);
        return;
      }
      error.textContent = await refusal(api, user);
      api.logout();
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.message : `Login failed: ${exc.message}`;
    } finally {
      submit.disabled = false;
    }
  } },
  h("h1", {}, "SkyPost admin"),
  h("p", { class: "hint" }, `For ${PANEL_ROLES.join(" and ")} accounts.`),
  h("label", { for: "username" }, "Username"), username,
  h("label", { for: "password" }, "Password"), password,
  submit, error);
  replace(root, form);
  username.focus();
}

/** Why a logged-in user without a panel role is turned away, in the server's own words. */
async function refusal(api, user) {
  let server = "";
  try {
    await api.bridgeToken();
    server = "the server issued a bridge token anyway: report this";
  } catch (exc) {
    server = `the server refused a bridge token: ${exc.message}`;
  }
  return `Access refused: the admin panel is for ${PANEL_ROLES.join(" and ")} accounts, `
    + `and ${user.username} is a ${user.role} (${server}).`;
}

function startPanel(api) {
  const user = api.user;
  const store = new Store();
  const bridge = new BridgeLink({ getToken: () => api.bridgeToken() });
  const toasts = h("div", { class: "toasts", id: "toasts", "aria-live": "polite" });
  const toast = (text, level = "info") => {
    const item = h("div", { class: `toast ${level}` }, text);
    toasts.append(item);
    setTimeout(() => item.remove(), level === "error" ? 12000 : 6000);
  };
  const actions = new Actions({ bridge, role: user.role, toast });
  const navigate = (hash) => { window.location.hash = hash; };
  const ctx = { store, bridge, api, actions, toast, navigate, role: user.role, may: (a) => may(user.role, a) };

  const linkStatus = h("span", { id: "link-status", class: "link", dataset: { state: "connecting" } });
  const banner = h("div", { id: "link-banner", class: "banner", hidden: true });
  const strip = h("div", { id: "alert-strip", class: "strip" });
  const navLinks = NAV.map(([href, label]) => h("a", { href, dataset: { nav: href } }, label,
    href === "#/alerts" ? h("span", { class: "badge", id: "alert-count" }) : null));
  const view = h("main", { id: "view" });
  replace(root,
    h("header", { class: "top" },
      h("span", { class: "brand" }, "SkyPost"),
      h("nav", {}, navLinks),
      linkStatus,
      h("span", { class: "user", id: "user" }, `${user.username} (${user.role})`),
      h("button", { class: "secondary", id: "logout", onclick: () => api.logout() }, "Log out")),
    banner, strip, view, toasts);

  // Live data: subscriptions are kept by the link and made again after every reconnect
  bridge.subscribe("/fleet/summary", "skypost/FleetSummary", (msg) => store.applySummary(msg),
    { queue_length: 1 });
  bridge.subscribe("/fleet/delivery_status", "skypost/DeliveryStatus", (msg) => store.applyDeliveryStatus(msg),
    { queue_length: 1000 });
  bridge.addEventListener("state", (event) => store.setLink({ ...event.detail, attempts: bridge.attempts }));
  bridge.addEventListener("up", () => {
    catchUp(bridge, store).catch((exc) => toast(`Could not load the deliveries: ${exc.message}`, "error"));
    if (!store.site.bases.length) loadSite(api, store, toast);
  });
  loadSite(api, store, toast);
  bridge.start();

  let current = null;
  let currentHash = "";
  const route = () => {
    const hash = window.location.hash || "#/map";
    if (hash === currentHash && current) return;
    if (current) current.unmount();
    currentHash = hash;
    const [, section, id] = hash.split("/").map(decodeURIComponent);
    const mounts = {
      map: () => mountMap(view, ctx),
      drones: () => (id ? mountDroneDetail(view, ctx, id) : mountDrones(view, ctx)),
      deliveries: () => (id ? mountDeliveryDetail(view, ctx, id) : mountBoard(view, ctx)),
      lockers: () => mountLockers(view, ctx),
      alerts: () => mountAlerts(view, ctx),
      charts: () => mountCharts(view, ctx),
    };
    current = (mounts[section] || mounts.map)();
    for (const link of navLinks) link.classList.toggle("active", hash.startsWith(link.dataset.nav));
    current.update("route");
  };
  window.addEventListener("hashchange", route);

  // Redraw once per frame at most, whatever the message rate
  let pending = new Set();
  store.addEventListener("change", (event) => {
    if (!pending.size) {
      requestAnimationFrame(() => {
        const topics = pending;
        pending = new Set();
        renderChrome(store, bridge, linkStatus, banner, strip);
        if (current) for (const topic of topics) current.update(topic);
      });
    }
    pending.add(event.detail.topic);
  });
  const timer = setInterval(() => renderChrome(store, bridge, linkStatus, banner, strip), 1000);
  stopPanel = () => {
    bridge.stop();
    clearInterval(timer);
    window.removeEventListener("hashchange", route);
    if (current) current.unmount();
    current = null;
  };
  route();
  renderChrome(store, bridge, linkStatus, banner, strip);
}

async function loadSite(api, store, toast) {
  try {
    store.setSite(await api.site());
  } catch (exc) {
    toast(`Site layout unavailable: ${exc.message}`, "error");
  }
}

/** After each (re)connect: every delivery's current state, then arrival times of those completed meanwhile. */
async function catchUp(bridge, store) {
  const [listName, listType] = SERVICES.list;
  const answer = await bridge.call(listName, listType, { states: [], limit: LIST_LIMIT });
  if (!answer.success) throw new Error(answer.message);
  store.loadDeliveries(answer.deliveries);
  const [getName, getType] = SERVICES.get;
  for (const record of store.missingArrivals().slice(0, ARRIVAL_LOOKUPS)) {
    record.history_checked = true;
    if (bridge.state !== "up") return;
    const got = await bridge.call(getName, getType, { delivery_id: record.delivery_id });
    if (got.success) store.applyHistory(got.status, got.history);
  }
}

function renderChrome(store, bridge, linkStatus, banner, strip) {
  const link = store.link;
  const age = store.summaryAge();
  const state = link.state === "up" && age > STALE_SUMMARY_S && Number.isFinite(age) ? "stale" : link.state;
  linkStatus.dataset.state = state;
  linkStatus.dataset.connections = String(bridge.connections);
  linkStatus.dataset.summaryStamp = store.summary ? String(toSec(store.summary.header && store.summary.header.stamp)) : "";
  const retryIn = Math.max(0, Math.ceil((bridge.retryAt - Date.now()) / 1000));
  linkStatus.textContent = {
    up: "Bridge: connected", stale: `Bridge: connected, no fleet summary for ${Math.round(age)} s`,
    connecting: "Bridge: connecting…", down: `Bridge: DOWN, retry in ${retryIn} s`, refused: "Bridge: refused",
    stopped: "Bridge: stopped",
  }[state] || `Bridge: ${state}`;
  const down = link.state !== "up";
  banner.hidden = !down;
  if (down) {
    replace(banner,
      h("strong", {}, link.state === "refused" ? "Bridge access refused. " : "Bridge link down. "),
      link.state === "refused" ? link.detail
        : `Live data is frozen; reconnecting by itself (attempt ${bridge.attempts || 1})${link.detail ? `: ${link.detail}` : ""}. `,
      link.state === "refused" ? null
        : h("button", { class: "secondary", id: "reconnect-now", onclick: () => bridge.reconnectNow() }, "Retry now"));
  }
  const list = alerts(store).filter((a) => a.kind !== "bridge");
  const count = document.getElementById("alert-count");
  if (count) {
    count.textContent = list.length ? String(list.length) : "";
    count.classList.toggle("error", list.some((a) => a.level === "error"));
  }
  replace(strip, list.slice(0, 5).map((a) => h("a", { class: `chip ${a.level}`, href: a.href || "#/alerts",
    dataset: { kind: a.kind } }, a.text)),
  list.length > 5 ? h("a", { class: "chip more", href: "#/alerts" }, `${list.length - 5} more`) : null);
  strip.hidden = !list.length;
}

function boot() {
  if (!globalThis.ROSLIB) {
    fatal("roslibjs did not load (/admin/vendor/roslib.min.js): run `make deps` on the server.");
    return;
  }
  const api = new Api({ onSession: (session) => {
    if (session || !stopPanel) return;
    // Logged out, or the refresh token expired: back to the login form
    stopPanel();
    stopPanel = null;
    window.location.hash = "";
    showLogin(api, "You are logged out.");
  } });
  if (api.user && mayUsePanel(api.user.role)) startPanel(api);
  else showLogin(api);
}

boot();
