/* The JSON API of SPEC §4, with the session cookie and the CSRF header. */

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/**
 * fetch a JSON API route. On a 4xx/5xx or network failure throws Error(message) with
 * .code and .field (the parameter a 400 names, SPEC §4 errors).
 */
export async function api(method, url, body) {
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
    throw Object.assign(new Error(gettext("Could not reach ComfyWeb. Check your connection.")), { code: "network" });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    const message = error.message || interpolate(gettext("Request failed (HTTP %(status)s)."), { status: response.status }, true);
    throw Object.assign(new Error(message), { code: error.code || `http_${response.status}`, field: error.field || null });
  }
  return data;
}
