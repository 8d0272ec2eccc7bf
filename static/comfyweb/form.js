/*
 * The run form, built from the selected workflow's declared parameters (SPEC §4
 * /api/workflows/): image, mask, video and audio (file or drag-and-drop, uploaded at once, with
 * a preview: the picture, the mask over a checkerboard, the browser's player), text, numbers
 * with bounds, seed with randomize, choices. The last values are remembered per workflow in
 * localStorage; a remembered upload is reused only while it still serves.
 * A 400 from the API names the field (`error.field`): its message is shown next to it.
 */
import { api } from "./http.js";
import { fmt, h, pixelateWhenSmall, randomSeed } from "./dom.js";
import { formatClock } from "./media.js";

const MEMORY_PREFIX = "comfyweb.form.";

// The parameter types valued with an upload id (docs/api.md §4), and how each is chosen and shown.
// A mask is an image whose alpha channel is the mask.
const UPLOAD_KINDS = {
  image: {
    accept: "image/*", served: "image/", preview: "img",
    hint: gettext("Drop an image here, or choose a file."),
    chosen: gettext("Chosen image"),
    checking: gettext("Checking the earlier image…"),
  },
  mask: {
    accept: "image/png,image/webp", served: "image/", preview: "img",
    hint: gettext("Drop a mask here (a PNG or WebP whose transparent parts are the mask), or choose a file."),
    chosen: gettext("Chosen mask"),
    checking: gettext("Checking the earlier mask…"),
  },
  video: {
    accept: "video/*", served: "video/", preview: "video",
    hint: gettext("Drop a video here, or choose a file."),
    chosen: gettext("Chosen video"),
    checking: gettext("Checking the earlier video…"),
  },
  audio: {
    accept: "audio/*", served: "audio/", preview: "audio",
    hint: gettext("Drop a sound here, or choose a file."),
    chosen: gettext("Chosen sound"),
    checking: gettext("Checking the earlier sound…"),
  },
};

function isUpload(type) {
  return Object.hasOwn(UPLOAD_KINDS, type);
}

function previewElement(kind) {
  if (kind.preview === "img") {
    return pixelateWhenSmall(h("img", { className: "upload-preview", alt: kind.chosen, hidden: true }));
  }
  return h(kind.preview, {
    className: `upload-preview upload-preview-${kind.preview}`,
    controls: true,
    preload: "metadata",
    "aria-label": kind.chosen,
    hidden: true,
  });
}

