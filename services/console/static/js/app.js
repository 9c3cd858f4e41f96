// The console's shell: sign-in (password change and 2FA code included), the views a role may
// open, and the hash router (#/status, #/catalogue, ...) that shows one view at a time.

import { clear, field, flash, h, problemText } from "./dom.js";
import { switchTo, t, term } from "./i18n.js";
import { changePassword, me, onSignOut, signIn, signOut } from "./session.js";
import { VIEWS } from "./views/index.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let stopView = null;
let screen = () => route(); // what the language switch draws again: a view, or the form shown

function allowed() {
  const user = me();
  if (!user) return [];
  return VIEWS.filter((view) => view.roles.includes(user.role));
}

function stop() {
  if (stopView) stopView();
  stopView = null;
}

function showNav() {
  clear(nav);
  const current = location.hash.slice(2);
  for (const view of allowed()) {
    const link = h("a", { href: `#/${view.id}`, text: view.label() });
    if (view.id === current) link.setAttribute("aria-current", "page");
    nav.append(link);
  }
  const user = me();
  document.getElementById("who").textContent = user ? t("shell.who", { username: user.username, role: term("role", user.role) }) : "";
  document.getElementById("logout").hidden = !user;
}

async function route() {
  stop();
  screen = () => route();
  const views = allowed();
  if (!views.length) {
    showNav();
    signInForm();
    return;
  }
  const id = location.hash.slice(2).split("/")[0];
  const view = views.find((v) => v.id === id) || views[0];
  if (view.id !== id) {
    location.hash = `#/${view.id}`;
    return;
  }
  showNav();
  clear(main);
  const section = h("section", { class: "view", id: `view-${view.id}` }, h("h1", {}, view.label()));
  main.append(section);
  stopView = (await view.render(section)) || null;
}

function signInForm(problem) {
  clear(main);
  const username = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const otp = h("input", { name: "otp", inputmode: "numeric", pattern: "[0-9]{6}", autocomplete: "one-time-code" });
  const otpField = field(t("signin.otp"), otp);
  otpField.hidden = true;
  const error = h("p", { class: "error", role: "alert" }, problem || "");
  const form = h("form", { id: "sign-in", class: "card" },
    h("h1", {}, t("signin.title")), field(t("signin.username"), username), field(t("signin.password"), password), otpField, error,
    h("button", { type: "submit" }, t("signin.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const answer = await signIn(username.value, password.value, otp.value);
    if (answer.ok) {
      if (answer.body.must_change_password) return passwordForm(password.value);
      return route();
    }
    error.textContent = problemText(answer);
    const type = (answer.body && answer.body.type) || "";
    if (type.endsWith("/otp-required") || type.endsWith("/invalid-otp")) {
      otpField.hidden = false;
      otp.required = true;
      otp.focus();
    }
  });
  main.append(form);
  username.focus();
}

function passwordForm(oldPassword) {
  clear(main);
  screen = () => passwordForm(oldPassword);
  const fresh = h("input", { name: "new_password", type: "password", autocomplete: "new-password", required: true });
  const again = h("input", { name: "again", type: "password", autocomplete: "new-password", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { id: "change-password", class: "card" },
    h("h1", {}, t("password.title")),
    h("p", {}, t("password.why")),
    field(t("password.new"), fresh), field(t("password.again"), again), error,
    h("button", { type: "submit" }, t("password.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (fresh.value !== again.value) {
      error.textContent = t("password.differ");
      return;
    }
    const answer = await changePassword(oldPassword, fresh.value);
    if (!answer.ok) {
      error.textContent = problemText(answer);
      return;
    }
    flash(t("password.changed"));
    route();
  });
  main.append(form);
  fresh.focus();
}

document.getElementById("logout").addEventListener("click", async () => {
  stop();
  await signOut();
});
onSignOut(() => {
  stop();
  flash(t("shell.signed_out"));
  location.hash = "";
  route();
});
// The shell's own words (server-rendered in the language Accept-Language chose) follow a switch.
function showShell() {
  document.title = t("shell.title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  const other = document.getElementById("lang");
  other.textContent = t("lang.switch");
  other.lang = t("lang.switch_tag");
  other.dataset.lang = t("lang.switch_id");
}

// The switch shows the page again in the other language; the session (in memory) stays, and
// on the sign-in and password forms what was typed stays too.
document.getElementById("lang").addEventListener("click", async (event) => {
  await switchTo(event.currentTarget.dataset.lang);
  showShell();
  const forms = "#sign-in input, #change-password input";
  const typed = [...document.querySelectorAll(forms)].map((input) => input.value);
  await screen();
  document.querySelectorAll(forms).forEach((input, i) => { input.value = typed[i] ?? ""; });
  document.getElementById("lang").focus();
});
window.addEventListener("hashchange", route);
showShell();
route();
