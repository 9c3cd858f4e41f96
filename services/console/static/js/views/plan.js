// My plan: courses (each with alternatives in order of preference) built before the window
// opens, validated (what the ledger's rules would decide now, and why), and submitted at
// opening in one click (one queued request per item). The plan API is the student
// service's (GET/PUT/DELETE /student/plan, POST .../validate, .../submit); on a cluster
// that does not have it yet (404) the page says so and offers nothing.

import { clear, field, flash, h, problemText, table } from "../dom.js";
import { t, term } from "../i18n.js";
import { call } from "../session.js";

function ids(text) {
  return text.split(/[\s,]+/).filter(Boolean).map(Number).filter(Number.isInteger);
}

export async function render(section) {
  const answer = await call("student", "/student/plan");
  if (answer.status === 404) {
    section.append(h("p", { class: "unavailable", role: "status" },
      t("plan.unavailable")));
    return;
  }
  if (!answer.ok) {
    section.append(h("p", { class: "error" }, problemText(answer)));
    return;
  }
  let items = (answer.body.items || []).map((i) => ({ course_id: i.course_id, alternatives: i.alternatives || [] }));
  const list = h("div", { class: "plan-items" });
  const verdicts = h("div", { class: "verdicts" });
  const course = h("input", { name: "course", inputmode: "numeric", placeholder: t("field.course_id_hint") });
  const alternatives = h("input", { name: "alternatives", placeholder: t("plan.alternatives_hint") });
  const add = h("form", { class: "card" }, field(t("col.course"), course), field(t("col.alternatives"), alternatives),
    h("button", { type: "submit" }, t("plan.add")));
  const save = h("button", { type: "button" }, t("action.save"));
  const validate = h("button", { type: "button" }, t("plan.validate"));
  const submit = h("button", { type: "button", class: "primary" }, t("plan.submit"));
  section.append(list, add, h("p", { class: "actions" }, save, validate, submit), verdicts);

  function show() {
    clear(list).append(table(
      [[t("col.rank"), (i) => items.indexOf(i) + 1], [t("col.course"), (i) => i.course_id], [t("col.alternatives"), (i) => i.alternatives.join(", ")],
        ["", (i) => h("button", { type: "button", onclick: () => { items = items.filter((x) => x !== i); show(); } }, t("action.remove"))]],
      items, t("plan.empty")));
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
    if (await saved()) flash(t("plan.saved"));
  });
  validate.addEventListener("click", async () => {
    if (!(await saved())) return;
    const checked = await call("student", "/student/plan/validate", { method: "POST" });
    if (!checked.ok) return flash(problemText(checked), "error");
    clear(verdicts).append(table([[t("col.course"), (v) => v.course_id], [t("col.outcome"), (v) => term("outcome", v.outcome)], [t("col.why"), (v) => v.reason || ""]],
      checked.body.items, t("plan.empty")));
  });
  submit.addEventListener("click", async () => {
    if (!(await saved())) return;
    const sent = await call("student", "/student/plan/submit", {
      method: "POST", headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    if (!sent.ok) return flash(problemText(sent), "error");
    flash(t("plan.submitted"));
    clear(verdicts).append(table([[t("col.course"), (r) => r.course_id], [t("col.request"), (r) => r.queue_request_id], [t("col.status"), (r) => term("outcome", r.status)]],
      sent.body.requests));
  });
  show();
}
