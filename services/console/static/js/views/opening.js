// The opening live: the queue's figures every second (GET /queue/stats on the queue master,
// through any queue node) drawn as charts with uPlot (the time to outcome: the master's last
// minute), and the seats of each course filling
// (GET /courses). Nothing reloads: the charts are given the new points.

import uPlot from "../../vendor/uPlot.esm.js";
import { clear, h, problemText, table } from "../dom.js";
import { every } from "../poll.js";
import { number, t, term } from "../i18n.js";
import { call } from "../session.js";

const KEEP = 120; // two minutes of one-second points

function chart(where, title, series) {
  const box = h("figure", { class: "chart" }, h("figcaption", {}, title));
  where.append(box);
  const width = Math.max(280, Math.min(560, where.clientWidth - 16));
  const opts = {
    width, height: 180,
    scales: { x: { time: true } },
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{}, { size: 50 }],
  };
  const data = [[], ...series.map(() => [])];
  const plot = new uPlot(opts, data, box);
  return {
    push(values) {
      data[0].push(Date.now() / 1000);
      values.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > KEEP) data.forEach((column) => column.shift());
      plot.setData(data);
      box.dataset.points = String(data[0].length); // how many points it draws (the browser test reads it)
    },
    destroy: () => plot.destroy(),
  };
}

export function render(section) {
  const figures = h("dl", { class: "figures" });
  const charts = h("div", { class: "charts" });
  const seats = h("div", { class: "seats" });
  const error = h("p", { class: "error", role: "alert" });
  section.append(error, figures, charts, h("h2", {}, t("opening.seats")), seats);
  const depth = chart(charts, t("opening.depth_chart"), [[t("opening.depth"), "#1f5fa8"], [t("opening.pending"), "#a86b1f"]]);
  const rates = chart(charts, t("opening.rates_chart"), [[t("opening.admitted_rate"), "#1f5fa8"], [t("opening.decided_rate"), "#2e7d32"],
    [t("opening.refused_rate"), "#b3261e"]]);
  const lag = chart(charts, t("opening.lag_chart"), [[t("opening.lag"), "#6a1b9a"]]);
  const outcome = chart(charts, t("opening.outcome_chart"), [["p50", "#2e7d32"], ["p99", "#b3261e"]]);
  let tick = 0;
  const stop = every(1000, async () => {
    const answer = await call("queue", "/queue/stats");
    if (!answer.ok) {
      error.textContent = t("queue.problem", { problem: problemText(answer) });
    } else {
      error.textContent = "";
      const s = answer.body;
      clear(figures);
      for (const [label, value] of [["Depth", s.depth], ["Admitted", s.admitted], ["Decided", s.decided],
        ["Refused at once", s.refused_at_once], ["Admitted/s", s.admitted_per_second],
        ["Decided/s", s.decided_per_second], ["Lag (s)", s.lag_seconds],
        ["p99 to outcome (s)", s.p99_to_outcome_seconds ?? "–"]]) {
        const shown = typeof value === "string" ? value : number(value ?? 0);
        figures.append(h("div", { class: "figure" }, h("dt", {}, term("figure", label)), h("dd", { dataset: { figure: label } }, shown)));
      }
      depth.push([s.depth || 0, s.pending_entries || 0]);
      rates.push([s.admitted_per_second || 0, s.decided_per_second || 0, s.refused_at_once_per_second || 0]);
      lag.push([s.lag_seconds || 0]);
      outcome.push([s.p50_to_outcome_seconds ?? null, s.p99_to_outcome_seconds ?? null]);
    }
    if (tick++ % 2 === 0) {
      const courses = await call("course_data", "/courses?page_size=100");
      if (courses.ok) {
        clear(seats).append(table(
          [[t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title],
            [t("col.seats"), (c) => h("meter", { min: 0, max: c.capacity || 1, value: c.taken, title: `${c.taken}/${c.capacity}`, "aria-label": t("opening.seats_of", { code: c.code }) })],
            [t("col.taken"), (c) => `${c.taken}/${c.capacity}`], [t("col.waitlist"), (c) => c.waitlist_length]],
          courses.body.items, t("opening.no_courses")));
      }
    }
  });
  return () => {
    stop();
    depth.destroy();
    rates.destroy();
    lag.destroy();
    outcome.destroy();
  };
}
