// Every view of the console and the roles that may open it (the API checks the role again:
// a view shown to the wrong role would only see the API's 403). A label is a function: it
// is read in the language shown.

import * as status from "./status.js";
import * as opening from "./opening.js";
import * as outbox from "./outbox.js";
import * as settings from "./settings.js";
import * as courses from "./courses.js";
import * as imports from "./imports.js";
import * as windows from "./windows.js";
import * as desk from "./desk.js";
import * as records from "./records.js";
import * as teaching from "./teaching.js";
import * as catalogue from "./catalogue.js";
import * as mine from "./mine.js";
import * as timetable from "./timetable.js";
import * as plan from "./plan.js";
import { t } from "../i18n.js";

const ADMIN = ["admin", "super_admin"];

export const VIEWS = [
  { id: "status", label: () => t("view.status"), roles: ADMIN, render: status.render },
  { id: "opening", label: () => t("view.opening"), roles: ADMIN, render: opening.render },
  { id: "outbox", label: () => t("view.outbox"), roles: ADMIN, render: outbox.render },
  { id: "settings", label: () => t("view.settings"), roles: ADMIN, render: settings.render },
  { id: "courses", label: () => t("view.courses"), roles: ADMIN, render: courses.render },
  { id: "imports", label: () => t("view.imports"), roles: ADMIN, render: imports.render },
  { id: "windows", label: () => t("view.windows"), roles: ADMIN, render: windows.render },
  { id: "desk", label: () => t("view.desk"), roles: ADMIN, render: desk.render },
  { id: "records", label: () => t("view.records"), roles: ADMIN, render: records.render },
  { id: "teaching", label: () => t("view.teaching"), roles: ["teacher"], render: teaching.render },
  { id: "catalogue", label: () => t("view.catalogue"), roles: ["student"], render: catalogue.render },
  { id: "mine", label: () => t("view.mine"), roles: ["student"], render: mine.render },
  { id: "timetable", label: () => t("view.timetable"), roles: ["student"], render: timetable.render },
  { id: "plan", label: () => t("view.plan"), roles: ["student"], render: plan.render },
];
