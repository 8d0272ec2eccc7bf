/*
 * This tab's id (SPEC §1): kept in sessionStorage so a reload keeps it. A duplicated tab
 * copies sessionStorage, so a stored id is announced on a BroadcastChannel first; a live tab
 * owning it answers "taken" and this (newer) tab then takes a fresh id.
 */
import { newUuid } from "./dom.js";

const TAB_KEY = "comfyweb.tab";
const TAB_CHANNEL = "comfyweb.tabs";
const HELLO_WAIT_MS = 150;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readStorage(key) {
  try { return sessionStorage.getItem(key); } catch { return null; }
}

function writeStorage(key, value) {
  try { sessionStorage.setItem(key, value); } catch { /* private mode: the id lives in memory */ }
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

/** The id this tab sticks to; keeps answering other tabs' "hello" for it while the page lives. */
export async function claimTabId() {
  let id = readStorage(TAB_KEY);
  const stored = Boolean(id && UUID_RE.test(id));
  if (!stored) {
    id = newUuid();
    writeStorage(TAB_KEY, id);
  }
  if (typeof BroadcastChannel !== "function") return id;
  const channel = new BroadcastChannel(TAB_CHANNEL);
  // A freshly made id cannot clash: no need to ask.
  const finalId = stored ? await askIfTaken(channel, id) : id;
  channel.addEventListener("message", (event) => {
    const msg = event.data || {};
    if (msg.type === "hello" && msg.tab === finalId) {
      channel.postMessage({ type: "taken", tab: msg.tab, nonce: msg.nonce });
    }
  });
  window.addEventListener("pagehide", () => channel.close());
  return finalId;
}

/** The tab id of this browser tab if it has one (the gallery marks "this tab"). */
export function currentTabId() {
  const id = readStorage(TAB_KEY);
  return id && UUID_RE.test(id) ? id : null;
}
