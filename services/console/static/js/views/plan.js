// My plan: courses (each with alternatives in order of preference) built before the window
// opens, validated (what the ledger's rules would decide now, and why), and submitted at
// opening in one click (one queued request per item). The plan API is the student
// service's (GET/PUT/DELETE /student/plan, POST .../validate, .../submit); on a cluster
// that does not have it yet (404) the page says so and offers nothing.

import { clear, field, flash, h, problemText, table } from "../dom.js";
import { call } from "../session.js";

function ids(text) {
  return text.split(/[\s,]+/).filter(Boolean).map(Number).filter(Number.isInteger);
}

export async function render(section) {
  const answer = await call("student", "/student/plan");
  if (answer.status === 404) {
    section.append(h("p", { class: "unavailable", role: "status" },
      "Plans are not available on this cluster yet: use the catalogue to enroll."));
    return;
  }
  if (!answer.ok) {
    section.append(h("p", { class: "error" }, problemText(answer)));
    return;
  }
  let items = (answer.body.items || []).map((i) => ({ course_id: i.course_id, alternatives: i.alternatives || [] }));
  const list = h("div", { class: "plan-items" });
  const verdicts = h("div", { class: "verdicts" });
  const course = h("input", { name: "course", inputmode: "numeric", placeholder: "course id" });
  const alternatives = h("input", { name: "alternatives", placeholder: "alternatives: ids, in order" });
  const add = h("form", { class: "card" }, field("Course", course), field("Alternatives", alternatives),
    h("button", { type: "submit" }, "Add to plan"));
  const save = h("button", { type: "button" }, "Save");
  const validate = h("button", { type: "button" }, "Validate");
  const submit = h("button", { type: "button", class: "primary" }, "Submit plan");
  section.append(list, add, h("p", { class: "actions" }, save, validate, submit), verdicts);

  function show() {
    clear(list).append(table(
      [["#", (i) => items.indexOf(i) + 1], ["Course", (i) => i.course_id], ["Alternatives", (i) => i.alternatives.join(", ")],
        ["", (i) => h("button", { type: "button", onclick: () => { items = items.filter((x) => x !== i); show(); } }, "Remove")]],
      items, "The plan is empty."));
  }
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    const [id] = ids(course.value);
    if (id === undefined) return;
    items.push({ course_id: id, alternatives: ids(alternatives.value) });
    course.value = alternatives.value = "";
    show();
  });
  const body = () => ({ items: items.map((i) => ({ course_id: i.course_id, alternatives: i.alternatives })) });
  // Validation and submission work on the saved plan: the page saves what it shows first.
  async function saved() {
    const answer = await call("student", "/student/plan", { method: "PUT", body: body() });
    if (!answer.ok) flash(problemText(answer), "error");
    return answer.ok;
  }
  save.addEventListener("click", async () => {
    if (await saved()) flash("Plan saved.");
  });
  validate.addEventListener("click", async () => {
    if (!(await saved())) return;
    const checked = await call("student", "/student/plan/validate", { method: "POST" });
    if (!checked.ok) return flash(problemText(checked), "error");
    clear(verdicts).append(table([["Course", (v) => v.course_id], ["Outcome", (v) => v.outcome], ["Why", (v) => v.reason || ""]],
      checked.body.items, "The plan is empty."));
  });
  submit.addEventListener("click", async () => {
    if (!(await saved())) return;
    const sent = await call("student", "/student/plan/submit", {
      method: "POST", headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    if (!sent.ok) return flash(problemText(sent), "error");
    flash("Plan submitted: follow it in the waiting room (My registration).");
    clear(verdicts).append(table([["Course", (r) => r.course_id], ["Request", (r) => r.queue_request_id], ["Status", (r) => r.status]],
      sent.body.requests));
  });
  show();
}
