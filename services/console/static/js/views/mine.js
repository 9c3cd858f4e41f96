// My registration: enrolled courses and waitlist places, with drop and swap; the waiting
// room (when my window opens, and every queued request with its live status and outcome,
// long-polled with GET /queue/requests/{id}?wait=).

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { every } from "../poll.js";
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
  const addInput = h("input", { name: "add", inputmode: "numeric", placeholder: "course id" });
  const swapForm = h("form", { class: "card swap" }, h("h2", {}, "Swap"),
    field("Drop", dropSelect), field("Add (course id)", addInput), h("button", { type: "submit" }, "Swap"));
  section.append(courses, swapForm, h("h2", {}, "Waiting room"), room);
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
      h("h2", {}, "Enrolled"),
      table([["Code", (c) => c.code], ["Title", (c) => c.title], ["Credits", (c) => c.credits],
        ["", (c) => h("button", { type: "button", class: "drop", dataset: { code: c.code }, onclick: () => drop(c.id) }, "Drop")]],
      enrolled, "No courses yet."),
      h("h2", {}, "Waitlisted"),
      table([["Code", (c) => c.code], ["Title", (c) => c.title], ["Position", (c) => c.position],
        ["", (c) => h("button", { type: "button", class: "drop", onclick: () => drop(c.id) }, "Leave")]],
      waitlisted, "On no waitlist."),
    );
  }

  async function drop(courseId) {
    const answer = await call("student", `/student/enrollments/${courseId}`, { method: "DELETE", headers: key() });
    flash(answer.ok ? "Dropped." : problemText(answer), answer.ok ? "info" : "error");
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
      opening.textContent = o.opens_at === null ? "No registration window is set for you."
        : o.open ? `Registration is open (closes ${when(o.closes_at)}).`
          : `Registration opens in ${Math.ceil(o.seconds_to_open)} s (${when(o.opens_at)}).`;
    } else {
      opening.textContent = `Queue: ${problemText(open)}`;
    }
    const mine = await call("queue", "/queue/requests?page_size=20");
    if (mine.ok) {
      const pending = mine.body.items.some((r) => r.status === "pending");
      clear(requests).append(table(
        [["Request", (r) => r.queue_request_id], ["Action", (r) => r.action], ["Course", (r) => r.course_id],
          ["Status", (r) => h("span", { class: `status-${r.status}` }, r.status)],
          ["Position", (r) => r.position ?? r.waitlist_position ?? ""], ["Why", (r) => r.reason || ""]],
        mine.body.items, "No queued requests."));
      if (!pending && lastPending) load();
      lastPending = pending;
    }
  }
  let lastPending = false;
  load();
  return every(1000, watchRoom);
}
