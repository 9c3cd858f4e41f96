// The catalogue for this student: for each course whether they can take it now and, if
// not, the rule's reason (GET /student/courses: the ledger's own rules on their facts),
// with an enroll button. Enrolling goes through POST /student/enrollments, which uses the
// queue when it is on (then the outcome may come later: see the waiting room).

import { clear, field, flash, h, problemText, table } from "../dom.js";
import { t } from "../i18n.js";
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
  const q = h("input", { name: "q", type: "search", placeholder: t("search.placeholder") });
  const form = h("form", { class: "search", role: "search" }, field(t("search.label"), q), h("button", { type: "submit" }, t("search.submit")));
  const results = h("div");
  section.append(form, results);
  async function load() {
    const answer = await call("student", `/student/courses?page_size=100&q=${encodeURIComponent(q.value)}`);
    if (!answer.ok) {
      clear(results).append(h("p", { class: "error" }, problemText(answer)));
      return;
    }
    clear(results).append(table(
      [[t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title], [t("col.credits"), (c) => c.credits],
        [t("col.teacher"), (c) => c.teacher_name], [t("col.times"), (c) => (c.meetings || []).map((m) => `${m.day} ${m.start}-${m.end}`).join(", ")],
        [t("col.seats"), (c) => t("catalogue.seats_left", { left: c.seats_left, capacity: c.capacity })],
        [t("catalogue.can"), (c) => h("span", { class: c.can_enroll ? "ok" : "bad" },
          c.can_enroll ? (c.outcome === "waitlisted" ? t("catalogue.yes_waitlist") : t("catalogue.yes")) : t("catalogue.no", { reason: c.reason || c.type }))],
        ["", (c) => h("button", { type: "button", class: "enroll", dataset: { code: c.code },
          onclick: async () => { await enroll(c.id); load(); } }, t("action.enroll"))]],
      answer.body.items, t("courses.none")));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}
