// The cluster-wide settings (secrets masked by the API) and who changed what, when. A
// super_admin may change them: the patch is a JSON merge patch, checked whole by the API.

import { clear, field, flash, h, problemText, table, when } from "../dom.js";
import { t } from "../i18n.js";
import { call, me } from "../session.js";

export async function render(section) {
  const current = h("pre", { class: "settings" });
  const audit = h("div");
  section.append(current);
  if (me().role === "super_admin") {
    const patch = h("textarea", { name: "patch", rows: 4, placeholder: '{"course": {"max_credits": 30}}' });
    const form = h("form", { class: "card" }, field(t("settings.patch"), patch), h("button", { type: "submit" }, t("settings.apply")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let body;
      try {
        body = JSON.parse(patch.value);
      } catch (error) {
        flash(t("settings.not_json", { error: error.message }), "error");
        return;
      }
      const answer = await call("login", "/settings", { method: "PATCH", body });
      flash(answer.ok ? t("settings.changed") : problemText(answer), answer.ok ? "info" : "error");
      if (answer.ok) load();
    });
    section.append(form);
  }
  section.append(h("h2", {}, t("audit.title")), audit);
  async function load() {
    const [settings, trail] = await Promise.all([call("login", "/settings"), call("login", "/settings/audit")]);
    current.textContent = settings.ok ? JSON.stringify(settings.body, null, 2) : problemText(settings);
    clear(audit).append(trail.ok
      ? table([[t("col.when"), (a) => when(a.at)], [t("col.who"), (a) => a.by],
        [t("col.change"), (a) => JSON.stringify(a.changes)]], trail.body.items || [])
      : h("p", { class: "error" }, problemText(trail)));
  }
  await load();
}
