// The catalogue for this student: for each course whether they can take it now and, if
// not, the rule's reason (GET /student/courses: the ledger's own rules on their facts),
// with an enroll button. Enrolling goes through POST /student/enrollments, which uses the
// queue when it is on (then the outcome may come later: see the waiting room).

import { clear, field, flash, h, problemText, table } from "../dom.js";
import { call } from "../session.js";
import { outcomeText } from "./outcomes.js";

export async function enroll(courseId) {
  const answer = await call("student", "/student/enrollments", {
    method: "POST", body: { course_id: courseId }, headers: { "Idempotency-Key": crypto.randomUUID() },
  });
  flash(outcomeText(answer), answer.ok ? "info" : "error");
  return answer;
}

export async function render(section) {
  const q = h("input", { name: "q", type: "search", placeholder: "code, title, teacher" });
  const form = h("form", { class: "search", role: "search" }, field("Search", q), h("button", { type: "submit" }, "Search"));
  const results = h("div");
  section.append(form, results);
  async function load() {
    const answer = await call("student", `/student/courses?page_size=100&q=${encodeURIComponent(q.value)}`);
    if (!answer.ok) {
      clear(results).append(h("p", { class: "error" }, problemText(answer)));
      return;
    }
    clear(results).append(table(
      [["Code", (c) => c.code], ["Title", (c) => c.title], ["Credits", (c) => c.credits],
        ["Teacher", (c) => c.teacher_name], ["Times", (c) => (c.meetings || []).map((m) => `${m.day} ${m.start}-${m.end}`).join(", ")],
        ["Seats", (c) => `${c.seats_left} of ${c.capacity} left`],
        ["Can I take it?", (c) => h("span", { class: c.can_enroll ? "ok" : "bad" },
          c.can_enroll ? (c.outcome === "waitlisted" ? "yes, on the waitlist" : "yes") : `no: ${c.reason || c.type}`)],
        ["", (c) => h("button", { type: "button", class: "enroll", dataset: { code: c.code },
          onclick: async () => { await enroll(c.id); load(); } }, "Enroll")]],
      answer.body.items, "No course matches."));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}
