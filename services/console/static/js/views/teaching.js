// A teacher's own courses: the roster of each (and its CSV), removing a student with a
// reason (their seat goes to the waitlist), and granting a permit.

import { clear, download, field, flash, h, problemText, table, when } from "../dom.js";
import { call } from "../session.js";

export async function render(section) {
  const list = h("div");
  const detail = h("div", { class: "course-detail" });
  section.append(list, detail);
  async function open(course) {
    const answer = await call("teacher", `/teacher/courses/${course.id}/roster`);
    if (!answer.ok) return clear(detail).append(h("p", { class: "error" }, problemText(answer)));
    const csv = h("button", { type: "button" }, "Download roster (CSV)");
    csv.addEventListener("click", async () => {
      const response = await call("teacher", `/teacher/courses/${course.id}/roster?format=csv`, { raw: true });
      if (response.ok) download(`${course.code}-roster.csv`, await response.blob());
      else flash(`HTTP ${response.status}`, "error");
    });
    const student = h("input", { name: "student_id", required: true, placeholder: "id, student number or username" });
    const overCapacity = h("input", { type: "checkbox", name: "capacity" });
    const overPrereq = h("input", { type: "checkbox", name: "prerequisites" });
    const permit = h("form", { class: "card permit" }, h("h2", {}, "Grant a permit"), field("Student", student),
      h("label", { class: "check" }, overCapacity, "past capacity"), h("label", { class: "check" }, overPrereq, "without prerequisites"),
      h("button", { type: "submit" }, "Grant"));
    permit.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ref = /^\d+$/.test(student.value) ? Number(student.value) : student.value;
      const done = await call("teacher", `/teacher/courses/${course.id}/permits`, { method: "POST",
        body: { student_id: ref, capacity: overCapacity.checked, prerequisites: overPrereq.checked } });
      flash(done.ok ? "Permit granted." : problemText(done), done.ok ? "info" : "error");
    });
    async function remove(s) {
      const reason = document.getElementById(`reason-${s.student_id}`).value.trim();
      if (!reason) return flash("A removal needs a reason.", "error");
      const done = await call("teacher", `/teacher/courses/${course.id}/students/${s.student_id}`, { method: "DELETE", body: { reason } });
      flash(done.ok ? "Removed." : problemText(done), done.ok ? "info" : "error");
      open(course);
    }
    clear(detail).append(h("h2", {}, `${course.code} ${course.title}`), csv,
      table([["Student", (s) => s.full_name || s.username], ["Number", (s) => s.student_number], ["Since", (s) => when(s.enrolled_at)],
        ["Reason", (s) => h("input", { id: `reason-${s.student_id}`, "aria-label": "Reason for removal" })],
        ["", (s) => h("button", { type: "button", class: "remove", onclick: () => remove(s) }, "Remove")]],
      answer.body.students || [], "Nobody enrolled."),
      h("h3", {}, "Waitlist"), table([["Position", (s) => s.position], ["Student", (s) => s.full_name || s.username]], answer.body.waitlist || [], "Empty."),
      permit);
  }
  const answer = await call("teacher", "/teacher/courses?page_size=100");
  if (!answer.ok) return list.append(h("p", { class: "error" }, problemText(answer)));
  list.append(table([["Code", (c) => c.code], ["Title", (c) => c.title], ["Taken", (c) => `${c.taken}/${c.capacity}`],
    ["", (c) => h("button", { type: "button", onclick: () => open(c) }, "Roster")]], answer.body.items || [], "You teach no course."));
}
