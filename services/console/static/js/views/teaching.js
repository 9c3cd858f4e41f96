// A teacher's own courses: the roster of each (and its CSV), removing a student with a
// reason (their seat goes to the waitlist), and granting a permit.

import { clear, download, field, flash, h, problemText, table, when } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";

export async function render(section) {
  const list = h("div");
  const detail = h("div", { class: "course-detail" });
  section.append(list, detail);
  async function open(course) {
    const answer = await call("teacher", `/teacher/courses/${course.id}/roster`);
    if (!answer.ok) return clear(detail).append(h("p", { class: "error" }, problemText(answer)));
    const csv = h("button", { type: "button" }, t("teaching.csv"));
    csv.addEventListener("click", async () => {
      const response = await call("teacher", `/teacher/courses/${course.id}/roster?format=csv`, { raw: true });
      if (response.ok) download(`${course.code}-roster.csv`, await response.blob());
      else flash(t("download.failed", { status: response.status }), "error");
    });
    const student = h("input", { name: "student_id", required: true, placeholder: t("student.placeholder") });
    const overCapacity = h("input", { type: "checkbox", name: "capacity" });
    const overPrereq = h("input", { type: "checkbox", name: "prerequisites" });
    const permit = h("form", { class: "card permit" }, h("h2", {}, t("teaching.permit")), field(t("col.student"), student),
      h("label", { class: "check" }, overCapacity, t("teaching.past_capacity")), h("label", { class: "check" }, overPrereq, t("teaching.without_prereq")),
      h("button", { type: "submit" }, t("teaching.grant")));
    permit.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ref = /^\d+$/.test(student.value) ? Number(student.value) : student.value;
      const done = await call("teacher", `/teacher/courses/${course.id}/permits`, { method: "POST",
        body: { student_id: ref, capacity: overCapacity.checked, prerequisites: overPrereq.checked } });
      flash(done.ok ? t("teaching.granted") : problemText(done), done.ok ? "info" : "error");
    });
    async function remove(s) {
      const reason = document.getElementById(`reason-${s.student_id}`).value.trim();
      if (!reason) return flash(t("teaching.needs_reason"), "error");
      const done = await call("teacher", `/teacher/courses/${course.id}/students/${s.student_id}`, { method: "DELETE", body: { reason } });
      flash(done.ok ? t("teaching.removed") : problemText(done), done.ok ? "info" : "error");
      open(course);
    }
    clear(detail).append(h("h2", {}, `${course.code} ${course.title}`), csv,
      table([[t("col.student"), (s) => s.full_name || s.username], [t("col.number"), (s) => s.student_number], [t("col.since"), (s) => when(s.enrolled_at)],
        [t("col.reason"), (s) => h("input", { id: `reason-${s.student_id}`, "aria-label": t("teaching.reason_for", { name: s.full_name || s.username }) })],
        ["", (s) => h("button", { type: "button", class: "remove", onclick: () => remove(s) }, t("action.remove"))]],
      answer.body.students || [], t("roster.empty")),
      h("h3", {}, t("col.waitlist")), table([[t("col.position"), (s) => s.position], [t("col.student"), (s) => s.full_name || s.username]], answer.body.waitlist || [], t("teaching.waitlist_empty")),
      permit);
  }
  const answer = await call("teacher", "/teacher/courses?page_size=100");
  if (!answer.ok) return list.append(h("p", { class: "error" }, problemText(answer)));
  list.append(table([[t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title], [t("col.taken"), (c) => `${c.taken}/${c.capacity}`],
    ["", (c) => h("button", { type: "button", onclick: () => open(c) }, t("teaching.roster"))]], answer.body.items || [], t("teaching.none")));
}
