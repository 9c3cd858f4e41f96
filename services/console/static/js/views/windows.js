// Registration windows (replaced as a whole: PUT /windows) and holds (add, lift).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";

function local(seconds) {
  const d = new Date(seconds * 1000 - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export async function render(section) {
  const windows = h("div");
  const opens = h("input", { name: "opens_at", type: "datetime-local", step: 1, value: local(Date.now() / 1000) }); // to the second
  const closes = h("input", { name: "closes_at", type: "datetime-local", value: local(Date.now() / 1000 + 7 * 86400) });
  const deadline = h("input", { name: "drop_deadline", type: "datetime-local", value: local(Date.now() / 1000 + 14 * 86400) });
  const cohort = h("input", { name: "cohort", type: "number", placeholder: t("windows.every_cohort") });
  const setForm = h("form", { class: "card set-window" }, h("h2", {}, t("windows.set")),
    field(t("col.opens"), opens), field(t("col.closes"), closes), field(t("col.drop_deadline"), deadline), field(t("col.cohort"), cohort),
    h("button", { type: "submit" }, t("windows.replace")));
  const holds = h("div");
  const student = h("input", { name: "student_id", required: true, placeholder: t("student.placeholder") });
  const reason = h("input", { name: "reason", required: true });
  const holdForm = h("form", { class: "card add-hold" }, h("h2", {}, t("holds.add_title")), field(t("col.student"), student),
    field(t("col.reason"), reason), h("button", { type: "submit" }, t("holds.add")));
  section.append(h("h2", {}, t("windows.title")), windows, setForm, h("h2", {}, t("holds.title")), holds, holdForm);
  const seconds = (input) => new Date(input.value).getTime() / 1000;

  async function load() {
    const [w, hl] = await Promise.all([call("course_data", "/windows"), call("course_data", "/holds?page_size=100")]);
    clear(windows).append(w.ok ? table([[t("col.cohort"), (x) => x.cohort ?? t("windows.every")], [t("col.opens"), (x) => when(x.opens_at)],
      [t("col.closes"), (x) => when(x.closes_at)], [t("col.drop_deadline"), (x) => when(x.drop_deadline)]], w.body.windows || [], t("windows.none"))
      : h("p", { class: "error" }, problemText(w)));
    clear(holds).append(hl.ok ? table([[t("col.student"), (x) => x.student_id], [t("col.reason"), (x) => x.reason], [t("col.since"), (x) => when(x.created_at)],
      ["", (x) => h("button", { type: "button", onclick: () => lift(x.id) }, t("holds.lift"))]], hl.body.items || [], t("holds.none"))
      : h("p", { class: "error" }, problemText(hl)));
  }
  async function lift(id) {
    const answer = await call("course_data", `/holds/${id}`, { method: "DELETE" });
    flash(answer.ok ? t("holds.lifted") : problemText(answer), answer.ok ? "info" : "error");
    load();
  }
  setForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const one = { opens_at: seconds(opens), closes_at: seconds(closes), drop_deadline: seconds(deadline) };
    if (cohort.value) one.cohort = Number(cohort.value);
    const answer = await call("course_data", "/windows", { method: "PUT", body: { windows: [one] } });
    flash(answer.ok ? t("windows.done") : problemText(answer), answer.ok ? "info" : "error");
    load();
  });
  holdForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ref = /^\d+$/.test(student.value) ? Number(student.value) : student.value;
    const answer = await call("course_data", "/holds", { method: "POST", body: { student_id: ref, reason: reason.value } });
    flash(answer.ok ? t("holds.added") : problemText(answer), answer.ok ? "info" : "error");
    load();
  });
  await load();
}
