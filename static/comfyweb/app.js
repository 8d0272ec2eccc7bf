/*
 * ComfyWeb run page: the workflow form, this tab's job cards and the tab's WebSocket.
 *
 * SPEC §1 (tab identity), §4 (HTTP API), §5 (tab WebSocket), §7 (page hooks).
 * Plain script, no build step. All server text goes in through textContent.
 */
(() => {
  "use strict";

  const TAB_KEY = "comfyweb.tab";
  const TAB_CHANNEL = "comfyweb.tabs";
  const HELLO_WAIT_MS = 150;
  const PING_EVERY_MS = 20000;
  const SILENCE_RESYNC_MS = 15000;
  const SILENCE_DROP_MS = 45000;
  const RESYNC_THROTTLE_MS = 3000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const REFUSED_CODES = [4400, 4403];
  const REFUSED_RETRIES = 3;
  const NOTICE_MS = 10000;
  const ACTIVE = ["pending", "queued", "running"];
  const STATUS_RANK = { pending: 0, queued: 1, running: 2, succeeded: 3, failed: 3, cancelled: 3 };
  const STATUS_TEXT = {
    pending: "Pending", queued: "Queued", running: "Running",
    succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled",
  };
  const SOCKET_TEXT = { connected: "Live", reconnecting: "Connecting…", offline: "Offline" };
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  /** The one piece of mutable module state. */
  const state = {
    tab: null,
    workflows: new Map(), // slug -> workflow
    fields: [], // {param, node, read(), busy}
    jobs: new Map(), // id -> JOB
    cards: new Map(), // id -> card view (element refs)
    previews: new Map(), // id -> data URL
    seq: null,
    socket: null,
    backoff: 0,
    refused: 0,
    reconnectTimer: null,
    lastHeard: 0,
    lastPing: 0,
    lastResync: 0,
    noticeTimer: null,
    dom: {},
  };

  // ---------------------------------------------------------------- helpers

  /** createElement with attributes; `text` sets textContent. Children may be strings. */
  function h(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function newUuid() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not (plain http on a LAN).
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** A uniformly random integer in [0, 2**53 - 1]. */
  function randomSeed() {
    const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
    return (hi & 0x1fffff) * 2 ** 32 + lo;
  }

  function readStorage(key) {
    try { return sessionStorage.getItem(key); } catch { return null; }
  }

  function writeStorage(key, value) {
    try { sessionStorage.setItem(key, value); } catch { /* private mode: the id lives in memory */ }
  }

  /** Small images (an 8×8 test input) scale up crisp instead of as a blur. */
  function pixelateWhenSmall(img) {
    img.addEventListener("load", () => img.classList.toggle("pixelated", img.naturalWidth < 128));
    return img;
  }

  function isActive(job) {
    return ACTIVE.includes(job.status);
  }

  function formatTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function formatDuration(ms) {
    const total = Math.max(0, Math.round(ms / 1000));
    if (total < 60) return `${total}s`;
    const minutes = Math.floor(total / 60);
    const seconds = String(total % 60).padStart(2, "0");
    if (minutes < 60) return `${minutes}m ${seconds}s`;
    return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
  }

  function workflowName(slug) {
    const workflow = state.workflows.get(slug);
    return workflow ? workflow.name : slug;
  }

  // ------------------------------------------------------------------- HTTP

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /** fetch a JSON API route; throws Error(message) with .code on a 4xx/5xx or network failure. */
  async function api(method, url, body) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw Object.assign(new Error("Could not reach ComfyWeb. Check your connection."), { code: "network" });
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      const message = error.message || `Request failed (HTTP ${response.status}).`;
      throw Object.assign(new Error(message), { code: error.code || `http_${response.status}` });
    }
    return data;
  }

  // ------------------------------------------------------------ tab identity

  /**
   * Resolve this tab's id. A duplicated tab copies sessionStorage, so a stored id is
   * announced on a BroadcastChannel first; a live tab owning it answers "taken" and
   * this (newer) tab then takes a fresh id (SPEC §1).
   */
  function claimTabId() {
    let id = readStorage(TAB_KEY);
    const stored = Boolean(id && UUID_RE.test(id));
    if (!stored) {
      id = newUuid();
      writeStorage(TAB_KEY, id);
    }
    if (typeof BroadcastChannel !== "function") return Promise.resolve(id);
    const channel = new BroadcastChannel(TAB_CHANNEL);
    state.dom.channel = channel;
    // A freshly made id cannot clash: no need to ask.
    const claimed = stored ? askIfTaken(channel, id) : Promise.resolve(id);
    return claimed.then((finalId) => {
      channel.addEventListener("message", answerHello);
      return finalId;
    });
  }

  function askIfTaken(channel, id) {
    return new Promise((resolve) => {
      const nonce = newUuid();
      const onMessage = (event) => {
        const msg = event.data || {};
        if (msg.type !== "taken" || msg.tab !== id || msg.nonce !== nonce) return;
        finish(newUuid());
      };
      const timer = setTimeout(() => finish(id), HELLO_WAIT_MS);
      function finish(finalId) {
        clearTimeout(timer);
        channel.removeEventListener("message", onMessage);
        writeStorage(TAB_KEY, finalId);
        resolve(finalId);
      }
      channel.addEventListener("message", onMessage);
      channel.postMessage({ type: "hello", tab: id, nonce });
    });
  }

  function answerHello(event) {
    const msg = event.data || {};
    if (msg.type === "hello" && state.tab && msg.tab === state.tab) {
      event.target.postMessage({ type: "taken", tab: msg.tab, nonce: msg.nonce });
    }
  }

  // ----------------------------------------------------------------- socket

  function setSocketState(value) {
    const indicator = state.dom.socket;
    if (!indicator) return;
    indicator.dataset.socket = value;
    state.dom.socketText.textContent = SOCKET_TEXT[value];
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/tabs/${encodeURIComponent(state.tab)}/`);
    state.socket = ws;
    if (state.refused === 0) setSocketState("reconnecting");
    ws.addEventListener("open", () => {
      if (state.socket !== ws) return;
      state.lastHeard = Date.now();
      state.lastPing = Date.now();
      setSocketState("connected");
    });
    ws.addEventListener("message", (event) => {
      if (state.socket === ws) onSocketMessage(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (state.socket !== ws) return;
      state.socket = null;
      onSocketClosed(event.code);
    });
  }

  function onSocketClosed(code) {
    if (REFUSED_CODES.includes(code)) {
      state.refused += 1;
      setSocketState("offline");
      if (state.refused > REFUSED_RETRIES) {
        showNotice(`The server refused this tab's live connection (code ${code}). Reload the page to try again.`);
        return;
      }
    } else {
      setSocketState("reconnecting");
    }
    scheduleReconnect();
  }

  /** Exponential backoff, 0.5 s doubling to 10 s, with "equal jitter". */
  function scheduleReconnect() {
    if (state.reconnectTimer) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.backoff);
    state.backoff += 1;
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  /** Give up on a socket that went silent (no close event yet) and start over. */
  function dropSocket() {
    const ws = state.socket;
    state.socket = null;
    if (ws) ws.close();
    setSocketState("reconnecting");
    scheduleReconnect();
  }

  function send(message) {
    const ws = state.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  function requestResync() {
    const now = Date.now();
    if (now - state.lastResync < RESYNC_THROTTLE_MS) return;
    if (send({ type: "tab.resync" })) state.lastResync = now;
  }

  /** Runs every second: pings, silence watchdog, elapsed times. */
  function heartbeat() {
    updateElapsed();
    const ws = state.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - state.lastPing >= PING_EVERY_MS) {
      state.lastPing = now;
      send({ type: "ping" });
    }
    if (now - state.lastHeard >= SILENCE_DROP_MS) {
      dropSocket();
      return;
    }
    const quietSince = Math.max(state.lastHeard, state.lastResync);
    if (hasActiveJob() && now - quietSince >= SILENCE_RESYNC_MS) requestResync();
  }

  function hasActiveJob() {
    for (const job of state.jobs.values()) if (isActive(job)) return true;
    return false;
  }

  // --------------------------------------------------------------- messages

  const HANDLERS = {
    "tab.snapshot": applySnapshot,
    "job.updated": (msg) => inOrder(msg) && msg.job && upsertJob(msg.job),
    "lock.updated": (msg) => inOrder(msg) && renderLock(msg.lock),
    "job.progress": applyProgress,
    "job.preview": applyPreview,
    error: (msg) => showNotice(msg.message || "Something went wrong.", msg.code),
    pong: () => {},
  };

  function onSocketMessage(raw) {
    state.lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    const handler = msg && HANDLERS[msg.type];
    if (handler) handler(msg);
  }

  /**
   * SPEC §5 ordering: apply a numbered message only if it is the next one. A gap means a
   * message was lost: ask for a snapshot (which will include this one) and skip it.
   */
  function inOrder(msg) {
    if (typeof msg.seq !== "number" || state.seq === null) return true;
    if (msg.seq <= state.seq) return false;
    if (msg.seq > state.seq + 1) {
      requestResync();
      return false;
    }
    state.seq = msg.seq;
    return true;
  }

  /** A snapshot is the whole truth for this tab: replace every card and the lock. */
  function applySnapshot(msg) {
    state.seq = typeof msg.seq === "number" ? msg.seq : null;
    state.backoff = 0;
    state.refused = 0;
    state.lastResync = 0;
    for (const view of state.cards.values()) view.root.remove();
    state.cards.clear();
    state.jobs.clear();
    const jobs = Array.isArray(msg.jobs) ? msg.jobs : [];
    for (const job of jobs) upsertJob(job, { reorder: false });
    for (const id of state.previews.keys()) if (!state.jobs.has(id)) state.previews.delete(id);
    sortCards();
    renderLock(msg.lock);
    updateEmptyState();
  }

  function applyProgress(msg) {
    const job = state.jobs.get(msg.job);
    if (!job || !isActive(job)) return;
    job.progress = { value: msg.value, max: msg.max, node: msg.node };
    renderProgress(state.cards.get(job.id), job);
  }

  function applyPreview(msg) {
    const job = state.jobs.get(msg.job);
    if (!job || !isActive(job) || typeof msg.image !== "string" || !msg.image.startsWith("data:image/")) return;
    state.previews.set(job.id, msg.image);
    renderPreview(state.cards.get(job.id), job);
  }

  function renderLock(lock) {
    const node = state.dom.lock;
    node.dataset.lockServer = lock && lock.server ? lock.server : "";
    if (lock && lock.server) {
      const since = formatTime(lock.since);
      state.dom.lockText.textContent = since ? `Server: ${lock.server} since ${since}` : `Server: ${lock.server}`;
    } else {
      state.dom.lockText.textContent = "No server locked";
    }
    return true;
  }

  function showNotice(message, code) {
    const node = state.dom.notice;
    node.textContent = code ? `${message} (${code})` : message;
    node.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(() => { node.hidden = true; }, NOTICE_MS);
  }

  // -------------------------------------------------------------- job cards

  /** True when `incoming` is an older view of the job than `current` (HTTP replies race the socket). */
  function isStale(incoming, current) {
    if ((incoming.attempt || 1) !== (current.attempt || 1)) {
      return (incoming.attempt || 1) < (current.attempt || 1);
    }
    return (STATUS_RANK[incoming.status] ?? 0) < (STATUS_RANK[current.status] ?? 0);
  }

  function upsertJob(job, { fromHttp = false, reorder = true } = {}) {
    if (!job || !job.id) return false;
    const current = state.jobs.get(job.id);
    if (fromHttp && current && isStale(job, current)) return false;
    if (current && current.progress && !job.progress && job.status === current.status) {
      job.progress = current.progress; // keep the live bar until the next status change
    }
    state.jobs.set(job.id, job);
    if (!isActive(job)) state.previews.delete(job.id);
    let view = state.cards.get(job.id);
    const isNew = !view;
    if (isNew) {
      view = createCard(job);
      state.cards.set(job.id, view);
      state.dom.jobs.append(view.root);
    }
    renderCard(view, job);
    if (isNew && reorder) sortCards();
    updateEmptyState();
    return true;
  }

  /** Newest first by created_at. Moving nodes keeps their images loaded. */
  function sortCards() {
    const ordered = [...state.jobs.values()].sort((a, b) =>
      String(b.created_at || "").localeCompare(String(a.created_at || "")));
    for (const job of ordered) state.dom.jobs.append(state.cards.get(job.id).root);
  }

  function updateEmptyState() {
    state.dom.jobsEmpty.hidden = state.cards.size > 0;
  }

  function createCard(job) {
    const view = {
      title: h("h3", { className: "job-title" }),
      badge: h("span", { className: "badge" }),
      meta: h("p", { className: "job-meta" }),
      params: h("p", { className: "job-params" }),
      fill: h("div", { className: "bar-fill" }),
      progressText: h("span", { className: "progress-text", "aria-hidden": "true" }),
      preview: pixelateWhenSmall(h("img", { className: "job-preview", alt: "Live preview", hidden: true })),
      error: h("p", { className: "job-error", hidden: true }),
      outputs: h("div", { className: "job-outputs" }),
      actions: h("div", { className: "job-actions" }),
      outputsKey: "",
    };
    view.bar = h("div", { className: "bar", role: "progressbar", "aria-label": "Progress" }, [view.fill]);
    view.progress = h("div", { className: "job-progress", hidden: true }, [view.bar, view.progressText]);
    view.root = h("article", { className: "job", "data-job-id": job.id }, [
      h("header", { className: "job-head" }, [view.title, view.badge]),
      view.meta,
      view.params,
      view.progress,
      view.preview,
      view.error,
      view.outputs,
      view.actions,
    ]);
    return view;
  }

  function renderCard(view, job) {
    view.root.dataset.status = job.status;
    view.title.textContent = workflowName(job.workflow);
    view.badge.textContent = STATUS_TEXT[job.status] || job.status;
    view.badge.className = `badge badge-${job.status}`;
    renderMeta(view, job);
    renderParams(view, job);
    renderProgress(view, job);
    renderPreview(view, job);
    renderError(view, job);
    renderOutputs(view, job);
    renderActions(view, job);
  }

  function elapsedText(job) {
    const start = Date.parse(job.started_at || job.created_at);
    if (Number.isNaN(start)) return "";
    const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
    if (Number.isNaN(end)) return "";
    return isActive(job) ? `${formatDuration(end - start)} elapsed` : `took ${formatDuration(end - start)}`;
  }

  function renderMeta(view, job) {
    const parts = [job.server ? `on ${job.server}` : "waiting for a server"];
    if ((job.attempt || 1) > 1) parts.push(`attempt ${job.attempt}`);
    if (job.status === "queued" && typeof job.queue_position === "number") {
      parts.push(job.queue_position === 0 ? "next in queue" : `#${job.queue_position} in queue`);
    }
    const created = formatTime(job.created_at);
    if (created) parts.push(`created ${created}`);
    const elapsed = elapsedText(job);
    if (elapsed) parts.push(elapsed);
    view.meta.textContent = parts.join(" · ");
  }

  function updateElapsed() {
    for (const job of state.jobs.values()) {
      if (isActive(job)) renderMeta(state.cards.get(job.id), job);
    }
  }

  function renderParams(view, job) {
    const workflow = state.workflows.get(job.workflow);
    const params = job.params || {};
    const declared = workflow ? workflow.params : Object.keys(params).map((name) => ({ name }));
    const parts = declared
      .filter((p) => p.type !== "image" && params[p.name] !== undefined && params[p.name] !== "")
      .map((p) => `${p.label || p.name}: ${params[p.name]}`);
    view.params.textContent = parts.join(" · ");
    view.params.title = parts.join("\n");
    view.params.hidden = parts.length === 0;
  }

  function renderProgress(view, job) {
    if (!view) return;
    const show = job.status === "queued" || job.status === "running" || job.status === "pending";
    view.progress.hidden = !show;
    if (!show) return;
    const p = job.progress;
    const known = job.status === "running" && p && Number(p.max) > 0;
    view.bar.classList.toggle("bar-indeterminate", !known);
    if (known) {
      const value = Math.min(Number(p.value) || 0, Number(p.max));
      view.fill.style.width = `${(100 * value) / Number(p.max)}%`;
      view.bar.setAttribute("aria-valuemin", "0");
      view.bar.setAttribute("aria-valuemax", String(p.max));
      view.bar.setAttribute("aria-valuenow", String(value));
      const node = p.node !== null && p.node !== undefined && p.node !== "" ? ` · node ${p.node}` : "";
      view.progressText.textContent = `${value} / ${p.max}${node}`;
    } else {
      view.fill.style.width = "";
      for (const a of ["aria-valuemin", "aria-valuemax", "aria-valuenow"]) view.bar.removeAttribute(a);
      view.progressText.textContent = job.status === "running" ? "Starting…" : STATUS_TEXT[job.status];
    }
  }

  function renderPreview(view, job) {
    if (!view) return;
    const image = isActive(job) ? state.previews.get(job.id) : undefined;
    view.preview.hidden = !image;
    if (image && view.preview.getAttribute("src") !== image) view.preview.src = image;
    if (!image) view.preview.removeAttribute("src");
  }

  function renderError(view, job) {
    const error = job.status === "failed" ? job.error : null;
    view.error.hidden = !error;
    if (!error) return;
    const node = error.node !== null && error.node !== undefined && error.node !== "" ? `Node ${error.node}: ` : "";
    view.error.textContent = `${node}${error.message || error.code || "The job failed."}`;
  }

  function renderOutputs(view, job) {
    const outputs = job.status === "succeeded" && Array.isArray(job.outputs) ? job.outputs : [];
    const key = outputs.map((o) => o.url).join("\n");
    if (key === view.outputsKey) return;
    view.outputsKey = key;
    view.outputs.replaceChildren(...outputs.map(outputThumb));
    view.outputs.hidden = outputs.length === 0;
  }

  function outputThumb(output) {
    const img = h("img", {
      "data-output": true,
      src: output.url,
      alt: output.filename || "Result",
      loading: "lazy",
      width: output.width || null,
      height: output.height || null,
      className: output.width && output.width < 128 ? "pixelated" : null,
    });
    return h("a", { className: "output-link", href: output.url, target: "_blank", rel: "noopener", title: output.filename || "" }, [img]);
  }

  function renderActions(view, job) {
    const action = isActive(job) ? "cancel" : "retry";
    const current = view.actions.firstElementChild;
    if (current && current.dataset.action === action) return;
    const button = h("button", {
      type: "button",
      className: action === "cancel" ? "btn btn-small btn-ghost" : "btn btn-small",
      "data-action": action,
      text: action === "cancel" ? "Cancel" : "Retry",
    });
    view.actions.replaceChildren(button);
  }

  async function onJobAction(event) {
    const button = event.target.closest("button[data-action]");
    const card = button && button.closest("[data-job-id]");
    if (!card) return;
    const id = card.dataset.jobId;
    const action = button.dataset.action;
    if (action !== "cancel" && action !== "retry") return;
    button.disabled = true;
    try {
      const data = await api("POST", `/api/jobs/${encodeURIComponent(id)}/${action}/`);
      upsertJob(data.job, { fromHttp: true });
    } catch (error) {
      showNotice(error.message, error.code);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------- form

  function selectedWorkflow() {
    return state.workflows.get(state.dom.workflow.value);
  }

  function renderForm() {
    const workflow = selectedWorkflow();
    const description = state.dom.description;
    description.textContent = (workflow && workflow.description) || "";
    description.hidden = !description.textContent;
    state.fields = workflow ? (workflow.params || []).map(buildField) : [];
    state.dom.params.replaceChildren(...state.fields.map((f) => f.node));
    clearFormError();
    updateRunButton();
  }

  /** A labelled field wrapper; `body` is what follows the label (the control by default). */
  function fieldShell(param, control, body = [control]) {
    control.id = `field-p-${param.name}`;
    const label = h("label", { for: control.id, text: param.label || param.name });
    return h("div", { className: `field field-${param.type}` }, [label, ...body]);
  }

  function buildField(param) {
    switch (param.type) {
      case "image": return imageField(param);
      case "text": return textField(param);
      case "int":
      case "float": return numberField(param);
      case "seed": return seedField(param);
      case "choice": return choiceField(param);
      default: return inputField(param);
    }
  }

  function textField(param) {
    const control = h("textarea", { name: param.name, rows: 3 });
    control.value = param.default ?? "";
    return { param, busy: false, node: fieldShell(param, control), read: () => control.value };
  }

  function inputField(param) {
    const control = h("input", { type: "text", name: param.name });
    control.value = param.default ?? "";
    return { param, busy: false, node: fieldShell(param, control), read: () => control.value };
  }

  function numberInput(param, defaults) {
    const control = h("input", {
      type: "number",
      name: param.name,
      min: param.min ?? defaults.min,
      max: param.max ?? defaults.max,
      step: param.step ?? defaults.step,
      inputmode: param.type === "float" ? "decimal" : "numeric",
    });
    control.value = param.default ?? "";
    return control;
  }

  function readNumber(control) {
    const raw = control.value.trim();
    if (raw === "") return undefined;
    const number = Number(raw);
    return Number.isFinite(number) ? number : raw;
  }

  function numberField(param) {
    const control = numberInput(param, { step: param.type === "float" ? "any" : 1 });
    return { param, busy: false, node: fieldShell(param, control), read: () => readNumber(control) };
  }

  /** A seed field: with "randomize" on (the default), every run draws a new seed and shows it. */
  function seedField(param) {
    const control = numberInput(param, { min: 0, max: 2 ** 53 - 1, step: 1 });
    const checkId = `field-p-${param.name}-randomize`;
    const randomize = h("input", { type: "checkbox", id: checkId, checked: true });
    const toggle = h("label", { className: "check", for: checkId }, [randomize, " 🎲 randomize"]);
    const read = () => {
      if (randomize.checked) control.value = String(randomSeed());
      return readNumber(control);
    };
    const row = h("div", { className: "seed-row" }, [control, toggle]);
    return { param, busy: false, node: fieldShell(param, control, [row]), read };
  }

  /** Choices are plain values, or [value, label] / {value, label}; `raw` is what the API gets back. */
  function choiceOption(choice) {
    let raw = choice;
    let label = choice;
    if (Array.isArray(choice)) [raw, label = choice[0]] = choice;
    else if (choice && typeof choice === "object") ({ value: raw, label = choice.value } = choice);
    return { raw, value: String(raw), label: String(label) };
  }

  function choiceField(param) {
    const options = (param.choices || []).map(choiceOption);
    const control = h("select", { name: param.name },
      options.map((o) => h("option", { value: o.value, text: o.label })));
    const initial = String(param.default ?? "");
    if (options.some((o) => o.value === initial)) control.value = initial;
    const read = () => (control.selectedIndex >= 0 ? options[control.selectedIndex].raw : undefined);
    return { param, busy: false, node: fieldShell(param, control), read };
  }

  function imageField(param) {
    const control = h("input", { type: "file", name: param.name, accept: "image/*" });
    const preview = pixelateWhenSmall(h("img", { className: "upload-preview", alt: "", hidden: true }));
    const status = h("p", { className: "field-status", "aria-live": "polite" });
    const field = {
      param, busy: false, value: undefined, token: 0, objectUrl: null,
      node: fieldShell(param, control, [control, preview, status]),
      read: () => field.value,
    };
    control.addEventListener("change", () => uploadImage(field, control.files[0], preview, status));
    return field;
  }

  function showLocalPreview(field, file, preview) {
    if (field.objectUrl) URL.revokeObjectURL(field.objectUrl);
    field.objectUrl = file ? URL.createObjectURL(file) : null;
    preview.hidden = !file;
    if (file) preview.src = field.objectUrl;
    else preview.removeAttribute("src");
  }

  /** Upload the picked file now; its upload id becomes the parameter's value (SPEC §4). */
  async function uploadImage(field, file, preview, status) {
    const token = ++field.token;
    field.value = undefined;
    showLocalPreview(field, file, preview);
    status.classList.remove("is-error");
    status.textContent = file ? "Uploading…" : "";
    field.busy = Boolean(file);
    updateRunButton();
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    try {
      const data = await api("POST", "/api/uploads/", body);
      if (token !== field.token) return;
      field.value = data.id;
      status.textContent = data.width && data.height ? `Uploaded · ${data.width}×${data.height}` : "Uploaded";
    } catch (error) {
      if (token !== field.token) return;
      status.textContent = error.message;
      status.classList.add("is-error");
    } finally {
      if (token === field.token) {
        field.busy = false;
        updateRunButton();
      }
    }
  }

  function updateRunButton() {
    const uploading = state.fields.some((f) => f.busy);
    const run = state.dom.run;
    run.disabled = !state.tab || !selectedWorkflow() || uploading;
    run.textContent = uploading ? "Uploading…" : "Run";
  }

  function showFormError(message) {
    state.dom.formError.textContent = message;
    state.dom.formError.hidden = false;
  }

  function clearFormError() {
    state.dom.formError.textContent = "";
    state.dom.formError.hidden = true;
  }

  async function onRun(event) {
    event.preventDefault();
    const workflow = selectedWorkflow();
    if (!workflow || !state.tab || state.fields.some((f) => f.busy)) return;
    clearFormError();
    const params = {};
    for (const field of state.fields) {
      const value = field.read();
      if (value !== undefined) params[field.param.name] = value;
    }
    try {
      const data = await api("POST", "/api/jobs/", { tab: state.tab, workflow: workflow.slug, params });
      upsertJob(data.job, { fromHttp: true });
    } catch (error) {
      showFormError(error.message);
    }
  }

  // ------------------------------------------------------------------- start

  function findDom() {
    const q = (selector) => document.querySelector(selector);
    Object.assign(state.dom, {
      form: q('[data-role="run-form"]'),
      workflow: q('select[name="workflow"]'),
      description: q('[data-role="workflow-description"]'),
      params: q('[data-role="params"]'),
      formError: q('[data-role="form-error"]'),
      run: q('[data-action="run"]'),
      jobs: q('[data-role="jobs"]'),
      jobsEmpty: q('[data-role="jobs-empty"]'),
      notice: q('[data-role="notice"]'),
      lock: q("[data-lock]"),
      lockText: q('[data-role="lock-text"]'),
      socket: q("[data-socket]"),
      socketText: q('[data-role="socket-text"]'),
    });
  }

  function loadWorkflows() {
    const script = document.getElementById("workflows-data");
    let list = [];
    try {
      list = JSON.parse(script ? script.textContent : "[]");
    } catch {
      list = [];
    }
    if (list && !Array.isArray(list) && Array.isArray(list.workflows)) list = list.workflows;
    for (const workflow of Array.isArray(list) ? list : []) state.workflows.set(workflow.slug, workflow);
  }

  async function start() {
    findDom();
    if (!state.dom.form || !state.dom.jobs) return; // not the run page
    loadWorkflows();
    state.dom.workflow.addEventListener("change", renderForm);
    state.dom.form.addEventListener("submit", onRun);
    state.dom.jobs.addEventListener("click", onJobAction);
    renderForm(); // also disables Run until the tab id is settled

    state.tab = await claimTabId();
    document.body.dataset.tab = state.tab;
    updateRunButton();
    connect();
    setInterval(heartbeat, 1000);
    window.addEventListener("online", () => {
      if (!state.socket && state.refused <= REFUSED_RETRIES) connect();
    });
    // A page restored from the back/forward cache lost its socket and may share its id: start over.
    window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
    window.addEventListener("pagehide", () => { if (state.dom.channel) state.dom.channel.close(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
