/*
 * The gallery: a full-size view in a dialog (a picture, or a video in the browser's player),
 * copying a text result, delete with confirmation (DELETE /api/jobs/<id>/), and "this tab"
 * marked in the tab filter. Without script the links still open and download.
 */
import { api } from "./http.js";
import { copyText } from "./media.js";
import { currentTabId } from "./tabid.js";

function showNotice(message) {
  const notice = document.querySelector('[data-role="notice"]');
  if (!notice) return;
  notice.textContent = message;
  notice.hidden = false;
}

function openView(link) {
  const dialog = document.querySelector('[data-role="view-dialog"]');
  if (!dialog || typeof dialog.showModal !== "function") return false;
  const img = dialog.querySelector('[data-role="view-image"]');
  const video = dialog.querySelector('[data-role="view-video"]');
  const isVideo = link.dataset.viewMedia === "video" && video;
  img.hidden = Boolean(isVideo);
  if (isVideo) {
    img.removeAttribute("src");
    video.hidden = false;
    video.poster = link.dataset.poster || "";
    video.src = link.dataset.full;
    video.setAttribute("aria-label", link.dataset.filename || "");
    dialog.setAttribute("aria-label", gettext("Video player"));
  } else {
    if (video) closeVideo(video);
    img.src = link.dataset.full;
    img.alt = link.dataset.filename || "";
    dialog.setAttribute("aria-label", gettext("Full-size image"));
  }
  dialog.querySelector('[data-role="view-open"]').href = link.dataset.full;
  dialog.showModal();
  if (isVideo) video.focus();
  return true;
}

function closeVideo(video) {
  video.pause();
  video.removeAttribute("src");
  video.load();
  video.hidden = true;
}

/** Copy a text result (its tile's text block) to the clipboard, and say so. */
async function copyResultText(button) {
  const block = button.closest("[data-gallery-item]")?.querySelector('[data-media="text"]');
  const status = document.querySelector('[data-role="copy-status"]');
  if (!block) return;
  const ok = await copyText(block.textContent, block);
  const message = ok ? gettext("Copied") : gettext("Select the text to copy it");
  if (status) status.textContent = message;
  button.dataset.copied = ok ? "yes" : "no";
}

function confirmDelete() {
  const dialog = document.querySelector('[data-role="delete-dialog"]');
  if (!dialog || typeof dialog.showModal !== "function") {
    return Promise.resolve(window.confirm(gettext("Delete this result?")));
  }
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
    dialog.showModal();
  });
}

async function deleteJob(button) {
  const jobId = button.dataset.jobId;
  if (!(await confirmDelete())) {
    button.focus();
    return;
  }
  button.disabled = true;
  try {
    await api("DELETE", `/api/jobs/${encodeURIComponent(jobId)}/`);
  } catch (error) {
    button.disabled = false;
    showNotice(error.message);
    return;
  }
  const cards = [...document.querySelectorAll(`[data-gallery-job="${CSS.escape(jobId)}"]`)];
  const next = cards[cards.length - 1]?.nextElementSibling || cards[0]?.previousElementSibling;
  for (const card of cards) card.remove();
  const focusTarget = next && next.querySelector("a, button");
  if (focusTarget) focusTarget.focus();
  else document.getElementById("main")?.focus();
  const count = document.querySelector('[data-role="gallery-count"]');
  if (count && !document.querySelector("[data-gallery-item]")) location.reload();
}

function markThisTab() {
  const tab = currentTabId();
  if (!tab) return;
  const option = document.querySelector(`[data-tab-option="${CSS.escape(tab)}"]`);
  if (option) option.textContent = `${option.textContent} · ${gettext("this tab")}`;
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action]");
  if (!target) return;
  const action = target.dataset.action;
  if (action === "view" && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    if (openView(target)) event.preventDefault();
  } else if (action === "copy-text") {
    event.preventDefault();
    copyResultText(target);
  } else if (action === "delete") {
    event.preventDefault();
    deleteJob(target);
  }
});

const viewDialog = document.querySelector('[data-role="view-dialog"]');
const viewVideo = viewDialog && viewDialog.querySelector('[data-role="view-video"]');
if (viewVideo) viewDialog.addEventListener("close", () => closeVideo(viewVideo));

markThisTab();
