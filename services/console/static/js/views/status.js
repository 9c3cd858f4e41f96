// The cluster live: Raft leader and term, the master and epoch of each service, every member
// with its health and heartbeat (GET /cluster/status, refreshed every second).

import { clear, h, problemText, table } from "../dom.js";
import { every } from "../poll.js";
import { call } from "../session.js";

export function render(section) {
  const raft = h("p", { class: "raft" });
  const masters = h("div", { class: "masters" });
  const members = h("div", { class: "members" });
  section.append(raft, h("h2", {}, "Masters"), masters, h("h2", {}, "Members"), members);
  return every(1000, async () => {
    const answer = await call("student", "/cluster/status");
    if (!answer.ok) {
      raft.textContent = problemText(answer);
      return;
    }
    const s = answer.body;
    raft.textContent = `Raft leader: ${s.raft.leader_node || "none"} · term ${s.raft.term} · as seen by ${s.node.id}`;
    clear(masters).append(table(
      [["Service", (r) => r[0]], ["Master", (r) => (r[1] ? r[1].node : "none")],
        ["Epoch", (r) => (r[1] ? r[1].epoch : "")], ["Lease left (s)", (r) => (r[1] ? r[1].expires_in : "")]],
      Object.entries(s.masters),
    ));
    clear(members).append(table(
      [["Node", (m) => m.id], ["Service", (m) => m.service], ["URL", (m) => m.url],
        ["Health", (m) => h("span", { class: m.healthy ? "ok" : "bad" }, m.healthy ? "healthy" : "down")],
        ["Heartbeat (s ago)", (m) => m.seconds_since_heartbeat], ["Version", (m) => m.version]],
      s.members,
    ));
  });
}
