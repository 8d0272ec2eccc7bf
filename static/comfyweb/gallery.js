/*
 * The gallery: a full-size view in a dialog, delete with confirmation (DELETE /api/jobs/<id>/),
 * and "this tab" marked in the tab filter. Without script the links still open and download.
 */
import { api } from "./http.js";
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
  img.src = link.dataset.full;
  img.alt = link.dataset.filename || "";
  dialog.querySelector('[data-role="view-open"]').href = link.dataset.full;
  dialog.showModal();
  return true;
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
  } else if (action === "delete") {
    event.preventDefault();
    deleteJob(target);
  }
});

markThisTab();
