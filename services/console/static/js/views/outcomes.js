// What an enrollment answer means, in words.

import { problemText } from "../dom.js";

export function outcomeText(answer) {
  const body = answer.body || {};
  if (answer.status === 201) return "Enrolled.";
  if (answer.status === 200) return body.outcome ? `Done: ${body.outcome}.` : "Done.";
  if (answer.status === 202 && body.outcome === "pending") {
    return "Queued: the outcome will show in the waiting room.";
  }
  if (answer.status === 202) return `Waitlisted, position ${body.waitlist_position}.`;
  return problemText(answer);
}
