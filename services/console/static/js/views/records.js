// Exports, rosters and the audit trail (admins). CSVs are fetched with the token and saved
// from a Blob.

import { clear, download, field, flash, h, problemText, table, when } from "../dom.js";
import { call } from "../session.js";

async function save(service, path, name) {
  const response = await call(service, path, { raw: true, headers: { Accept: "text/csv" } });
  if (!response.ok) return flash(`HTTP ${response.status}`, "error");
  download(name, await response.blob());
}

export async function render(section) {
  const exportButton = h("button", { type: "button" }, "Download every enrollment (CSV)");
  exportButton.addEventListener("click", () => save("course_data", "/exports/enrollments?format=csv", "enrollments.csv"));
  const course = h("input", { name: "course", inputmode: "numeric", required: true });
  const rosterForm = h("form", { class: "search" }, field("Roster of course id", course), h("button", { type: "submit" }, "Show"));
  const roster = h("div");
  const audit = h("div");
  section.append(exportButton, rosterForm, roster, h("h2", {}, "Audit trail"), audit);
  rosterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("course_data", `/courses/${Number(course.value)}/roster`);
    if (!answer.ok) return clear(roster).append(h("p", { class: "error" }, problemText(answer)));
    const csv = h("button", { type: "button" }, "Download CSV");
    csv.addEventListener("click", () => save("course_data", `/courses/${Number(course.value)}/roster?format=csv`, "roster.csv"));
    clear(roster).append(csv, table([["Student", (s) => s.full_name || s.username], ["Number", (s) => s.student_number],
      ["Since", (s) => when(s.enrolled_at)]], answer.body.students || [], "Nobody enrolled."));
  });
  const trail = await call("course_data", "/audit?page_size=50");
  clear(audit).append(trail.ok ? table([["When", (a) => when(a.at)], ["Who", (a) => a.actor], ["What", (a) => a.action],
    ["Student", (a) => a.student_id ?? ""], ["Course", (a) => a.course_id ?? ""], ["Outcome", (a) => a.outcome], ["Why", (a) => a.reason || ""]],
  trail.body.items || []) : h("p", { class: "error" }, problemText(trail)));
}
