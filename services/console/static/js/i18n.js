// The console's words: every text the console shows comes from a message catalogue
// (static/i18n/<language>.json, flat keys, `{name}` placeholders). The language is the one
// chosen with the switch (kept in localStorage under "console.lang": a preference, not a
// credential), else the one the server chose from Accept-Language for <html lang>.
// Numbers, dates and plurals are formatted by Intl in that language.

const STORE = "console.lang";
export const LANGUAGES = ["en", "zh"];
const state = { lang: "en", words: {} };

function stored() {
  try {
    return localStorage.getItem(STORE);
  } catch {
    return null; // storage disabled: the server's choice stands
  }
}

function initial() {
  const choice = stored();
  if (LANGUAGES.includes(choice)) return choice;
  const served = (document.documentElement.lang || "en").toLowerCase().split("-")[0];
  return LANGUAGES.includes(served) ? served : "en";
}

async function load(lang) {
  const response = await fetch(`/console/i18n/${lang}.json`); // as the page preloads it
  state.words = await response.json();
  state.lang = lang;
  document.documentElement.lang = state.words["lang.tag"];
}

await load(initial());

export function lang() {
  return state.lang;
}

// The text of `key` with each `{name}` replaced by params[name]; the key itself if missing.
export function t(key, params = {}) {
  const text = state.words[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// A text that depends on a count: `key.one`, `key.other`... as Intl.PluralRules selects for
// the language (Chinese has only `other`), with {count} formatted as a number.
export function tn(key, count, params = {}) {
  const rule = new Intl.PluralRules(state.words["lang.tag"]).select(count);
  const chosen = `${key}.${rule}` in state.words ? `${key}.${rule}` : `${key}.other`;
  return t(chosen, { ...params, count: number(count) });
}

// A value of the API's vocabulary (a status, a role, an outcome) in words, or as it came.
export function term(kind, value) {
  return state.words[`${kind}.${value}`] ?? String(value ?? "");
}

export function number(value, options = { maximumFractionDigits: 2 }) {
  if (value === null || value === undefined || value === "") return "";
  return new Intl.NumberFormat(state.words["lang.tag"], options).format(value);
}

// An instant (ISO 8601 with an offset, as answers give it, or Unix seconds) in the reader's zone.
export function dateTime(instant) {
  if (instant === null || instant === undefined || instant === "") return "";
  return new Intl.DateTimeFormat(state.words["lang.tag"], { dateStyle: "medium", timeStyle: "medium" })
    .format(new Date(typeof instant === "number" ? instant * 1000 : instant));
}

// Switches the language and remembers the choice; the caller shows the page again.
export async function switchTo(lang) {
  if (!LANGUAGES.includes(lang)) return;
  try {
    localStorage.setItem(STORE, lang);
  } catch {
    // not remembered, still switched
  }
  await load(lang);
}

// The short name of a weekday, 0 being Monday (as the API counts them).
export function weekday(day) {
  const monday = Date.UTC(2024, 0, 1); // a Monday
  return new Intl.DateTimeFormat(state.words["lang.tag"], { weekday: "short", timeZone: "UTC" })
    .format(new Date(monday + day * 86400000));
}
