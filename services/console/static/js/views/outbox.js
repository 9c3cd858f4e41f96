// The outbox of each service that sends notifications (course_data, login): what is
// pending with its attempts and last error, what failed, what was sent.

import { clear, h, problemText, table, when } from "../dom.js";
import { call } from "../session.js";

export async function render(section) {
  for (const service of ["course_data", "login"]) {
    const box = h("div", { class: "outbox", dataset: { service } }, h("h2", {}, service));
    section.append(box);
    for (const status of ["pending", "failed", "sent", "logged"]) {
      const answer = await call(service, `/notifications?status=${status}&page_size=50`);
      const part = h("div", {}, h("h3", {}, status));
      box.append(part);
      if (!answer.ok) {
        part.append(h("p", { class: "error" }, problemText(answer)));
        continue;
      }
      clear(part).append(h("h3", {}, `${status} (${answer.body.total ?? answer.body.items.length})`), table(
        [["User", (n) => n.user_id], ["Kind", (n) => n.kind], ["Subject", (n) => n.subject],
          ["Attempts", (n) => n.attempts], ["Last error", (n) => n.last_error || ""], ["Created", (n) => when(n.created_at)]],
        answer.body.items));
    }
  }
}
