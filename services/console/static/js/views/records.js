// Exports, rosters and the audit trail (admins). CSVs are fetched with the token and saved
// from a Blob.

import { clear, download, field, flash, h, problemText, table, when } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";

async function save(service, path, name) {
  const response = await call(service, path, { raw: true, headers: { Accept: "text/csv" } });
  if (!response.ok) return flash(t("download.failed", { status: response.status }), "error");
  download(name, await response.blob());
}

export async function render(section) {
  const exportButton = h("button", { type: "button" }, t("records.export"));
  exportButton.addEventListener("click", () => save("course_data", "/exports/enrollments?format=csv", "enrollments.csv"));
  const course = h("input", { name: "course", inputmode: "numeric", required: true });
  const rosterForm = h("form", { class: "search" }, field(t("records.roster_of"), course), h("button", { type: "submit" }, t("action.show")));
  const roster = h("div");
  const audit = h("div");
  section.append(exportButton, rosterForm, roster, h("h2", {}, t("records.audit")), audit);
  rosterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("course_data", `/courses/${Number(course.value)}/roster`);
    if (!answer.ok) return clear(roster).append(h("p", { class: "error" }, problemText(answer)));
    const csv = h("button", { type: "button" }, t("records.csv"));
    csv.addEventListener("click", () => save("course_data", `/courses/${Number(course.value)}/roster?format=csv`, "roster.csv"));
    clear(roster).append(csv, table([[t("col.student"), (s) => s.full_name || s.username], [t("col.number"), (s) => s.student_number],
      [t("col.since"), (s) => when(s.enrolled_at)]], answer.body.students || [], t("roster.empty")));
  });
  const trail = await call("course_data", "/audit?page_size=50");
  clear(audit).append(trail.ok ? table([[t("col.when"), (a) => when(a.at)], [t("col.who"), (a) => a.actor], [t("col.what"), (a) => a.action],
    [t("col.student"), (a) => a.student_id ?? ""], [t("col.course"), (a) => a.course_id ?? ""], [t("col.outcome"), (a) => a.outcome], [t("col.why"), (a) => a.reason || ""]],
  trail.body.items || []) : h("p", { class: "error" }, problemText(trail)));
}
