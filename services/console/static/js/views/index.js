// Every view of the console and the roles that may open it (the API checks the role again:
// a view shown to the wrong role would only see the API's 403).

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

const ADMIN = ["admin", "super_admin"];

export const VIEWS = [
  { id: "status", label: "Cluster", roles: ADMIN, render: status.render },
  { id: "opening", label: "Opening", roles: ADMIN, render: opening.render },
  { id: "outbox", label: "Outbox", roles: ADMIN, render: outbox.render },
  { id: "settings", label: "Settings", roles: ADMIN, render: settings.render },
  { id: "courses", label: "Courses", roles: ADMIN, render: courses.render },
  { id: "imports", label: "Imports", roles: ADMIN, render: imports.render },
  { id: "windows", label: "Windows & holds", roles: ADMIN, render: windows.render },
  { id: "desk", label: "Desk", roles: ADMIN, render: desk.render },
  { id: "records", label: "Exports & audit", roles: ADMIN, render: records.render },
  { id: "teaching", label: "My courses", roles: ["teacher"], render: teaching.render },
  { id: "catalogue", label: "Catalogue", roles: ["student"], render: catalogue.render },
  { id: "mine", label: "My registration", roles: ["student"], render: mine.render },
  { id: "timetable", label: "Timetable", roles: ["student"], render: timetable.render },
  { id: "plan", label: "Plan", roles: ["student"], render: plan.render },
];
