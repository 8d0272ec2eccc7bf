/*
 * This tab's job cards (SPEC §4 JOB, §5 events, §7 hooks): status, the position in the server's
 * queue, a progress bar overall and one per node that ran with the node's title, live preview,
 * elapsed time, the error with the node that failed, results, cancel and retry.
 * A card is rebuilt from a JOB alone, so a snapshot after a reload shows the same thing.
 */
import { fmt, formatDuration, formatTime, h, pixelateWhenSmall } from "./dom.js";
import { outputFigure } from "./media.js";

const ACTIVE = ["pending", "queued", "running"];
// Parameters whose value is an upload id: not worth showing as text on the card.
const UPLOAD_TYPES = ["image", "video", "audio", "mask"];
const STATUS_RANK = { pending: 0, queued: 1, running: 2, succeeded: 3, failed: 3, cancelled: 3 };
const STATUS_TEXT = {
  pending: gettext("Pending"),
  queued: gettext("Queued"),
  running: gettext("Running"),
  succeeded: gettext("Succeeded"),
  failed: gettext("Failed"),
  cancelled: gettext("Cancelled"),
};

export function isActive(job) {
  return ACTIVE.includes(job.status);
}

function present(value) {
  return value !== null && value !== undefined && value !== "";
}

function nodeTitle(node, title) {
  return title || fmt(gettext("Node %(node)s"), { node });
}

/** True when `incoming` is an older view of the job than `current` (HTTP replies race the socket). */
function isStale(incoming, current) {
  if ((incoming.attempt || 1) !== (current.attempt || 1)) {
    return (incoming.attempt || 1) < (current.attempt || 1);
  }
  return (STATUS_RANK[incoming.status] ?? 0) < (STATUS_RANK[current.status] ?? 0);
}

function bar(label) {
  const fill = h("div", { className: "bar-fill" });
  const node = h("div", { className: "bar", role: "progressbar", "aria-label": label }, [fill]);
  return { node, fill };
}

function setBar(b, value, max) {
  const known = Number(max) > 0 && value !== null;
  b.node.classList.toggle("bar-indeterminate", !known);
  if (known) {
    const clamped = Math.min(Math.max(Number(value) || 0, 0), Number(max));
    b.fill.style.width = `${(100 * clamped) / Number(max)}%`;
    b.node.setAttribute("aria-valuemin", "0");
    b.node.setAttribute("aria-valuemax", String(max));
    b.node.setAttribute("aria-valuenow", String(clamped));
  } else {
    b.fill.style.width = "";
    for (const a of ["aria-valuemin", "aria-valuemax", "aria-valuenow"]) b.node.removeAttribute(a);
  }
}

function createCard(job) {
  const overall = bar(gettext("Overall progress"));
  const view = {
    title: h("h3", { className: "job-title" }),
    badge: h("span", { className: "badge", "data-role": "status" }),
    meta: h("p", { className: "job-meta" }),
    elapsed: h("span", { className: "job-elapsed", "data-role": "elapsed" }),
    queue: h("p", { className: "job-queue", "data-role": "queue", hidden: true }),
    params: h("p", { className: "job-params" }),
    overall,
    progressText: h("span", { className: "progress-text", "aria-hidden": "true" }),
    nodeList: h("ol", { className: "job-nodes", "aria-label": gettext("Nodes") }),
    preview: pixelateWhenSmall(h("img", { className: "job-preview", "data-preview": true, alt: gettext("Live preview"), hidden: true })),
    error: h("div", { className: "job-error", "data-role": "error", role: "alert", hidden: true }),
    outputs: h("div", { className: "job-outputs" }),
    actions: h("div", { className: "job-actions" }),
    outputsKey: "",
    nodes: [], // [{node, title}] in the order they ran; the last one runs now
    announced: "",
  };
  view.progress = h("div", { className: "job-progress", hidden: true }, [
    overall.node, view.progressText, view.nodeList,
  ]);
  view.root = h("article", { className: "job", "data-job-id": job.id, "aria-labelledby": `job-title-${job.id}` }, [
    h("header", { className: "job-head" }, [view.title, view.badge]),
    view.meta,
    view.queue,
    view.params,
    view.progress,
    view.preview,
    view.error,
    view.outputs,
    view.actions,
  ]);
  view.title.id = `job-title-${job.id}`;
  return view;
}

