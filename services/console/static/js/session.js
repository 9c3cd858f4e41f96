// The signed-in session, held in this module's memory only: never in localStorage,
// sessionStorage or a cookie. A script of another origin cannot read it, and no request
// the browser sends on its own (a link, a form of another site) carries it, which is why
// CSRF cannot ride on it. Reloading the page signs out.
//
// Every call goes to this origin's gateway, `/api/<service>/<path>`, with the access token.
// An answer 401 while a refresh token is held is retried once after a refresh; a refresh
// is also made before the access token expires.

const state = { access: null, refresh: null, me: null, timer: null, listeners: [] };

export function me() {
  return state.me;
}

export function onSignOut(listener) {
  state.listeners.push(listener);
}

export async function call(service, path, { method = "GET", body, headers = {}, raw = false, retry = true } = {}) {
  const sent = { ...headers };
  if (state.access) sent.Authorization = `Bearer ${state.access}`;
  let payload = body;
  if (body !== undefined && typeof body !== "string") {
    sent["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`/api/${service}${path}`, { method, headers: sent, body: payload, credentials: "omit" });
  if (response.status === 401 && retry && state.refresh && !path.startsWith("/auth/")) {
    if (await refresh()) return call(service, path, { method, body, headers, raw, retry: false });
  }
  if (raw) return response;
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  return { status: response.status, ok: response.ok, body: parsed, headers: response.headers };
}

function keep(tokens) {
  state.access = tokens.access_token;
  state.refresh = tokens.refresh_token;
  clearTimeout(state.timer);
  const seconds = Math.max(10, (tokens.expires_in || 900) * 0.8);
  state.timer = setTimeout(refresh, seconds * 1000);
}

export async function signIn(username, password, otp) {
  const body = { username, password };
  if (otp) body.otp = otp;
  const answer = await call("login", "/auth/login", { method: "POST", body });
  if (answer.ok) {
    keep(answer.body);
    await loadMe();
  }
  return answer;
}

export async function changePassword(oldPassword, newPassword) {
  const answer = await call("login", "/auth/password", {
    method: "POST", body: { old_password: oldPassword, new_password: newPassword },
  });
  if (answer.ok && answer.body && answer.body.access_token) keep(answer.body);
  if (answer.ok) await loadMe();
  return answer;
}

export async function refresh() {
  if (!state.refresh) return false;
  const answer = await call("login", "/auth/refresh", {
    method: "POST", body: { refresh_token: state.refresh }, retry: false,
  });
  if (!answer.ok) {
    forget();
    return false;
  }
  keep(answer.body);
  return true;
}

async function loadMe() {
  const answer = await call("login", "/auth/me");
  state.me = answer.ok ? answer.body : null;
}

function forget() {
  clearTimeout(state.timer);
  state.access = state.refresh = state.me = null;
  for (const listener of state.listeners) listener();
}

export async function signOut() {
  if (state.access) await call("login", "/auth/logout", { method: "POST", retry: false });
  forget();
}
