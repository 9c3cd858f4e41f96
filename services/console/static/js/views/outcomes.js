// What an enrollment answer means, in words.

import { problemText } from "../dom.js";
import { t, term } from "../i18n.js";

export function outcomeText(answer) {
  const body = answer.body || {};
  if (answer.status === 201) return t("outcome.text.enrolled");
  if (answer.status === 200) return body.outcome ? t("outcome.text.done_with", { outcome: term("outcome", body.outcome) }) : t("outcome.text.done");
  if (answer.status === 202 && body.outcome === "pending") {
    return t("outcome.text.queued");
  }
  if (answer.status === 202) return t("outcome.text.waitlisted", { position: body.waitlist_position });
  return problemText(answer);
}
