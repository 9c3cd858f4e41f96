// My registration: enrolled courses and waitlist places, with drop and swap; the waiting
// room (when my window opens, and every queued request with its live status and outcome,
// long-polled with GET /queue/requests/{id}?wait=).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { every } from "../poll.js";
import { number, t, term } from "../i18n.js";
import { call } from "../session.js";
import { outcomeText } from "./outcomes.js";

function key() {
  return { "Idempotency-Key": crypto.randomUUID() };
}

export function render(section) {
  const courses = h("div", { class: "enrolled" });
  const room = h("div", { class: "waiting-room" });
  const opening = h("p", { class: "opening" });
  const requests = h("div", { class: "requests" });
  const dropSelect = h("select", { name: "drop" });
  const addInput = h("input", { name: "add", inputmode: "numeric", placeholder: t("field.course_id_hint") });
  const swapForm = h("form", { class: "card swap" }, h("h2", {}, t("mine.swap")),
    field(t("action.drop"), dropSelect), field(t("mine.add"), addInput), h("button", { type: "submit" }, t("mine.swap")));
  section.append(courses, swapForm, h("h2", {}, t("mine.room")), room);
  room.append(opening, requests);

  async function load() {
    const answer = await call("student", "/student/enrollments");
    if (!answer.ok) {
      clear(courses).append(h("p", { class: "error" }, problemText(answer)));
      return;
    }
    const { enrolled, waitlisted } = answer.body;
    clear(dropSelect);
    for (const c of enrolled) dropSelect.append(h("option", { value: c.id }, `${c.code} ${c.title}`));
    clear(courses).append(
      h("h2", {}, t("mine.enrolled")),
      table([[t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title], [t("col.credits"), (c) => c.credits],
        ["", (c) => h("button", { type: "button", class: "drop", dataset: { code: c.code }, onclick: () => drop(c.id) }, t("action.drop"))]],
      enrolled, t("mine.no_courses")),
      h("h2", {}, t("mine.waitlisted")),
      table([[t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title], [t("col.position"), (c) => c.position],
        ["", (c) => h("button", { type: "button", class: "drop", onclick: () => drop(c.id) }, t("mine.leave"))]],
      waitlisted, t("mine.no_waitlist")),
    );
  }

  async function drop(courseId) {
    const answer = await call("student", `/student/enrollments/${courseId}`, { method: "DELETE", headers: key() });
    flash(answer.ok ? t("mine.dropped") : problemText(answer), answer.ok ? "info" : "error");
    load();
  }

  swapForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("student", "/student/enrollments/swap", {
      method: "POST", headers: key(),
      body: { drop_course_id: Number(dropSelect.value), add_course_id: Number(addInput.value) },
    });
    flash(outcomeText(answer), answer.ok ? "info" : "error");
    load();
  });

  async function watchRoom() {
    const open = await call("queue", "/queue/opening");
    if (open.ok) {
      const o = open.body;
      opening.textContent = o.opens_at === null ? t("mine.no_window")
        : o.open ? t("mine.open", { closes: when(o.closes_at) })
          : t("mine.opens_in", { seconds: number(Math.ceil(o.seconds_to_open)), opens: when(o.opens_at) });
    } else {
      opening.textContent = t("queue.problem", { problem: problemText(open) });
    }
    const mine = await call("queue", "/queue/requests?page_size=20");
    if (mine.ok) {
      const pending = mine.body.items.some((r) => r.status === "pending");
      clear(requests).append(table(
        [[t("col.request"), (r) => r.queue_request_id], [t("col.action"), (r) => term("desk", r.action)], [t("col.course"), (r) => r.course_id],
          [t("col.status"), (r) => h("span", { class: `status-${r.status}` }, term("outcome", r.status))],
          [t("col.position"), (r) => r.position ?? r.waitlist_position ?? ""], [t("col.why"), (r) => r.reason || ""]],
        mine.body.items, t("mine.no_requests")));
      if (!pending && lastPending) load();
      lastPending = pending;
    }
  }
  let lastPending = false;
  load();
  return every(1000, watchRoom);
}
