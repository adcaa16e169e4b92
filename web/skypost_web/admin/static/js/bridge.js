// The bridge link: one rosbridge v2 WebSocket (roslibjs) that authenticates with a token from the web app,
// notices when it drops, reconnects with backoff and subscribes everything again (roslibjs does not).
//
// States: "connecting" (asking for a token or opening the socket), "up" (authenticated, subscriptions sent),
// "down" (closed; a retry is scheduled), "refused" (the web app will not issue a token: no retry), "stopped".
// A link that stays silent is probed (/rosapi/get_time): no answer at all means a dead socket the browser has not
// noticed (or a page too starved to read it), and the link is dropped and made again.

export class BridgeError extends Error {
  /** kind: "down" (no link), "refused" (the bridge or the service said no), "timeout" (no answer). */
  constructor(message, kind) {
    super(message);
    this.kind = kind;
  }
}

const DEFAULTS = { initialDelay: 1000, maxDelay: 8000, callTimeout: 10000, clientName: "skypost-admin-panel",
  silence: 10000, probeTimeout: 5000, probeService: ["/rosapi/get_time", "rosapi/GetTime"] };

export class BridgeLink extends EventTarget {
  /**
   * getToken: async () => {token, url, role, expires_at} (POST /api/v1/bridge/token); an error with
   * status 401/403 stops the link ("refused"), any other error is retried.
   */
  constructor({ getToken, roslib = globalThis.ROSLIB, ...options }) {
    super();
    this.getToken = getToken;
    this.roslib = roslib;
    this.options = { ...DEFAULTS, ...options };
    this.state = "stopped";
    this.detail = "";
    this.url = "";
    this.attempts = 0;
    this.connections = 0;  // successful connections so far (1 after the first, 2 after a reconnect, ...)
    this.retryAt = 0;
    this.ros = null;
    this.subscriptions = new Set();
    this.pending = new Set();
    this.retryTimer = null;
    this.watchdog = null;
    this.lastHeard = 0;  // ms (Date.now) of the last message or answer on the current connection
    this.probing = false;
  }

  start() {
    if (this.state !== "stopped" && this.state !== "refused") return;
    this.attempts = 0;
    this.connect();
  }

  stop() {
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.watchdog = null;
    const ros = this.ros;
    this.ros = null;
    this.detachAll();
    this.failPending("the bridge link was stopped");
    this.setState("stopped", "");
    if (ros) ros.close();
  }

  setState(state, detail) {
    this.state = state;
    this.detail = detail || "";
    this.dispatchEvent(new CustomEvent("state", { detail: { state, detail: this.detail } }));
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.setState("connecting", this.attempts ? `attempt ${this.attempts + 1}` : "");
    let grant;
    try {
      grant = await this.getToken();
    } catch (exc) {
      if (exc && (exc.status === 401 || exc.status === 403)) {
        this.setState("refused", exc.message);
        return;
      }
      this.retry(`no bridge token: ${exc.message}`);
      return;
    }
    if (this.state !== "connecting") return;  // stopped meanwhile
    this.url = grant.url;
    const ros = new this.roslib.Ros({});
    this.ros = ros;
    ros.on("connection", () => this.onOpen(ros, grant));
    ros.on("close", () => this.onClose(ros));
    ros.on("error", () => {});  // a close always follows; its handler does the work
    ros.on("status", (msg) => {
      if (ros === this.ros && msg && (msg.level === "error" || msg.level === "warning")) this.detail = msg.msg || "";
    });
    try {
      ros.connect(grant.url);
    } catch (exc) {
      this.onClose(ros, `cannot open ${grant.url}: ${exc.message}`);
    }
  }

  onOpen(ros, grant) {
    if (ros !== this.ros) return;
    const now = Date.now() / 1000;
    const end = Date.parse(grant.expires_at) / 1000 || 0;
    const rand = Math.random().toString(36).slice(2);
    // The token goes first: the bridge accepts nothing else before the auth op
    ros.authenticate(grant.token, this.options.clientName, grant.url, rand, now, grant.role || "", end);
    this.attempts = 0;
    this.connections += 1;
    this.lastHeard = Date.now();
    this.probing = false;
    if (!this.watchdog) this.watchdog = setInterval(() => this.checkSilence(), Math.max(50, this.options.silence / 2));
    for (const sub of this.subscriptions) this.attach(sub);
    this.setState("up", grant.url);
    this.dispatchEvent(new CustomEvent("up", { detail: { connections: this.connections } }));
  }

