// Building the page from data without ever parsing it as HTML: every value becomes a text
// node (or an attribute set through the DOM), so a course titled "<img onerror=...>" shows
// as those characters. Nothing here parses markup, and nothing sets inline handlers.

import { dateTime, t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function table(columns, rows, empty = t("table.empty")) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div", { class: "scroll" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([label, cell]) => {
        const value = cell(row);
        return h("td", { "data-label": label }, value instanceof Node ? value : String(value ?? ""));
      }))))),
  );
}

export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

export function flash(message, kind = "info") {
  const el = document.getElementById("flash");
  el.textContent = message;
  el.className = kind;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.textContent = ""; }, 6000);
}

export function problemText(answer) {
  const body = answer.body || {};
  const parts = [body.title || `HTTP ${answer.status}`];
  if (body.detail) parts.push(body.detail);
  if (body.reason && body.reason !== body.detail) parts.push(body.reason);
  for (const error of body.errors || []) parts.push(`${error.field}: ${error.message}`);
  return parts.join(": ");
}

// An instant as the API gives it (ISO 8601 with an offset), or Unix seconds.
export function when(instant) {
  return dateTime(instant);
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
