// Registration windows (replaced as a whole: PUT /windows) and holds (add, lift).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
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
  const cohort = h("input", { name: "cohort", type: "number", placeholder: "every cohort" });
  const setForm = h("form", { class: "card set-window" }, h("h2", {}, "Set the window"),
    field("Opens", opens), field("Closes", closes), field("Drop deadline", deadline), field("Cohort", cohort),
    h("button", { type: "submit" }, "Replace every window with this one"));
  const holds = h("div");
  const student = h("input", { name: "student_id", required: true, placeholder: "id, student number or username" });
  const reason = h("input", { name: "reason", required: true });
  const holdForm = h("form", { class: "card add-hold" }, h("h2", {}, "Add a hold"), field("Student", student),
    field("Reason", reason), h("button", { type: "submit" }, "Add hold"));
  section.append(h("h2", {}, "Windows"), windows, setForm, h("h2", {}, "Holds"), holds, holdForm);
  const seconds = (input) => new Date(input.value).getTime() / 1000;

  async function load() {
    const [w, hl] = await Promise.all([call("course_data", "/windows"), call("course_data", "/holds?page_size=100")]);
    clear(windows).append(w.ok ? table([["Cohort", (x) => x.cohort ?? "every"], ["Opens", (x) => when(x.opens_at)],
      ["Closes", (x) => when(x.closes_at)], ["Drop deadline", (x) => when(x.drop_deadline)]], w.body.windows || [], "No window: registration is closed.")
      : h("p", { class: "error" }, problemText(w)));
    clear(holds).append(hl.ok ? table([["Student", (x) => x.student_id], ["Reason", (x) => x.reason], ["Since", (x) => when(x.created_at)],
      ["", (x) => h("button", { type: "button", onclick: () => lift(x.id) }, "Lift")]], hl.body.items || [], "No holds.")
      : h("p", { class: "error" }, problemText(hl)));
  }
  async function lift(id) {
    const answer = await call("course_data", `/holds/${id}`, { method: "DELETE" });
    flash(answer.ok ? "Hold lifted." : problemText(answer), answer.ok ? "info" : "error");
    load();
  }
  setForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const one = { opens_at: seconds(opens), closes_at: seconds(closes), drop_deadline: seconds(deadline) };
    if (cohort.value) one.cohort = Number(cohort.value);
    const answer = await call("course_data", "/windows", { method: "PUT", body: { windows: [one] } });
    flash(answer.ok ? "Window set." : problemText(answer), answer.ok ? "info" : "error");
    load();
  });
  holdForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ref = /^\d+$/.test(student.value) ? Number(student.value) : student.value;
    const answer = await call("course_data", "/holds", { method: "POST", body: { student_id: ref, reason: reason.value } });
    flash(answer.ok ? "Hold added." : problemText(answer), answer.ok ? "info" : "error");
    load();
  });
  await load();
}