  onClose(ros, why = "") {
    if (ros !== this.ros) return;
    this.ros = null;
    this.detachAll();
    this.failPending("the bridge link went down");
    this.retry(why || this.detail || `connection to ${this.url} closed`);
  }

  /** Probe a link that has been silent for `silence` ms; drop it when the probe gets no answer at all. */
  checkSilence() {
    if (this.state !== "up" || this.probing || Date.now() - this.lastHeard < this.options.silence) return;
    const ros = this.ros;
    const [name, type] = this.options.probeService;
    this.probing = true;
    this.call(name, type, {}, this.options.probeTimeout)
      .catch((exc) => {
        if (exc.kind === "timeout" && ros === this.ros) {
          this.onClose(ros, `no answer from the bridge for ${Math.round((Date.now() - this.lastHeard) / 1000)} s`);
          ros.close();
        }
      })
      .finally(() => { this.probing = false; });
  }

  retry(why) {
    const { initialDelay, maxDelay } = this.options;
    const delay = Math.min(maxDelay, initialDelay * 2 ** this.attempts) * (0.8 + 0.4 * Math.random());
    this.attempts += 1;
    this.retryAt = Date.now() + delay;
    this.setState("down", why);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnect now (the "retry now" button). */
  reconnectNow() {
    if (this.state === "down" || this.state === "refused") {
      this.attempts = 0;
      this.connect();
    }
  }

  /**
   * Subscribe for as long as the returned handle is not unsubscribed: across reconnects too.
   * options: throttle_rate (ms), queue_length.
   */
  subscribe(name, type, callback, options = {}) {
    const sub = { name, type, callback, options, topic: null };
    this.subscriptions.add(sub);
    if (this.state === "up" && this.ros) this.attach(sub);
    return {
      unsubscribe: () => {
        this.subscriptions.delete(sub);
        this.detach(sub);
      },
    };
  }

  attach(sub) {
    const topic = new this.roslib.Topic({ ros: this.ros, name: sub.name, messageType: sub.type,
      throttle_rate: sub.options.throttle_rate || 0, queue_length: sub.options.queue_length || 0,
      reconnect_on_close: false });
    // roslibjs 1.4 assigns ros.callOnConnection unbound when reconnect_on_close is false: bind it here
    const ros = this.ros;
    topic.callForSubscribeAndAdvertise = (message) => ros.callOnConnection(message);
    topic.subscribe((msg) => {
      if (sub.topic !== topic) return;
      this.lastHeard = Date.now();
      sub.callback(msg);
    });
    sub.topic = topic;
  }

  detach(sub) {
    const topic = sub.topic;
    sub.topic = null;
    if (topic && this.ros && this.state === "up") topic.unsubscribe();
  }

  detachAll() {
    for (const sub of this.subscriptions) sub.topic = null;
  }

  /** Call a ROS service through the bridge: resolves with the response, rejects on refusal, link loss, timeout. */
  call(name, type, request, timeout = this.options.callTimeout) {
    return new Promise((resolve, reject) => {
      if (this.state !== "up" || !this.ros) {
        reject(new BridgeError(`the bridge link is ${this.state}: ${name} was not called`, "down"));
        return;
      }
      const entry = {};
      const settle = (fn, value) => {
        if (!this.pending.has(entry)) return;
        this.pending.delete(entry);
        clearTimeout(entry.timer);
        fn(value);
      };
      const heard = (fn) => (value) => {
        this.lastHeard = Date.now();
        fn(value);
      };
      entry.fail = (message, kind = "down") => settle(reject, new BridgeError(message, kind));
      entry.timer = setTimeout(() => entry.fail(`${name} did not answer within ${timeout / 1000} s`, "timeout"),
        timeout);
      this.pending.add(entry);
      const service = new this.roslib.Service({ ros: this.ros, name, serviceType: type });
      service.callService(request, heard((response) => settle(resolve, response)), heard((error) => entry.fail(
        `${name} refused: ${typeof error === "string" ? error : JSON.stringify(error)}`, "refused")));
    });
  }

  failPending(message) {
    for (const entry of [...this.pending]) entry.fail(message);
  }
}
