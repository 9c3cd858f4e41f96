// My week as a grid (days across, hours down), and the iCalendar download
// (GET /student/timetable with Accept: text/calendar, saved from a Blob: the token is a
// header, so a plain link could not carry it).

import { download, flash, h, problemText } from "../dom.js";
import { call } from "../session.js";

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

function minutes(hhmm) {
  const [hours, mins] = hhmm.split(":").map(Number);
  return hours * 60 + mins;
}

export async function render(section) {
  const button = h("button", { type: "button", class: "ics" }, "Download .ics");
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
  const t = answer.body;
  section.append(h("p", {}, `${t.courses.length} courses, ${t.credits} credits.`));
  const week = t.week;
  const used = week.length ? [...new Set(week.map((s) => s.weekday))].sort() : [0, 1, 2, 3, 4];
  const days = [...new Set([0, 1, 2, 3, 4, ...used])].sort();
  const first = Math.min(8 * 60, ...week.map((s) => minutes(s.start)));
  const last = Math.max(18 * 60, ...week.map((s) => minutes(s.end)));
  const grid = h("div", { class: "week", role: "table", "aria-label": "Week" });
  grid.style.setProperty("--days", String(days.length));
  grid.append(h("div", { class: "corner" }), ...days.map((d) => h("div", { class: "day", role: "columnheader" }, DAYS[d])));
  for (let hour = Math.floor(first / 60); hour < Math.ceil(last / 60); hour++) {
    grid.append(h("div", { class: "hour", role: "rowheader" }, `${String(hour).padStart(2, "0")}:00`));
    for (const d of days) {
      const cell = h("div", { class: "cell", role: "cell" });
      for (const slot of week.filter((s) => s.weekday === d && Math.floor(minutes(s.start) / 60) === hour)) {
        cell.append(h("div", { class: "slot", dataset: { code: slot.code } },
          h("strong", {}, slot.code), ` ${slot.start}-${slot.end}`, h("br"), slot.title, slot.location ? ` · ${slot.location}` : ""));
      }
      grid.append(cell);
    }
  }
  section.append(grid);
}
