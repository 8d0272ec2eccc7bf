/*
 * The tab's WebSocket (SPEC §5): connects, reconnects by itself with backoff, resumes from the
 * snapshot, applies numbered messages in order and asks for a resync on a gap or a silence.
 *
 * States shown to the user: "connected", "reconnecting" (trying again soon) and "offline"
 * (the browser is offline, the server refused the tab, or several tries in a row failed;
 * it keeps trying in the background unless the tab was refused for good).
 */

const PING_EVERY_MS = 20000;
const SILENCE_RESYNC_MS = 15000;
const SILENCE_DROP_MS = 45000;
const RESYNC_THROTTLE_MS = 3000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const FAILURES_BEFORE_OFFLINE = 4;
const REFUSED_CODES = [4400, 4403];
const REFUSED_RETRIES = 3;
const NUMBERED = ["job.updated", "lock.updated"];

/**
 * Open the socket of `tab`. `handlers` maps a message type to a function; `onState(state,
 * detail)` hears the connection state; `hasActiveJob()` says whether silence is suspicious.
 */
export function openTabSocket({ tab, handlers, onState, hasActiveJob, onRefused }) {
  const s = {
    socket: null,
    seq: null,
    failures: 0,
    refused: 0,
    timer: null,
    retryAt: 0,
    lastHeard: 0,
    lastPing: 0,
    lastResync: 0,
    state: null,
  };

  function setState(value) {
    s.state = value;
    onState(value, { retryAt: s.retryAt });
  }

  function connect() {
    clearTimeout(s.timer);
    s.timer = null;
    if (s.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/tabs/${encodeURIComponent(tab)}/`);
    s.socket = ws;
    if (s.state !== "offline") setState("reconnecting");
    ws.addEventListener("open", () => {
      if (s.socket !== ws) return;
      s.lastHeard = Date.now();
      s.lastPing = Date.now();
      setState("connected");
    });
    ws.addEventListener("message", (event) => {
      if (s.socket === ws) receive(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (s.socket !== ws) return;
      s.socket = null;
      closed(event.code);
    });
  }

  function closed(code) {
    s.failures += 1;
    if (REFUSED_CODES.includes(code)) {
      s.refused += 1;
      setState("offline");
      if (s.refused > REFUSED_RETRIES) {
        onRefused(code);
        return;
      }
    }
    scheduleReconnect();
  }

  /** Exponential backoff, 0.5 s doubling to 10 s, with "equal jitter". */
  function scheduleReconnect() {
    if (s.timer) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, s.failures - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    s.retryAt = Date.now() + delay;
    s.timer = setTimeout(connect, delay);
    const offline = !navigator.onLine || s.refused > 0 || s.failures >= FAILURES_BEFORE_OFFLINE;
    setState(offline ? "offline" : "reconnecting");
  }

  /** Give up on a socket that went silent (no close event yet) and start over. */
  function drop() {
    const ws = s.socket;
    s.socket = null;
    if (ws) ws.close();
    s.failures += 1;
    scheduleReconnect();
  }

  function send(message) {
    const ws = s.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  function resync() {
    const now = Date.now();
    if (now - s.lastResync < RESYNC_THROTTLE_MS) return;
    if (send({ type: "tab.resync" })) s.lastResync = now;
  }

  /**
   * SPEC §5 ordering: apply a numbered message only if it is the next one. A gap means a
   * message was lost: ask for a snapshot (which will include this one) and skip it.
   */
  function inOrder(msg) {
    if (typeof msg.seq !== "number" || s.seq === null) return true;
    if (msg.seq <= s.seq) return false;
    if (msg.seq > s.seq + 1) {
      resync();
      return false;
    }
    s.seq = msg.seq;
    return true;
  }

  function receive(raw) {
    s.lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "tab.snapshot") {
      s.seq = typeof msg.seq === "number" ? msg.seq : null;
      s.failures = 0;
      s.refused = 0;
      s.lastResync = 0;
    } else if (msg.type === "owner.changed") {
      // A sign-in adopted this tab: this socket speaks for the old session. Start over
      // with the new cookie (the server closes its side too, where events cross a layer).
      drop();
      return;
    } else if (NUMBERED.includes(msg.type) && !inOrder(msg)) {
      return;
    }
    const handler = handlers[msg.type];
    if (handler) handler(msg);
  }

  /** Every second: pings, the silence watchdog. */
  function heartbeat() {
    const ws = s.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - s.lastPing >= PING_EVERY_MS) {
      s.lastPing = now;
      send({ type: "ping" });
    }
    if (now - s.lastHeard >= SILENCE_DROP_MS) {
      drop();
      return;
    }
    const quietSince = Math.max(s.lastHeard, s.lastResync);
    if (hasActiveJob() && now - quietSince >= SILENCE_RESYNC_MS) resync();
  }

  connect();
  setInterval(heartbeat, 1000);
  window.addEventListener("online", () => {
    if (!s.socket && s.refused <= REFUSED_RETRIES) connect();
  });
  window.addEventListener("offline", () => {
    if (s.state !== "connected") setState("offline");
  });
  return { send, resync, connectNow: connect };
}