function loadMemory(slug) {
  try {
    const data = JSON.parse(localStorage.getItem(MEMORY_PREFIX + slug) || "null");
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

function saveMemory(slug, data) {
  try { localStorage.setItem(MEMORY_PREFIX + slug, JSON.stringify(data)); } catch { /* storage full or off */ }
}

function labelOf(param) {
  return param.label || param.name;
}

/** Choices are plain values, or [value, label] / {value, label}; `raw` is what the API gets back. */
function choiceOption(choice) {
  let raw = choice;
  let label = choice;
  if (Array.isArray(choice)) [raw, label = choice[0]] = choice;
  else if (choice && typeof choice === "object") ({ value: raw, label = choice.value } = choice);
  return { raw, value: String(raw), label: String(label) };
}

function readNumber(control) {
  const raw = control.value.trim();
  if (raw === "") return undefined;
  const number = Number(raw);
  return Number.isFinite(number) ? number : raw;
}

export function createRunForm({ dom, workflows, onChange }) {
  let fields = [];
  let slug = null;

  // -------------------------------------------------------------- fields

  /** A labelled field wrapper with a place for its error; `body` follows the label. */
  function shell(param, control, body, hintText) {
    control.id = `field-p-${param.name}`;
    const error = h("p", { className: "field-error", id: `${control.id}-error`, "data-field-error": param.name, hidden: true });
    const described = [error.id];
    let hint = null;
    if (hintText) {
      hint = h("p", { className: "field-hint", id: `${control.id}-hint`, text: hintText });
      described.unshift(hint.id);
    }
    control.setAttribute("aria-describedby", described.join(" "));
    const label = h("label", { for: control.id, text: labelOf(param) });
    const node = h("div", { className: `field field-${param.type}`, "data-param": param.name }, [label, ...body, hint, error]);
    return { node, error, control };
  }

  function boundsHint(param) {
    const hasMin = typeof param.min === "number";
    const hasMax = typeof param.max === "number";
    if (hasMin && hasMax) return fmt(gettext("From %(min)s to %(max)s"), { min: param.min, max: param.max });
    if (hasMin) return fmt(gettext("At least %(min)s"), { min: param.min });
    if (hasMax) return fmt(gettext("At most %(max)s"), { max: param.max });
    return "";
  }

  function textField(param, memory) {
    const control = h("textarea", { name: param.name, rows: 3 });
    control.value = memory.values?.[param.name] ?? param.default ?? "";
    const s = shell(param, control, [control]);
    return { ...s, param, busy: false, read: () => control.value, set: (v) => { control.value = v ?? ""; } };
  }

  function numberControl(param, defaults) {
    return h("input", {
      type: "number",
      name: param.name,
      min: param.min ?? defaults.min,
      max: param.max ?? defaults.max,
      step: param.step ?? defaults.step,
      inputmode: param.type === "float" ? "decimal" : "numeric",
    });
  }

  function numberField(param, memory) {
    const control = numberControl(param, { step: param.type === "float" ? "any" : 1 });
    control.value = memory.values?.[param.name] ?? param.default ?? "";
    const s = shell(param, control, [control], boundsHint(param));
    return { ...s, param, busy: false, read: () => readNumber(control), set: (v) => { control.value = v ?? ""; } };
  }

  /** A seed: with "randomize" on (the default), every run draws a new seed and shows it. */
  function seedField(param, memory) {
    const control = numberControl(param, { min: 0, max: 2 ** 53 - 1, step: 1 });
    control.value = memory.values?.[param.name] ?? param.default ?? "";
    const checkId = `field-p-${param.name}-randomize`;
    const randomize = h("input", { type: "checkbox", id: checkId, name: `${param.name}__randomize`, "data-randomize": param.name });
    randomize.checked = memory.randomize?.[param.name] ?? true;
    const toggle = h("label", { className: "check", for: checkId }, [randomize, gettext("Randomize each run")]);
    const row = h("div", { className: "seed-row" }, [control, toggle]);
    const s = shell(param, control, [row]);
    randomize.addEventListener("change", onChange);
    const read = () => {
      if (randomize.checked) control.value = String(randomSeed());
      return readNumber(control);
    };
    const set = (v) => {
      control.value = v ?? "";
      randomize.checked = false; // a prefilled seed is meant to be reused
    };
    return { ...s, param, busy: false, read, set, randomize };
  }

  function choiceField(param, memory) {
    const options = (param.choices || []).map(choiceOption);
    const control = h("select", { name: param.name },
      options.map((o) => h("option", { value: o.value, text: o.label })));
    const set = (v) => {
      const wanted = String(v ?? "");
      if (options.some((o) => o.value === wanted)) control.value = wanted;
    };
    set(param.default);
    if (memory.values && param.name in memory.values) set(memory.values[param.name]);
    const read = () => (control.selectedIndex >= 0 ? options[control.selectedIndex].raw : undefined);
    const s = shell(param, control, [control]);
    return { ...s, param, busy: false, read, set };
  }

  /** An image, mask, video or audio parameter: one field for every upload kind. */
  function uploadField(param, memory) {
    const kind = UPLOAD_KINDS[param.type];
    const control = h("input", { type: "file", name: param.name, accept: kind.accept, "data-upload-kind": param.type });
    const hint = h("p", { className: "dropzone-hint", text: kind.hint });
    const preview = previewElement(kind);
    if (param.type === "mask") preview.classList.add("upload-preview-mask");
    const status = h("p", { className: "field-status", "aria-live": "polite" });
    const zone = h("div", { className: "dropzone", "data-role": "dropzone" }, [control, hint, preview, status]);
    const s = shell(param, control, [zone]);
    const field = {
      ...s, param, kind, busy: false, value: undefined, upload: null, token: 0, objectUrl: null, preview, status, zone,
      read: () => field.value,
      set: (v) => { if (v) restoreUpload(field, { id: v, url: `/files/uploads/${encodeURIComponent(v)}/` }); },
    };
    control.addEventListener("change", () => uploadFile(field, control.files[0]));
    zone.addEventListener("dragover", (event) => {
      if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-dragover");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-dragover"));
    zone.addEventListener("drop", (event) => {
      zone.classList.remove("is-dragover");
      const file = [...(event.dataTransfer?.files || [])][0];
      if (!file) return;
      event.preventDefault();
      try {
        const transfer = new DataTransfer();
        transfer.items.add(file);
        control.files = transfer.files; // the input names the dropped file like a picked one
      } catch { /* older browsers: the upload still happens */ }
      uploadFile(field, file);
    });
    const remembered = memory.images?.[param.name];
    if (remembered && remembered.id && remembered.url) restoreUpload(field, remembered);
    return field;
  }

  function setStatus(field, text, state) {
    field.status.textContent = text;
    field.status.classList.toggle("is-error", state === "error");
    if (state) field.status.dataset.upload = state;
    else delete field.status.dataset.upload;
  }

  function showPreview(field, src) {
    if (field.objectUrl && field.objectUrl !== src) URL.revokeObjectURL(field.objectUrl);
    field.preview.hidden = !src;
    if (src) field.preview.src = src;
    else field.preview.removeAttribute("src");
  }

  function uploadedText(upload) {
    const text = upload.width && upload.height
      ? fmt(gettext("Uploaded · %(width)s×%(height)s"), { width: upload.width, height: upload.height })
      : gettext("Uploaded");
    const length = typeof upload.duration === "number" && upload.duration > 0 ? formatClock(upload.duration) : "";
    return length ? `${text} · ${length}` : text;
  }

  /** Upload the picked file now; its upload id becomes the parameter's value (SPEC §4). */
  async function uploadFile(field, file) {
    const token = ++field.token;
    field.value = undefined;
    field.upload = null;
    clearFieldError(field);
    field.objectUrl = file ? URL.createObjectURL(file) : null;
    showPreview(field, field.objectUrl);
    setStatus(field, file ? gettext("Uploading…") : "", file ? "uploading" : null);
    field.busy = Boolean(file);
    onChange();
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    try {
      const data = await api("POST", "/api/uploads/", body);
      if (token !== field.token) return;
      field.value = data.id;
      field.upload = {
        id: data.id, url: data.url, media: data.media ?? null,
        width: data.width ?? null, height: data.height ?? null, duration: data.duration ?? null,
      };
      setStatus(field, uploadedText(data), "done");
      remember();
    } catch (error) {
      if (token !== field.token) return;
      setStatus(field, error.message, "error");
    } finally {
      if (token === field.token) {
        field.busy = false;
        onChange();
      }
    }
  }

  /**
   * Reuse an earlier upload only if it still serves to this session: it may be gone, or belong
   * to an older session. Asked without the browser cache, which would answer for the old one.
   */
  async function restoreUpload(field, upload) {
    const token = ++field.token;
    field.busy = true;
    setStatus(field, field.kind.checking, "checking");
    onChange(); // Run waits while the check runs: pressed now, it would submit nothing
    let ok = false;
    try {
      const response = await fetch(upload.url, { credentials: "same-origin", cache: "no-store" });
      ok = response.ok && (response.headers.get("Content-Type") || "").startsWith(field.kind.served);
      response.body?.cancel().catch(() => {}); // the headers tell; a video need not download
    } catch {
      ok = false;
    }
    if (token !== field.token) return;
    field.busy = false;
    if (ok) {
      field.value = upload.id;
      field.upload = upload;
      showPreview(field, upload.url);
      setStatus(field, uploadedText(upload), "done");
    } else {
      field.value = undefined;
      field.upload = null;
      showPreview(field, null);
      setStatus(field, "", null);
    }
    remember();
    onChange();
  }

  function build(param, memory) {
    switch (param.type) {
      case "image":
      case "mask":
      case "video":
      case "audio": return uploadField(param, memory);
      case "text": return textField(param, memory);
      case "int":
      case "float": return numberField(param, memory);
      case "seed": return seedField(param, memory);
      case "choice": return choiceField(param, memory);
      default: return textField(param, memory);
    }
  }

  // ------------------------------------------------------------- memory

  function remember() {
    if (!slug) return;
    const data = { values: {}, randomize: {}, images: {} };
    for (const f of fields) {
      if (isUpload(f.param.type)) {
        if (f.upload) data.images[f.param.name] = f.upload;
      } else {
        data.values[f.param.name] = f.control.value;
        if (f.randomize) data.randomize[f.param.name] = f.randomize.checked;
      }
    }
    saveMemory(slug, data);
  }

  // ------------------------------------------------------------- errors

  function clearFieldError(field) {
    field.error.hidden = true;
    field.error.textContent = "";
    field.control.removeAttribute("aria-invalid");
    field.node.classList.remove("has-error");
  }

  function clearErrors() {
    for (const f of fields) clearFieldError(f);
    dom.formError.textContent = "";
    dom.formError.hidden = true;
  }

  /** Show an API error: next to the field it names, and in the form's summary. */
  function showError(error) {
    const name = (error.field || "").replace(/^params\./, "");
    const field = fields.find((f) => f.param.name === name);
    dom.formError.textContent = error.message;
    dom.formError.hidden = false;
    if (!field) return;
    const prefix = `${name}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    field.error.textContent = message;
    field.error.hidden = false;
    field.control.setAttribute("aria-invalid", "true");
    field.node.classList.add("has-error");
    field.control.focus();
  }

  // ------------------------------------------------------------- public

  function render() {
    const workflow = workflows.get(dom.workflow.value);
    slug = workflow ? workflow.slug : null;
    dom.description.textContent = (workflow && workflow.description) || "";
    dom.description.hidden = !dom.description.textContent;
    const memory = slug ? loadMemory(slug) : {};
    fields = workflow ? (workflow.params || []).map((p) => build(p, memory)) : [];
    dom.params.replaceChildren(...fields.map((f) => f.node));
    clearErrors();
    onChange();
  }

  /** Fill the form with an earlier job's workflow and parameters ("run again" in the gallery). */
  function prefill(workflowSlug, params) {
    if (!workflows.has(workflowSlug)) return false;
    dom.workflow.value = workflowSlug;
    render();
    for (const f of fields) if (params && f.param.name in params) f.set(params[f.param.name]);
    remember();
    return true;
  }

  /** The parameters to submit, or null while an upload is busy. */
  function values() {
    if (fields.some((f) => f.busy)) return null;
    const params = {};
    for (const f of fields) {
      const value = f.read();
      if (value !== undefined) params[f.param.name] = value;
    }
    remember();
    return params;
  }

  dom.workflow.addEventListener("change", render);
  dom.params.addEventListener("change", (event) => {
    const field = fields.find((f) => f.node.contains(event.target));
    if (field && !isUpload(field.param.type)) clearFieldError(field);
    remember();
  });

  return {
    render,
    prefill,
    values,
    showError,
    clearErrors,
    busy: () => fields.some((f) => f.busy),
    workflow: () => workflows.get(dom.workflow.value),
  };
}
