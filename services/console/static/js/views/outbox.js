// The outbox of each service that sends notifications (course_data, login): what is
// pending with its attempts and last error, what failed, what was sent.

import { clear, h, problemText, table, when } from "../dom.js";
import { number, t, term } from "../i18n.js";
import { call } from "../session.js";

export async function render(section) {
  for (const service of ["course_data", "login"]) {
    const box = h("div", { class: "outbox", dataset: { service } }, h("h2", {}, service));
    section.append(box);
    for (const status of ["pending", "failed", "sent", "logged"]) {
      const answer = await call(service, `/notifications?status=${status}&page_size=50`);
      const part = h("div", {}, h("h3", {}, term("notification", status)));
      box.append(part);
      if (!answer.ok) {
        part.append(h("p", { class: "error" }, problemText(answer)));
        continue;
      }
      clear(part).append(h("h3", {}, t("outbox.count", { status: term("notification", status), count: number(answer.body.total ?? answer.body.items.length) })), table(
        [[t("col.user"), (n) => n.user_id], [t("col.kind"), (n) => n.kind], [t("col.subject"), (n) => n.subject],
          [t("col.attempts"), (n) => n.attempts], [t("col.last_error"), (n) => n.last_error || ""], [t("col.created"), (n) => when(n.created_at)]],
        answer.body.items));
    }
  }
}
