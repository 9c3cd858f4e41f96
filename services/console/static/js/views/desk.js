// The registrar's desk: one student's whole picture (GET /desk/students/{ref}), and acting
// for them with a reason and the overrides named (POST .../enroll, /drop).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { call } from "../session.js";

const OVERRIDES = ["capacity", "prerequisites", "time-conflict", "credit-load", "window", "drop-deadline"];

export function render(section) {
  const ref = h("input", { name: "ref", required: true, placeholder: "id, student number or username" });
  const find = h("form", { class: "search" }, field("Student", ref), h("button", { type: "submit" }, "Open"));
  const picture = h("div", { class: "picture" });
  section.append(find, picture);
  async function open() {
    const answer = await call("course_data", `/desk/students/${encodeURIComponent(ref.value)}`);
    if (!answer.ok) return clear(picture).append(h("p", { class: "error" }, problemText(answer)));
    const d = answer.body;
    const s = d.student || {};
    const course = h("input", { name: "course_id", inputmode: "numeric", required: true });
    const reason = h("input", { name: "reason", required: true });
    const boxes = OVERRIDES.map((o) => h("label", { class: "check" }, h("input", { type: "checkbox", value: o }), o));
    const act = h("form", { class: "card" }, h("h2", {}, "Act for the student"), field("Course id", course), field("Reason", reason),
      h("fieldset", {}, h("legend", {}, "Overrides"), boxes),
      h("button", { type: "submit", value: "enroll" }, "Enroll"), h("button", { type: "submit", value: "drop" }, "Drop"));
    act.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter ? event.submitter.value : "enroll";
      const overrides = boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value);
      const done = await call("course_data", `/desk/students/${encodeURIComponent(ref.value)}/${action}`, {
        method: "POST", body: { course_id: Number(course.value), reason: reason.value, overrides } });
      flash(done.ok ? `${action}: ${done.body.outcome || "done"}` : problemText(done), done.ok ? "info" : "error");
      open();
    });
    clear(picture).append(
      h("p", { class: "student" }, `${s.full_name || s.username || ""} · ${s.student_number || ""} · ${s.email || ""} · cohort ${s.cohort ?? ""}`),
      h("h2", {}, "Enrolled"), table([["Code", (c) => c.code], ["Since", (c) => when(c.enrolled_at)], ["Permit", (c) => (c.via_permit ? "yes" : "")]], d.enrolled || []),
      h("h2", {}, "Waitlisted"), table([["Code", (c) => c.code], ["Position", (c) => c.position]], d.waitlisted || []),
      h("h2", {}, "Holds"), table([["Reason", (x) => x.reason]], d.holds || [], "No holds."),
      h("h2", {}, "Completed"), h("p", {}, (d.completed || []).join(", ") || "none"),
      h("p", {}, `Queue requests still waiting: ${d.open_queue_requests ?? "unknown"}`),
      act,
      h("h2", {}, "Audit"), table([["When", (a) => when(a.at)], ["Who", (a) => a.actor], ["What", (a) => a.action],
        ["Outcome", (a) => a.outcome], ["Why", (a) => a.reason || ""]], d.audit || []),
    );
  }
  find.addEventListener("submit", (event) => { event.preventDefault(); open(); });
}