/** Remember the node a progress message names, in the order nodes ran. */
function noteNode(view, progress) {
  if (!progress || !present(progress.node)) return;
  const node = String(progress.node);
  const last = view.nodes[view.nodes.length - 1];
  if (last && last.node === node) {
    if (progress.title) last.title = progress.title;
    return;
  }
  view.nodes = view.nodes.filter((n) => n.node !== node);
  view.nodes.push({ node, title: progress.title || null });
}

export function createJobList({ root, empty, announcer, workflows, onAction }) {
  const jobs = new Map(); // id -> JOB
  const cards = new Map(); // id -> view
  const previews = new Map(); // id -> data URL

  function workflowName(slug) {
    const workflow = workflows.get(slug);
    return workflow ? workflow.name : slug;
  }

  function announce(view, job, text) {
    if (text === view.announced) return;
    view.announced = text;
    announcer.textContent = `${workflowName(job.workflow)}: ${text}`;
  }

  function elapsedText(job) {
    const start = Date.parse(job.started_at || job.created_at);
    if (Number.isNaN(start)) return "";
    const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
    if (Number.isNaN(end)) return "";
    const duration = formatDuration(end - start);
    if (!isActive(job)) return fmt(gettext("took %(duration)s"), { duration });
    if (!job.started_at) return fmt(gettext("waiting %(duration)s"), { duration });
    return fmt(gettext("%(duration)s elapsed"), { duration });
  }

  function renderMeta(view, job) {
    const parts = [job.server ? fmt(gettext("on %(server)s"), { server: job.server }) : gettext("waiting for a server")];
    if ((job.attempt || 1) > 1) parts.push(fmt(gettext("attempt %(n)s"), { n: job.attempt }));
    const created = formatTime(job.created_at);
    if (created) parts.push(fmt(gettext("created %(time)s"), { time: created }));
    view.elapsed.textContent = elapsedText(job);
    view.meta.replaceChildren(parts.join(" · "), view.elapsed.textContent ? " · " : "", view.elapsed);
  }

  /** Why no server takes a job (docs/api.md §3): a server with its model offline or not
   * read yet, its tab's jobs on a server that lacks the model. Worded here, in the page's
   * language, from the parts the relay sends; its English `message` for any other code. */
  function waitingText(waiting) {
    const servers = waiting.servers || [];
    const values = { what: waiting.what, servers: servers.join(", "), server: servers[0] };
    if (waiting.code === "no_capable_server_online" && waiting.state === "offline") {
      return fmt(ngettext(
        "Waiting for a server with %(what)s: %(servers)s has it and is offline.",
        "Waiting for a server with %(what)s: %(servers)s have it and are offline.",
        servers.length), values);
    }
    if (waiting.code === "no_capable_server_online" && waiting.state === "unknown") {
      return fmt(gettext("Waiting for a server with %(what)s: the models of %(servers)s are not known yet."), values);
    }
    if (waiting.code === "tab_busy") {
      return fmt(gettext("Waiting for this tab's jobs on %(server)s to finish: %(server)s lacks %(what)s."), values);
    }
    return waiting.message;
  }

  function queueText(job) {
    const position = job.queue_position;
    if (job.status === "pending" && job.waiting && job.waiting.code === "no_server") {
      return gettext("No server is reachable right now; the job starts as soon as one is.");
    }
    if (job.status === "pending" && job.waiting && job.waiting.message) return waitingText(job.waiting);
    if (job.status === "pending") {
      return typeof position === "number"
        ? fmt(gettext("Number %(position)s waiting for a server"), { position: position + 1 })
        : gettext("Waiting for a server");
    }
    if (typeof position !== "number") return gettext("Waiting in the server's queue");
    if (position === 0) return gettext("Next in the server's queue");
    return fmt(gettext("Number %(position)s in the server's queue"), { position: position + 1 });
  }

  function renderQueue(view, job) {
    const show =
      job.status === "queued" ||
      (job.status === "pending" && (typeof job.queue_position === "number" || Boolean(job.waiting)));
    view.queue.hidden = !show;
    if (!show) {
      delete view.queue.dataset.queuePosition;
      return;
    }
    view.queue.textContent = queueText(job);
    view.queue.classList.toggle("stranded", job.status === "pending" && Boolean(job.waiting));
    if (typeof job.queue_position === "number") view.queue.dataset.queuePosition = String(job.queue_position);
    else delete view.queue.dataset.queuePosition;
  }

  function renderParams(view, job) {
    const workflow = workflows.get(job.workflow);
    const params = job.params || {};
    const declared = workflow ? workflow.params : Object.keys(params).map((name) => ({ name }));
    const parts = declared
      .filter((p) => !UPLOAD_TYPES.includes(p.type) && params[p.name] !== undefined && params[p.name] !== "")
      .map((p) => `${p.label || p.name}: ${params[p.name]}`);
    view.params.textContent = parts.join(" · ");
    view.params.title = parts.join("\n");
    view.params.hidden = parts.length === 0;
  }

  function renderNodes(view, job) {
    const p = job.progress;
    const running = job.status === "running";
    view.nodeList.hidden = !running || view.nodes.length === 0;
    if (view.nodeList.hidden) return;
    const rows = view.nodes.map((n, index) => {
      const current = index === view.nodes.length - 1;
      const title = nodeTitle(n.node, n.title);
      const b = bar(title);
      let fraction = 1;
      if (current) {
        const value = p ? Number(p.value) || 0 : 0;
        fraction = value - Math.floor(value);
      }
      // A node that reports no steps (most image nodes) shows a moving bar while it runs.
      if (current && fraction === 0) setBar(b, null, 0);
      else setBar(b, Math.round(fraction * 100), 100);
      return h("li", { className: "job-node", "data-node": n.node, "data-node-state": current ? "running" : "done" }, [
        h("span", { className: "job-node-title", text: title }),
        b.node,
      ]);
    });
    view.nodeList.replaceChildren(...rows);
  }

  function renderProgress(view, job) {
    const show = isActive(job);
    view.progress.hidden = !show;
    if (!show) return;
    const p = job.progress;
    const known = job.status === "running" && p && Number(p.max) > 0;
    if (known) {
      const value = Math.min(Number(p.value) || 0, Number(p.max));
      setBar(view.overall, value, p.max);
      const percent = `${Math.round((100 * value) / Number(p.max))}%`;
      // The server is loading a model into memory: seconds to a minute on a GPU (issue W).
      view.progressText.textContent = p.activity === "loading" ? `${percent} · ${gettext("loading model…")}` : percent;
    } else {
      setBar(view.overall, null, 0);
      view.progressText.textContent = job.status === "running" ? gettext("Starting…") : STATUS_TEXT[job.status];
    }
    renderNodes(view, job);
  }

  function renderPreview(view, job) {
    const image = isActive(job) ? previews.get(job.id) : undefined;
    view.preview.hidden = !image;
    if (image && view.preview.getAttribute("src") !== image) view.preview.src = image;
    if (!image) view.preview.removeAttribute("src");
  }

  function renderError(view, job) {
    const error = job.status === "failed" ? job.error : null;
    view.error.hidden = !error;
    if (!error) return;
    let where = gettext("The job failed");
    if (present(error.node)) {
      const known = view.nodes.find((n) => n.node === String(error.node));
      where = known && known.title
        ? fmt(gettext("Failed at node %(node)s (%(title)s)"), { node: error.node, title: known.title })
        : fmt(gettext("Failed at node %(node)s"), { node: error.node });
      view.error.dataset.errorNode = String(error.node);
    }
    view.error.replaceChildren(
      h("strong", { className: "job-error-title", text: where }),
      h("span", { className: "job-error-message", text: error.message || error.code || "" }),
    );
  }

  function renderOutputs(view, job) {
    const outputs = job.status === "succeeded" && Array.isArray(job.outputs) ? job.outputs : [];
    const key = outputs.map((o) => o.url).join("\n");
    if (key === view.outputsKey) return;
    view.outputsKey = key;
    const title = workflowName(job.workflow);
    view.outputs.replaceChildren(...outputs.map((output) => outputFigure(output, title)));
    view.outputs.hidden = outputs.length === 0;
  }

  function renderActions(view, job) {
    const action = isActive(job) ? "cancel" : "retry";
    const current = view.actions.firstElementChild;
    if (current && current.dataset.action === action) return;
    const label = action === "cancel" ? gettext("Cancel") : gettext("Retry");
    const described = fmt(action === "cancel" ? gettext("Cancel %(workflow)s") : gettext("Run %(workflow)s again"),
      { workflow: workflowName(job.workflow) });
    const button = h("button", {
      type: "button",
      className: action === "cancel" ? "btn btn-small btn-ghost" : "btn btn-small",
      "data-action": action,
      "aria-label": described,
      text: label,
    });
    const hadFocus = current && current === document.activeElement;
    view.actions.replaceChildren(button);
    if (hadFocus) button.focus(); // keyboard users keep their place when Cancel turns into Retry
  }

  function renderCard(view, job) {
    noteNode(view, job.progress);
    view.root.dataset.status = job.status;
    view.title.textContent = workflowName(job.workflow);
    view.badge.textContent = STATUS_TEXT[job.status] || job.status;
    view.badge.className = `badge badge-${job.status}`;
    renderMeta(view, job);
    renderQueue(view, job);
    renderParams(view, job);
    renderProgress(view, job);
    renderPreview(view, job);
    renderError(view, job);
    renderOutputs(view, job);
    renderActions(view, job);
    const current = view.nodes[view.nodes.length - 1];
    let text = STATUS_TEXT[job.status] || job.status;
    if (!view.queue.hidden) text = `${text}. ${queueText(job)}`;
    else if (job.status === "running" && current) text = `${text}: ${nodeTitle(current.node, current.title)}`;
    else if (job.status === "failed" && !view.error.hidden) text = `${text}. ${view.error.textContent}`;
    announce(view, job, text);
  }

  /** Newest first by created_at. Moving nodes keeps their images loaded. */
  function sortCards() {
    const ordered = [...jobs.values()].sort((a, b) =>
      String(b.created_at || "").localeCompare(String(a.created_at || "")));
    for (const job of ordered) root.append(cards.get(job.id).root);
  }

  function updateEmptyState() {
    empty.hidden = cards.size > 0;
  }

  function upsert(job, { fromHttp = false, reorder = true } = {}) {
    if (!job || !job.id) return false;
    const current = jobs.get(job.id);
    if (fromHttp && current && isStale(job, current)) return false;
    if (current && current.progress && !job.progress && job.status === current.status) {
      job.progress = current.progress; // keep the live bar until the next status change
    }
    if (current && job.queue_position === undefined) job.queue_position = current.queue_position;
    // `waiting` lives in the relay's memory: a JOB read elsewhere (the submit's answer, a web
    // process without the relay) says null while the relay's last word still holds.
    if (current && job.status === current.status && !job.waiting) job.waiting = current.waiting;
    jobs.set(job.id, job);
    if (!isActive(job)) previews.delete(job.id);
    let view = cards.get(job.id);
    const isNew = !view;
    if (isNew) {
      view = createCard(job);
      cards.set(job.id, view);
      root.append(view.root);
    }
    renderCard(view, job);
    if (isNew && reorder) sortCards();
    updateEmptyState();
    return true;
  }

  /** A snapshot is the whole truth for this tab: replace every card. */
  function replaceAll(list) {
    const keptNodes = new Map([...cards].map(([id, view]) => [id, view.nodes]));
    for (const view of cards.values()) view.root.remove();
    cards.clear();
    jobs.clear();
    for (const job of list) {
      upsert(job, { reorder: false });
      const nodes = keptNodes.get(job.id);
      const view = cards.get(job.id);
      // Nodes seen before a reconnect stay listed; the snapshot knows only the current one.
      if (nodes && view && isActive(job)) {
        view.nodes = nodes;
        noteNode(view, job.progress);
        renderCard(view, job);
      }
    }
    for (const id of previews.keys()) if (!jobs.has(id)) previews.delete(id);
    sortCards();
    updateEmptyState();
  }

  function progress(msg) {
    const job = jobs.get(msg.job);
    if (!job || !isActive(job)) return;
    if ("queue_position" in msg) {
      // A place in a queue (events.job_queue), not a progress step.
      job.queue_position = msg.queue_position;
      if ("waiting" in msg) job.waiting = msg.waiting;
    } else if (msg.max !== undefined && msg.max !== null) {
      job.progress = {
        value: msg.value, max: msg.max, node: msg.node, title: msg.title ?? null, activity: msg.activity ?? null,
      };
    }
    renderCard(cards.get(job.id), job);
  }

  function preview(msg) {
    const job = jobs.get(msg.job);
    if (!job || !isActive(job) || typeof msg.image !== "string" || !msg.image.startsWith("data:image/")) return;
    previews.set(job.id, msg.image);
    renderPreview(cards.get(job.id), job);
  }

  function tick() {
    for (const job of jobs.values()) if (isActive(job)) renderMeta(cards.get(job.id), job);
  }

  function hasActive() {
    for (const job of jobs.values()) if (isActive(job)) return true;
    return false;
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const card = button && button.closest("[data-job-id]");
    if (card) onAction(button.dataset.action, card.dataset.jobId, button);
  });

  return { upsert, replaceAll, progress, preview, tick, hasActive };
}
