/*
 * One result of a job, shown the way its media asks (docs/api.md §5 outputs): pictures and
 * animations as images, video and audio in the browser's players, a text as text with a Copy
 * button, a 3D model or any other file as a download with its size and type.
 * The element that shows the result carries `data-output` and `data-media` (page hooks).
 * No result has captions or subtitles today, so players get no <track>.
 */
import { fmt, h } from "./dom.js";

const MEDIA_NAMES = {
  image: gettext("Picture"),
  animated: gettext("Animation"),
  video: gettext("Video"),
  audio: gettext("Audio"),
  text: gettext("Text"),
  "3d": gettext("3D model"),
  file: gettext("File"),
};

export function mediaName(media) {
  return MEDIA_NAMES[media] || MEDIA_NAMES.file;
}

/** 3790 → "3.7 KB": binary units, as the gallery's Django filesizeformat shows them. */
export function formatBytes(bytes) {
  const n = Number(bytes);
  if (bytes === null || bytes === undefined || !Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return fmt(ngettext("%(n)s byte", "%(n)s bytes", n), { n });
  const units = ["KB", "MB", "GB"]; // the same in every language the page has
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value.toLocaleString(document.documentElement.lang || undefined, { maximumFractionDigits: 1 });
  return `${shown} ${units[unit]}`;
}

/** A player's length: 0:07, 1:05, 1:02:03; under ten seconds with a tenth (0:00.5). */
export function formatClock(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s < 0) return "";
  if (s < 10) return `0:0${(Math.round(s * 10) / 10).toFixed(1)}`;
  const total = Math.round(s);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** "Video · video/mp4 · 3.3 kB · 0:00.5": what a result is, for its caption. */
export function details(output) {
  const parts = [mediaName(output.media)];
  if (output.content_type && output.media !== "text") parts.push(output.content_type.split(";")[0]);
  if (output.width && output.height) parts.push(`${output.width}×${output.height}`);
  if (typeof output.duration === "number" && output.duration > 0) parts.push(formatClock(output.duration));
  const size = formatBytes(output.size);
  if (size) parts.push(size);
  return parts.join(" · ");
}

/** Put `text` on the clipboard; outside a secure context through a selection. */
export async function copyText(text, source) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall through to the selection */ }
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  return ok;
}

/** "LATENT" for ComfyUI_00001_.latent: the extension as an icon-like label. */
function fileKind(filename) {
  const dot = filename.lastIndexOf(".");
  const extension = dot > 0 ? filename.slice(dot + 1) : "";
  return extension && extension.length <= 6 ? extension.toUpperCase() : gettext("File");
}

function downloadLink(output, label) {
  return h("a", {
    className: "output-download",
    href: `${output.url}?download=1`,
    download: true, // the server names it (workflow, job, node): ComfyUI's names repeat
    "aria-label": fmt(gettext("Download %(filename)s"), { filename: output.filename || "" }),
    text: label || gettext("Download"),
  });
}

function textBlock(output, label) {
  const block = h("pre", {
    className: "output-text",
    "data-output": true,
    "data-media": "text",
    // A long text scrolls: a named region keyboard users can focus and scroll.
    role: "region",
    tabindex: "0",
    "aria-label": label,
    text: output.text ?? "",
  });
  const done = h("span", { className: "output-copied", "aria-live": "polite" });
  const copy = h("button", {
    type: "button",
    className: "btn btn-small",
    "data-action": "copy-text",
    "aria-label": fmt(gettext("Copy the text of %(name)s"), { name: label }),
    text: gettext("Copy"),
  });
  copy.addEventListener("click", async () => {
    const ok = await copyText(output.text ?? "", block);
    done.textContent = ok ? gettext("Copied") : gettext("Select the text to copy it");
  });
  return { block, actions: [copy, done] };
}

/**
 * The figure showing one result; `title` names what made it (the workflow), for the labels a
 * screen reader reads.
 */
export function outputFigure(output, title) {
  const media = output.media || "image";
  const filename = output.filename || "";
  const label = title ? fmt(gettext("%(filename)s from %(title)s"), { title, filename }) : filename;
  let shown;
  let actions = [];
  if (media === "image" || media === "animated") {
    const img = h("img", {
      "data-output": true,
      "data-media": media,
      src: output.url,
      alt: fmt(gettext("Result %(filename)s"), { filename }),
      loading: "lazy",
      width: output.width || null,
      height: output.height || null,
      className: output.width && output.width < 128 ? "pixelated" : null,
    });
    shown = h("a", { className: "output-link", href: output.url, target: "_blank", rel: "noopener", title: filename }, [img]);
  } else if (media === "video") {
    shown = h("video", {
      className: output.width && output.width < 128 ? "output-player pixelated" : "output-player",
      "data-output": true,
      "data-media": "video",
      src: output.url,
      poster: `${output.url}?thumb=1`,
      controls: true,
      preload: "metadata",
      playsinline: true,
      width: output.width || null,
      height: output.height || null,
      "aria-label": label,
    });
    actions = [downloadLink(output)];
  } else if (media === "audio") {
    shown = h("audio", {
      className: "output-player",
      "data-output": true,
      "data-media": "audio",
      src: output.url,
      controls: true,
      preload: "metadata",
      "aria-label": label,
    });
    actions = [downloadLink(output)];
  } else if (media === "text") {
    const text = textBlock(output, label);
    shown = text.block;
    actions = text.actions;
  } else {
    shown = h("a", {
      className: "output-file",
      "data-output": true,
      "data-media": media,
      href: `${output.url}?download=1`,
      download: true,
      "aria-label": fmt(gettext("Download %(filename)s (%(details)s)"), { filename, details: details(output) }),
    }, [
      h("span", { className: "output-file-kind", "aria-hidden": "true", text: media === "3d" ? "3D" : fileKind(filename) }),
      h("span", { className: "output-file-name", text: filename }),
    ]);
  }
  const caption = media === "image" || media === "animated"
    ? null
    : h("figcaption", { className: "output-caption" }, [
      h("span", { className: "output-details", text: details(output) }),
      actions.length ? h("span", { className: "output-actions" }, actions) : null,
    ]);
  return h("figure", { className: `output is-${media}` }, [shown, caption]);
}
