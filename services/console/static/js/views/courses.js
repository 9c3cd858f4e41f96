// Courses (admins): search the catalogue, edit a course's title, capacity, credits and
// description (PATCH /courses/{id}: the API refuses a capacity below the seats taken), or
// add one.

import { clear, field, flash, h, problemText, table } from "../dom.js";
import { t, term } from "../i18n.js";
import { call } from "../session.js";

function editor(course, done) {
  const inputs = {
    title: h("input", { name: "title", value: course.title }),
    capacity: h("input", { name: "capacity", type: "number", min: 0, value: course.capacity }),
    credits: h("input", { name: "credits", type: "number", min: 0, value: course.credits }),
    description: h("input", { name: "description", value: course.description || "" }),
  };
  const form = h("form", { class: "card edit", dataset: { code: course.code } }, h("h2", {}, t("courses.edit", { code: course.code })),
    Object.entries(inputs).map(([name, input]) => field(term("field", name), input)), h("button", { type: "submit" }, t("action.save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: inputs.title.value, capacity: Number(inputs.capacity.value),
      credits: Number(inputs.credits.value), description: inputs.description.value,
    };
    const answer = await call("course_data", `/courses/${course.id}`, { method: "PATCH", body });
    flash(answer.ok ? t("courses.saved", { code: course.code }) : problemText(answer), answer.ok ? "info" : "error");
    if (answer.ok) done();
  });
  return form;
}

export async function render(section) {
  const q = h("input", { name: "q", type: "search", placeholder: t("search.placeholder") });
  const search = h("form", { class: "search", role: "search" }, field(t("search.label"), q), h("button", { type: "submit" }, t("search.submit")));
  const results = h("div");
  const edit = h("div");
  const fresh = { code: h("input", { name: "code", required: true }), title: h("input", { name: "title", required: true }),
    credits: h("input", { name: "credits", type: "number", value: 3 }), capacity: h("input", { name: "capacity", type: "number", value: 30 }) };
  const create = h("form", { class: "card new" }, h("h2", {}, t("courses.new")),
    Object.entries(fresh).map(([name, input]) => field(term("field", name), input)), h("button", { type: "submit" }, t("action.create")));
  section.append(search, results, edit, create);
  async function load() {
    const answer = await call("course_data", `/courses?page_size=100&q=${encodeURIComponent(q.value)}`);
    if (!answer.ok) return clear(results).append(h("p", { class: "error" }, problemText(answer)));
    clear(results).append(table(
      [[t("col.id"), (c) => c.id], [t("col.code"), (c) => c.code], [t("col.title"), (c) => c.title], [t("col.credits"), (c) => c.credits],
        [t("col.taken"), (c) => `${c.taken}/${c.capacity}`], [t("col.waitlist"), (c) => c.waitlist_length],
        ["", (c) => h("button", { type: "button", onclick: () => clear(edit).append(editor(c, () => { clear(edit); load(); })) }, t("action.edit"))]],
      answer.body.items, t("courses.none")));
  }
  search.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { code: fresh.code.value, title: fresh.title.value, credits: Number(fresh.credits.value),
      capacity: Number(fresh.capacity.value), meetings: [] };
    const answer = await call("course_data", "/courses", { method: "POST", body });
    flash(answer.ok ? t("courses.created", { code: body.code }) : problemText(answer), answer.ok ? "info" : "error");
    if (answer.ok) load();
  });
  await load();
}
