// The registrar's desk: one student's whole picture (GET /desk/students/{ref}), and acting
// for them with a reason and the overrides named (POST .../enroll, /drop).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { t, term } from "../i18n.js";
import { call } from "../session.js";

const OVERRIDES = ["capacity", "prerequisites", "time-conflict", "credit-load", "window", "drop-deadline"];

export function render(section) {
  const ref = h("input", { name: "ref", required: true, placeholder: t("student.placeholder") });
  const find = h("form", { class: "search" }, field(t("col.student"), ref), h("button", { type: "submit" }, t("action.open")));
  const picture = h("div", { class: "picture" });
  section.append(find, picture);
  async function open() {
    const answer = await call("course_data", `/desk/students/${encodeURIComponent(ref.value)}`);
    if (!answer.ok) return clear(picture).append(h("p", { class: "error" }, problemText(answer)));
    const d = answer.body;
    const s = d.student || {};
    const course = h("input", { name: "course_id", inputmode: "numeric", required: true });
    const reason = h("input", { name: "reason", required: true });
    const boxes = OVERRIDES.map((o) => h("label", { class: "check" }, h("input", { type: "checkbox", value: o }), term("override", o)));
    const act = h("form", { class: "card" }, h("h2", {}, t("desk.act")), field(t("field.course_id"), course), field(t("col.reason"), reason),
      h("fieldset", {}, h("legend", {}, t("desk.overrides")), boxes),
      h("button", { type: "submit", value: "enroll" }, t("action.enroll")), h("button", { type: "submit", value: "drop" }, t("action.drop")));
    act.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter ? event.submitter.value : "enroll";
      const overrides = boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value);
      const done = await call("course_data", `/desk/students/${encodeURIComponent(ref.value)}/${action}`, {
        method: "POST", body: { course_id: Number(course.value), reason: reason.value, overrides } });
      flash(done.ok ? t("desk.acted", { action: term("desk", action), outcome: term("outcome", done.body.outcome || "done") }) : problemText(done), done.ok ? "info" : "error");
      open();
    });
    clear(picture).append(
      h("p", { class: "student" }, t("desk.student", { name: s.full_name || s.username || "", number: s.student_number || "", email: s.email || "", cohort: s.cohort ?? "" })),
      h("h2", {}, t("mine.enrolled")), table([[t("col.code"), (c) => c.code], [t("col.since"), (c) => when(c.enrolled_at)], [t("col.permit"), (c) => (c.via_permit ? t("catalogue.yes") : "")]], d.enrolled || []),
      h("h2", {}, t("mine.waitlisted")), table([[t("col.code"), (c) => c.code], [t("col.position"), (c) => c.position]], d.waitlisted || []),
      h("h2", {}, t("holds.title")), table([[t("col.reason"), (x) => x.reason]], d.holds || [], t("holds.none")),
      h("h2", {}, t("desk.completed")), h("p", {}, (d.completed || []).join(", ") || t("desk.none")),
      h("p", {}, t("desk.waiting", { count: d.open_queue_requests ?? t("desk.unknown") })),
      act,
      h("h2", {}, t("audit.title")), table([[t("col.when"), (a) => when(a.at)], [t("col.who"), (a) => a.actor], [t("col.what"), (a) => a.action],
        [t("col.outcome"), (a) => a.outcome], [t("col.why"), (a) => a.reason || ""]], d.audit || []),
    );
  }
  find.addEventListener("submit", (event) => { event.preventDefault(); open(); });
}
