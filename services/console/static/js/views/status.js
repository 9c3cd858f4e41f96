// The cluster live: Raft leader and term, the master and epoch of each service, every member
// with its health and heartbeat (GET /cluster/status, refreshed every second).

import { clear, h, problemText, table } from "../dom.js";
import { every } from "../poll.js";
import { number, t } from "../i18n.js";
import { call } from "../session.js";

export function render(section) {
  const raft = h("p", { class: "raft" });
  const masters = h("div", { class: "masters" });
  const members = h("div", { class: "members" });
  section.append(raft, h("h2", {}, t("status.masters")), masters, h("h2", {}, t("status.members")), members);
  return every(1000, async () => {
    const answer = await call("student", "/cluster/status");
    if (!answer.ok) {
      raft.textContent = problemText(answer);
      return;
    }
    const s = answer.body;
    raft.textContent = t("status.raft", { leader: s.raft.leader_node || t("status.none"), term: s.raft.term, node: s.node.id });
    clear(masters).append(table(
      [[t("col.service"), (r) => r[0]], [t("col.master"), (r) => (r[1] ? r[1].node : t("status.none"))],
        [t("col.epoch"), (r) => (r[1] ? r[1].epoch : "")], [t("col.lease"), (r) => (r[1] ? number(r[1].expires_in) : "")]],
      Object.entries(s.masters),
    ));
    clear(members).append(table(
      [[t("col.node"), (m) => m.id], [t("col.service"), (m) => m.service], [t("col.url"), (m) => m.url],
        [t("col.health"), (m) => h("span", { class: m.healthy ? "ok" : "bad" }, m.healthy ? t("status.healthy") : t("status.down"))],
        [t("col.heartbeat"), (m) => number(m.seconds_since_heartbeat)], [t("col.version"), (m) => m.version]],
      s.members,
    ));
  });
}
