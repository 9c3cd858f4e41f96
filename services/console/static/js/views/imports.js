// Imports (admins): a CSV file sent as the import's body; the job is followed every half
// second (GET /imports/{id}) with a progress bar, every bad row as the API lists it, and the
// result.

import { clear, field, h, problemText, table } from "../dom.js";
import { t, term, tn } from "../i18n.js";
import { call } from "../session.js";

const KINDS = {
  courses: ["course_data", "/courses/import", "code,title,department,teacher_id,teacher_name,credits,capacity,meetings,prerequisites,location,description"],
  users: ["login", "/users/import", "username,role,full_name,email,phone,student_number,cohort,department,password"],
  completed: ["course_data", "/completed/import", "student_id,course_code"],
};

export function render(section) {
  const kind = h("select", { name: "kind" }, Object.keys(KINDS).map((k) => h("option", { value: k }, term("import", k))));
  const file = h("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true });
  const header = h("p", { class: "hint" });
  const form = h("form", { class: "card" }, field(t("imports.what"), kind), field(t("imports.file"), file), header, h("button", { type: "submit" }, t("imports.submit")));
  const progress = h("progress", { max: 1, value: 0, "aria-label": t("imports.progress") });
  const state = h("p", { class: "job-status", role: "status" });
  const errors = h("div", { class: "job-errors" });
  const result = h("pre", { class: "job-result" });
  section.append(form, progress, state, errors, result);
  const hint = () => { header.textContent = t("imports.header", { columns: KINDS[kind.value][2] }); };
  kind.addEventListener("change", hint);
  hint();
  let timer = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    const [service, path] = KINDS[kind.value];
    const text = await file.files[0].text();
    const started = await call(service, path, { method: "POST", body: text, headers: { "Content-Type": "text/csv" } });
    clear(errors);
    result.textContent = "";
    if (started.status !== 202) {
      state.textContent = problemText(started);
      return;
    }
    async function follow() {
      const job = await call(service, `/imports/${started.body.id}`);
      if (!job.ok) { state.textContent = problemText(job); return; }
      const j = job.body;
      const p = j.progress || {};
      progress.max = p.rows_total || 1;
      progress.value = p.phase === "done" ? progress.max : p.rows_done || 0;
      state.textContent = t("imports.state", { status: term("job", j.status), phase: term("phase", p.phase || ""), done: p.rows_done ?? 0, total: p.rows_total ?? "?" }) +
        (j.error_count ? tn("imports.bad", j.error_count) : "");
      clear(errors).append(table([[t("col.line"), (e) => e.line], [t("col.field"), (e) => e.field], [t("col.reason"), (e) => e.reason]], j.errors || [], ""));
      if (j.result) result.textContent = JSON.stringify(j.result, null, 2);
      if (j.status === "queued" || j.status === "running") timer = setTimeout(follow, 500);
    }
    follow();
  });
  return () => clearTimeout(timer);
}
