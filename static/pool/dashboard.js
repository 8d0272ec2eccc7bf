/* The live pool dashboard (staff): renders the snapshots /ws/pool/ sends every second.
 *
 * Each snapshot is complete, so rendering is "make the tables look like this": rows are
 * keyed by id and rebuilt only when their data changed (a button being clicked is not
 * replaced under the pointer). Actions are CSRF-protected POSTs; the socket then pushes a
 * fresh snapshot. While the socket is down the page polls snapshot.json instead.
 */
(() => {
  "use strict";

  const root = document.querySelector('[data-role="pool"]');
  if (!root) return;
  const base = root.dataset.actionsUrl;
  const csrf = root.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const socketBadge = root.querySelector("[data-socket]");
  const messageBox = root.querySelector('[data-role="message"]');
  const updated = root.querySelector('[data-role="updated"]');
  const stranded = root.querySelector('[data-role="stranded"]');
  const bodies = {
    servers: root.querySelector('[data-role="servers"]'),
    tabs: root.querySelector('[data-role="tabs"]'),
    jobs: root.querySelector('[data-role="jobs"]'),
  };
  const rows = { servers: new Map(), tabs: new Map(), jobs: new Map() };

  function h(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("data-") || key === "title" || key === "type") node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of [].concat(children)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const short = (id) => (id ? String(id).slice(0, 8) : "");

  /** A relative time that refreshTimes() keeps current without rebuilding its row. */
  const when = (iso, prefix = "") => h("span", { "data-time": iso || "", "data-prefix": prefix, text: prefix + ago(iso) });

  function refreshTimes() {
    for (const node of root.querySelectorAll("[data-time]")) {
      node.textContent = node.dataset.prefix + ago(node.dataset.time);
    }
  }

  function ago(iso) {
    if (!iso) return "–";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    return new Date(iso).toLocaleString();
  }

  function bytes(value) {
    if (typeof value !== "number" || value < 0) return "?";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let size = value;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
    return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
  }

  const button = (action, label, data) => h("button", { type: "button", "data-action": action, ...data, text: label });

  function serverRow(s) {
    const id = { "data-server-id": s.id };
    const flags = [
      !s.enabled && h("span", { className: "flag", text: "disabled" }),
      s.draining && h("span", { className: "flag", text: "draining" }),
    ];
    const running = s.running.length
      ? s.running.map((j) => h("div", { className: "mono", title: j.id, text: `${short(j.id)} ${j.workflow}` }))
      : h("span", { className: "muted", text: "–" });
    const tabs = [h("b", { text: s.locked_tabs.count })];
    for (const tab of s.locked_tabs.ids) tabs.push(h("div", { className: "mono", title: tab, text: short(tab) }));
    const models = modelsCell(s.models);
    const vram = s.devices.length
      ? s.devices.map((d) => h("div", { text: `${d.name}: ${bytes(d.vram_free)} free / ${bytes(d.vram_total)}` }))
      : h("span", { className: "muted", text: "–" });
    return h("tr", {
      "data-server": s.name, ...id, "data-status": s.status,
      "data-enabled": String(s.enabled), "data-draining": String(s.draining),
    }, [
      h("td", {}, [h("b", { text: s.name }), ...flags, h("div", { className: "muted mono", text: s.url })]),
      h("td", {}, [
        h("span", { className: `status-${s.status}`, text: s.status }),
        h("div", { className: "muted" }, when(s.last_seen, "seen ")),
        s.last_error && h("div", { className: "error", text: s.last_error.slice(0, 200) }),
        s.flaps > 0 && h("div", {
          className: "muted", "data-role": "flaps",
          text: `flapped ${s.flaps}×` + (s.last_flap_at ? `, last ${new Date(s.last_flap_at).toLocaleTimeString()}` : ""),
        }),
      ]),
      h("td", {}, [
        h("div", { title: "ComfyUI's own queue (running + pending)", text: `ComfyUI: ${s.queue_remaining}` }),
        h("div", { className: "muted", text: `ComfyWeb: ${s.active_jobs} active, ${s.queued_jobs} queued` }),
      ]),
      h("td", {}, running),
      h("td", { "data-role": "locked-tabs" }, tabs),
      h("td", {}, vram),
      h("td", { "data-role": "models" }, models),
      h("td", { text: s.version || "–" }),
      h("td", {}, [
        s.enabled ? button("disable", "Disable", id) : button("enable", "Enable", id),
        s.draining ? button("undrain", "Undrain", id) : button("drain", "Drain", id),
        button("refresh", "Refresh", {
          ...id, title: "Re-read its node classes and model files (/object_info) and /system_stats now",
        }),
      ]),
    ]);
  }

  /** A server's model files: the count, the names folded in a <details>, when read. */
  function modelsCell(m) {
    if (!m || m.count === null || m.count === undefined) {
      return h("span", { className: "muted", title: "its /object_info was not read yet", text: "not read yet" });
    }
    const names = m.names.map((name) => h("div", { className: "mono", text: name }));
    if (m.more > 0) names.push(h("div", { className: "muted", text: `and ${m.more} more (see the server's page)` }));
    return h("details", { "data-role": "model-files" }, [
      h("summary", {
        title: m.names.join("\n") + (m.more > 0 ? `\n… and ${m.more} more` : ""),
        text: `${m.count} file${m.count === 1 ? "" : "s"}`,
      }),
      ...names,
      m.at && h("div", { className: "muted" }, when(m.at, "read ")),
    ]);
  }

  function tabRow(t) {
    return h("tr", { "data-tab-id": t.id }, [
      h("td", { className: "mono", title: t.id, text: short(t.id) }),
      h("td", { className: "mono", text: t.session }),
      h("td", { text: t.server || "–" }),
      h("td", {}, when(t.locked_at)),
      h("td", { text: t.active_jobs }),
      h("td", { text: t.connected > 0 ? "yes" : "no" }),
      h("td", {}, when(t.last_seen)),
      h("td", {}, t.server || t.active_jobs
        ? button("unlock", "Force unlock", { "data-tab-id": t.id })
        : h("span", { className: "muted", text: "–" })),
    ]);
  }

  function jobRow(j) {
    const id = { "data-job-id": j.id };
    return h("tr", { ...id, "data-status": j.status }, [
      h("td", { className: "mono", title: j.id, text: short(j.id) }),
      h("td", { text: j.workflow }),
      h("td", { className: `job-${j.status}`, text: j.status }),
      h("td", { text: j.server || "–" }),
      h("td", { className: "mono", title: j.tab, text: short(j.tab) }),
      h("td", { text: j.attempt }),
      h("td", {}, when(j.created_at)),
      h("td", { className: "error", text: j.error || "" }),
      h("td", {}, j.active ? button("cancel", "Cancel", id) : button("retry", "Retry", id)),
    ]);
  }

  /** A rebuilt row keeps the <details> the operator opened in the old one. */
  function keepOpen(before, after) {
    for (const open of before.querySelectorAll("details[data-role][open]")) {
      const same = after.querySelector(`details[data-role="${open.dataset.role}"]`);
      if (same) same.open = true;
    }
  }

  /** Make `body` hold one row per item, in order, rebuilding only rows whose data changed. */
  function reconcile(section, items, key, build) {
    const body = bodies[section];
    const known = rows[section];
    const keep = new Set();
    let previous = null;
    for (const item of items) {
      const id = String(key(item));
      keep.add(id);
      const json = JSON.stringify(item);
      let entry = known.get(id);
      if (!entry || entry.json !== json) {
        const row = build(item);
        if (entry) {
          keepOpen(entry.row, row);
          entry.row.replaceWith(row);
        }
        entry = { json, row };
        known.set(id, entry);
      }
      const expected = previous ? previous.nextSibling : body.firstChild;
      if (expected !== entry.row) body.insertBefore(entry.row, expected);
      previous = entry.row;
    }
    for (const [id, entry] of known) {
      if (!keep.has(id)) { entry.row.remove(); known.delete(id); }
    }
  }

  function render(snapshot) {
    if (!snapshot || snapshot.type !== "pool.snapshot") return;
    reconcile("servers", snapshot.servers, (s) => s.id, serverRow);
    reconcile("tabs", snapshot.tabs, (t) => t.id, tabRow);
    reconcile("jobs", snapshot.jobs, (j) => j.id, jobRow);
    const waiting = snapshot.waiting || { jobs: 0, no_server: false };
    stranded.hidden = !waiting.no_server;
    stranded.textContent = waiting.no_server
      ? `${waiting.jobs} job(s) wait in ComfyWeb because no ComfyUI server is reachable.`
      : "";
    refreshTimes();
    updated.textContent = `updated ${new Date(snapshot.at).toLocaleTimeString()}`;
    root.dataset.updated = snapshot.at;
  }

  function say(text, isError = false) {
    messageBox.textContent = text;
    messageBox.classList.toggle("is-error", isError);
  }

  // ------------------------------------------------------------------ actions

  function actionUrl(target) {
    const action = target.dataset.action;
    if (target.dataset.serverId) return `${base}servers/${target.dataset.serverId}/${action}/`;
    if (action === "unlock") return `${base}tabs/${target.dataset.tabId}/unlock/`;
    if (target.dataset.jobId) return `${base}jobs/${target.dataset.jobId}/${action}/`;
    return null;
  }

  root.addEventListener("click", async (event) => {
    const target = event.target.closest("button[data-action]");
    if (!target || !root.contains(target)) return;
    const url = actionUrl(target);
    if (!url) return;
    if (target.dataset.action === "unlock"
        && !window.confirm("Release this tab's server and cancel its active jobs?")) return;
    target.disabled = true;
    try {
      const answer = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      });
      const data = await answer.json().catch(() => ({}));
      if (answer.ok) say(data.message || "Done.");
      else say((data.error && data.error.message) || `The action failed (HTTP ${answer.status}).`, true);
    } catch (error) {
      say(`The action failed: ${error}`, true);
    } finally {
      target.disabled = false;
      if (!socket || socket.readyState !== WebSocket.OPEN) poll();
    }
  });

  // ------------------------------------------------------------------ live updates

  let socket = null;
  let retry = 500;
  let pollTimer = null;
  let stopped = false;

  function signedOut() {
    stopped = true;
    stopPolling();
    setSocket("offline", "signed out: sign in as staff and reload");
  }

  function setSocket(state, text) {
    socketBadge.dataset.socket = state;
    socketBadge.textContent = text;
  }

  async function poll() {
    try {
      const answer = await fetch(`${base}snapshot.json`, { credentials: "same-origin" });
      if (answer.ok) render(await answer.json());
      else if (answer.status === 404) signedOut();
    } catch (error) {
      /* the socket's reconnect reports the outage */
    }
  }

  function startPolling() {
    if (!pollTimer) pollTimer = window.setInterval(poll, 2000);
  }

  function stopPolling() {
    if (pollTimer) window.clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.socketUrl}`);
    socket.addEventListener("open", () => {
      retry = 500;
      stopPolling();
      setSocket("connected", "live");
    });
    socket.addEventListener("message", (event) => {
      try {
        render(JSON.parse(event.data));
      } catch (error) {
        /* a malformed frame is skipped; the next snapshot replaces it */
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4403 || stopped) {
        signedOut();
        return;
      }
      setSocket("reconnecting", "reconnecting…");
      startPolling();
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    });
  }

  const initial = document.getElementById("pool-snapshot");
  if (initial) render(JSON.parse(initial.textContent));
  connect();
})();
