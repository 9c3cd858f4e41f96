// My week as a grid (days across, hours down), and the iCalendar download
// (GET /student/timetable with Accept: text/calendar, saved from a Blob: the token is a
// header, so a plain link could not carry it).

import { download, flash, h, problemText } from "../dom.js";
import { t, tn, weekday } from "../i18n.js";
import { call } from "../session.js";

function minutes(hhmm) {
  const [hours, mins] = hhmm.split(":").map(Number);
  return hours * 60 + mins;
}

export async function render(section) {
  const button = h("button", { type: "button", class: "ics" }, t("timetable.ics"));
  button.addEventListener("click", async () => {
    const response = await call("student", "/student/timetable", { headers: { Accept: "text/calendar" }, raw: true });
    if (!response.ok) {
      const text = await response.text();
      let body = {};
      try { body = JSON.parse(text); } catch { body = { detail: text }; }
      flash(problemText({ status: response.status, body }), "error");
      return;
    }
    download("timetable.ics", await response.blob());
  });
  section.append(button);
  const answer = await call("student", "/student/timetable");
  if (!answer.ok) {
    section.append(h("p", { class: "error" }, problemText(answer)));
    return;
  }
  const mine = answer.body;
  section.append(h("p", {}, t("timetable.summary", {
    courses: tn("timetable.courses", mine.courses.length), credits: tn("timetable.credits", mine.credits) })));
  const week = mine.week;
  const used = week.length ? [...new Set(week.map((s) => s.weekday))].sort() : [0, 1, 2, 3, 4];
  const days = [...new Set([0, 1, 2, 3, 4, ...used])].sort();
  const first = Math.min(8 * 60, ...week.map((s) => minutes(s.start)));
  const last = Math.max(18 * 60, ...week.map((s) => minutes(s.end)));
  const grid = h("div", { class: "week", role: "table", "aria-label": t("timetable.week") });
  grid.style.setProperty("--days", String(days.length));
  // Each row is a role="row" box with `display: contents`: its cells stay items of the grid.
  grid.append(h("div", { class: "row", role: "row" }, h("div", { class: "corner", role: "columnheader" }),
    ...days.map((d) => h("div", { class: "day", role: "columnheader" }, weekday(d)))));
  for (let hour = Math.floor(first / 60); hour < Math.ceil(last / 60); hour++) {
    const row = h("div", { class: "row", role: "row" }, h("div", { class: "hour", role: "rowheader" }, `${String(hour).padStart(2, "0")}:00`));
    for (const d of days) {
      const cell = h("div", { class: "cell", role: "cell" });
      for (const slot of week.filter((s) => s.weekday === d && Math.floor(minutes(s.start) / 60) === hour)) {
        cell.append(h("div", { class: "slot", dataset: { code: slot.code } },
          h("strong", {}, slot.code), ` ${slot.start}-${slot.end}`, h("br"), slot.title, slot.location ? ` · ${slot.location}` : ""));
      }
      row.append(cell);
    }
    grid.append(row);
  }
  section.append(grid);
}
