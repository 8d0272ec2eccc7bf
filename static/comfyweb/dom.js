/*
 * Small helpers shared by the pages: element building, text formatting, translation.
 * Translations come from Django's /jsi18n/ catalog (globals gettext, ngettext, interpolate).
 */

/** interpolate() with named values, e.g. fmt(translated, { n: 3 }) for "%(n)s". */
export function fmt(template, values) {
  return interpolate(template, values, true);
}

/** createElement with attributes; `text` sets textContent. Children may be strings. */
export function h(tag, attrs = {}, children = []) {
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

/** Small images (an 8×8 test input) scale up crisp instead of as a blur. */
export function pixelateWhenSmall(img) {
  img.addEventListener("load", () => img.classList.toggle("pixelated", img.naturalWidth < 128));
  return img;
}

function pageLocale() {
  return document.documentElement.lang || undefined;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString(pageLocale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function formatDuration(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return fmt(gettext("%(s)s s"), { s: total });
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  if (minutes < 60) return fmt(gettext("%(m)s min %(s)s s"), { m: minutes, s: seconds });
  return fmt(gettext("%(h)s h %(m)s min"), { h: Math.floor(minutes / 60), m: minutes % 60 });
}

export function newUuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not (plain http on a LAN).
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A uniformly random integer in [0, 2**53 - 1]. */
export function randomSeed() {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (hi & 0x1fffff) * 2 ** 32 + lo;
}
