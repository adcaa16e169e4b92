// The web app's REST API (/api/v1): login, token refresh, the bridge token, the site layout.
// The session (tokens and user) lives in sessionStorage: it ends with the tab and is never sent to the bridge.

const API = "/api/v1";
const SESSION_KEY = "skypost.admin.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function loadSession(storage = globalThis.sessionStorage) {
  try {
    const session = JSON.parse(storage.getItem(SESSION_KEY) || "null");
    return session && session.access_token && session.user ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session, storage = globalThis.sessionStorage) {
  if (session) storage.setItem(SESSION_KEY, JSON.stringify(session));
  else storage.removeItem(SESSION_KEY);
}

async function request(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit" });
  } catch (exc) {
    throw new ApiError(0, "network", `the web app is not reachable: ${exc.message}`);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError(response.status, "bad_response", `unexpected answer (HTTP ${response.status})`);
  }
  if (!response.ok || !envelope.success) {
    const error = envelope.error || {};
    throw new ApiError(response.status, error.code || "error", error.message || `HTTP ${response.status}`);
  }
  return envelope.data;
}

/** The API with the session's tokens; an expired access token is refreshed once, then the call is repeated. */
export class Api {
  constructor({ onSession = () => {} } = {}) {
    this.session = loadSession();
    this.onSession = onSession;
  }

  get user() {
    return this.session ? this.session.user : null;
  }

  async login(username, password) {
    const data = await request("POST", `${API}/auth/login`, { body: { username, password } });
    this.setSession({ access_token: data.access_token, refresh_token: data.refresh_token, user: data.user });
    return data.user;
  }

  logout() {
    this.setSession(null);
  }

  setSession(session) {
    this.session = session;
    saveSession(session);
    this.onSession(session);
  }

  async authed(method, path, body) {
    if (!this.session) throw new ApiError(401, "unauthorized", "not logged in");
    try {
      return await request(method, path, { body, token: this.session.access_token });
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status !== 401 || !this.session.refresh_token) throw exc;
      await this.refresh();
      return request(method, path, { body, token: this.session.access_token });
    }
  }

  async refresh() {
    try {
      const data = await request("POST", `${API}/auth/refresh`, { token: this.session.refresh_token });
      this.setSession({ ...this.session, access_token: data.access_token });
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 401) this.logout();
      throw exc;
    }
  }

  /** {token, expires_at, url, role}: a short-lived token for the rosbridge auth op (admin and operator only). */
  bridgeToken() {
    return this.authed("POST", `${API}/bridge/token`);
  }

  site() {
    return this.authed("GET", "/admin/api/site");
  }
}
