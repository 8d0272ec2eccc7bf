/*
 * The run page: wires the form, this tab's job cards and the tab's socket together.
 * SPEC §1 (tab identity), §4 (HTTP API), §5 (tab WebSocket), §7 (page hooks).
 * No build step: plain ES modules. All server text goes in through textContent.
 */
import { api } from "./http.js";
import { fmt, formatTime } from "./dom.js";
import { claimTabId } from "./tabid.js";
import { openTabSocket } from "./socket.js";
import { createJobList } from "./cards.js";
import { createRunForm } from "./form.js";

const NOTICE_MS = 10000;
const SOCKET_TEXT = {
  connected: gettext("Connected"),
  reconnecting: gettext("Reconnecting…"),
  offline: gettext("Offline"),
};

const state = { tab: null, socket: null, noticeTimer: null, dom: {}, workflows: new Map() };

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

function showNotice(message, code) {
  const node = state.dom.notice;
  node.textContent = code ? `${message} (${code})` : message;
  node.hidden = false;
  clearTimeout(state.noticeTimer);
  state.noticeTimer = setTimeout(() => { node.hidden = true; }, NOTICE_MS);
}

function setSocketState(value, { retryAt = 0 } = {}) {
  const indicator = state.dom.socket;
  indicator.dataset.socket = value;
  state.dom.socketText.textContent = SOCKET_TEXT[value];
  const seconds = Math.max(0, Math.round((retryAt - Date.now()) / 1000));
  indicator.title = value === "connected"
    ? gettext("Live updates are on.")
    : fmt(gettext("Live updates are off. Trying again in %(seconds)s s."), { seconds });
}

function renderLock(lock) {
  const node = state.dom.lock;
  node.dataset.lockServer = lock && lock.server ? lock.server : "";
  if (lock && lock.server) {
    const since = formatTime(lock.since);
    state.dom.lockText.textContent = since
      ? fmt(gettext("Server: %(server)s since %(time)s"), { server: lock.server, time: since })
      : fmt(gettext("Server: %(server)s"), { server: lock.server });
  } else {
    state.dom.lockText.textContent = gettext("No server locked");
  }
}

async function start() {
  findDom();
  if (!state.dom.form || !state.dom.jobs) return; // not the run page
  loadWorkflows();

  const announcer = document.createElement("p");
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  announcer.dataset.role = "announcer";
  state.dom.jobs.after(announcer);

  const updateRunButton = () => {
    const uploading = form.busy();
    state.dom.run.disabled = !state.tab || !form.workflow() || uploading;
    state.dom.run.textContent = uploading ? gettext("Uploading…") : gettext("Run");
  };
  const form = createRunForm({ dom: state.dom, workflows: state.workflows, onChange: () => updateRunButton() });
  const jobs = createJobList({
    root: state.dom.jobs,
    empty: state.dom.jobsEmpty,
    announcer,
    workflows: state.workflows,
    onAction: async (action, id, button) => {
      if (action !== "cancel" && action !== "retry") return;
      // Not `disabled`: a disabled button drops the keyboard focus.
      if (button.getAttribute("aria-disabled") === "true") return;
      button.setAttribute("aria-disabled", "true");
      try {
        const data = await api("POST", `/api/jobs/${encodeURIComponent(id)}/${action}/`);
        jobs.upsert(data.job, { fromHttp: true });
      } catch (error) {
        showNotice(error.message, error.code);
      } finally {
        button.removeAttribute("aria-disabled");
      }
    },
  });

  state.dom.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const workflow = form.workflow();
    if (!workflow || !state.tab) return;
    const params = form.values();
    if (params === null) return; // an upload is still running
    form.clearErrors();
    state.dom.run.disabled = true;
    try {
      const data = await api("POST", "/api/jobs/", { tab: state.tab, workflow: workflow.slug, params });
      jobs.upsert(data.job, { fromHttp: true });
    } catch (error) {
      form.showError(error);
    } finally {
      updateRunButton();
    }
  });

  form.render(); // also disables Run until the tab id is settled
  await prefillFromGallery(form);

  state.tab = await claimTabId();
  document.body.dataset.tab = state.tab;
  updateRunButton();
  state.socket = openTabSocket({
    tab: state.tab,
    handlers: {
      "tab.snapshot": (msg) => {
        jobs.replaceAll(Array.isArray(msg.jobs) ? msg.jobs : []);
        renderLock(msg.lock);
      },
      "job.updated": (msg) => msg.job && jobs.upsert(msg.job),
      "lock.updated": (msg) => renderLock(msg.lock),
      "job.progress": (msg) => jobs.progress(msg),
      "job.preview": (msg) => jobs.preview(msg),
      error: (msg) => showNotice(msg.message || gettext("Something went wrong."), msg.code),
      pong: () => {},
    },
    onState: setSocketState,
    hasActiveJob: () => jobs.hasActive(),
    onRefused: (code) => showNotice(
      fmt(gettext("The server refused this tab's live connection (code %(code)s). Reload the page to try again."), { code }),
    ),
  });
  setInterval(() => jobs.tick(), 1000);
  // A page restored from the back/forward cache lost its socket and may share its id: start over.
  window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
}

/** /?rerun=<job id> (the gallery's "Run again"): fill the form with that job's parameters. */
async function prefillFromGallery(form) {
  const url = new URL(location.href);
  const id = url.searchParams.get("rerun");
  if (!id) return;
  url.searchParams.delete("rerun");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
  try {
    const data = await api("GET", `/api/jobs/${encodeURIComponent(id)}/`);
    if (form.prefill(data.job.workflow, data.job.params)) {
      showNotice(gettext("The earlier job's parameters are filled in. Press Run to make it again."));
      state.dom.notice.classList.add("notice-info");
    }
  } catch (error) {
    showNotice(error.message, error.code);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
