"""The console's languages and accessibility, in a real headless Chromium on one cluster.

The page follows `Accept-Language` (Simplified Chinese here) until its switch, reachable with
the keyboard, chooses English, a choice the browser remembers. axe-core (the pinned npm
package, copied into static/vendor by `make console-assets`) runs on every view of every
role and on the sign-in and password forms, and finds no serious or critical violation.
axe is given to the page as an init script (a DevTools call the page's CSP does not govern),
never served by a page; the CSP watch of test_console.py stays on and must stay empty.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from ops.localcluster import LocalCluster
from services.console.pages import STATIC
from tests.api.login_kit import STRONG
from tests.cluster.test_console import (
    Watched,
    browser,
    cluster,
    course,
    get,
    open_window,
    person,
    post,
    sign_in,
    student,
    window,
)
from tests.cluster.test_registrar import token

pytestmark = pytest.mark.cluster
__all__ = ["browser", "cluster", "window"]  # fixtures of test_console.py, whose cluster this module shares

AXE = STATIC / "vendor" / "axe.min.js"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
# What axe reports, short: the rule, its impact, and where.
AXE_RUN = """async () => {
  const found = await axe.run(document, { resultTypes: ["violations"] });
  return found.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + n.failureSummary) }));
}"""


@pytest.fixture
def axed(browser: Any) -> Iterator[Watched]:
    assert AXE.exists(), "axe-core is missing: make console-assets"
    watched = Watched(browser)
    watched.context.add_init_script(path=str(AXE))
    try:
        yield watched
    finally:
        watched.close()


def serious(window: Watched, where: str) -> list[str]:
    """axe's serious and critical violations on the page as it is now, named by `where`."""
    found: list[dict[str, Any]] = window.page.evaluate(AXE_RUN)
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['help']} {v['nodes']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_accept_language_chooses_chinese_and_the_keyboard_switch_chooses_english_for_good(
    cluster: LocalCluster, window: Watched
) -> None:
    open_window(cluster)
    code = f"ZH{secrets.randbelow(9000) + 1000}"
    course(cluster, code, "Chinese", meetings=[{"weekday": 0, "start": "09:00", "end": "10:00"}])
    name = f"zh{secrets.token_hex(3)}"
    student(cluster, name)
    page, base = window.page, cluster.url("student-1")
    page.set_extra_http_headers(ZH)
    # The server renders the shell in Chinese, and the modules take the same language.
    shell = get(base + "/", headers=ZH)
    assert shell.headers["content-language"] == "zh-CN"
    assert '<html lang="zh-CN">' in shell.text
    assert "选课系统" in shell.text
    assert '<html lang="en">' in get(base + "/", headers={"Accept-Language": "en-GB,zh;q=0.3"}).text
    page.goto(base + "/")
    page.wait_for_selector("#sign-in")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#sign-in h1") == "登录"
    assert page.title() == "选课系统控制台"
    assert "用户名" in page.inner_text("#sign-in")
    # The switch is reached with the keyboard (one Shift+Tab back from the focused username)
    # and works with Enter; what was typed stays.
    page.keyboard.type(name)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "lang"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # focus shows
    assert page.inner_text("#lang") == "English"
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-in h1:text-is('Sign in')")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("header .brand") == "Course selection"
    assert page.input_value("#sign-in input[name=username]") == name
    assert page.evaluate("localStorage.getItem('console.lang')") == "en"
    # Remembered: a reload (the browser still asks for Chinese) stays English.
    page.reload()
    page.wait_for_selector("#sign-in h1:text-is('Sign in')")
    assert page.inner_text("#lang") == "中文"
    # Back to Chinese, and a signed-in view is Chinese too: labels, weekdays, the role.
    page.click("#lang")
    page.wait_for_selector("#sign-in h1:text-is('登录')")
    sign_in(page, base, name, STRONG)
    page.wait_for_selector("#view-catalogue table")
    assert page.inner_text("#view-catalogue h1") == "课程目录"
    assert "课程代码" in page.inner_text("#view-catalogue thead")
    assert "学生" in page.inner_text("#who")  # the role, in words
    page.click("nav a[href='#/timetable']")
    page.wait_for_selector("#view-timetable .week")
    assert page.locator("#view-timetable .week .day").all_inner_texts()[:2] == ["周一", "周二"]
    # Switching while signed in keeps the session (it lives in memory) and shows the view again.
    page.click("#lang")
    page.wait_for_selector("#view-timetable h1:text-is('Timetable')")
    page.wait_for_selector("#view-timetable .week .day:text-is('Mon')")  # (the grid renders after the heading)
    assert page.locator("#view-timetable .week .day").all_inner_texts()[:2] == ["Mon", "Tue"]
    assert page.locator("#sign-in").count() == 0
    assert page.evaluate("document.activeElement.id") == "lang"
    window.shot("timetable-en-after-zh")
    assert window.problems() == []


def keyboard_to(page: Any, selector: str, presses: int = 60, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until `selector` has the focus: it is reached by keyboard."""
    for _ in range(presses):
        page.keyboard.press(key)
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the keyboard focus")


def test_a_student_signs_in_and_enrolls_with_the_keyboard_alone(cluster: LocalCluster, window: Watched) -> None:
    open_window(cluster)
    code = f"KB{secrets.randbelow(9000) + 1000}"
    course(cluster, code, "Keys")
    name = f"kb{secrets.token_hex(3)}"
    student(cluster, name)
    page = window.page
    page.goto(cluster.url("student-1") + "/")
    page.wait_for_selector("#sign-in input[name=username]:focus")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(STRONG)
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-catalogue table")
    keyboard_to(page, f"#view-catalogue button[data-code={code}]", presses=200)
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash:has-text('Enrolled')")
    keyboard_to(page, "nav a[href='#/mine']", presses=200, key="Shift+Tab")  # back up to the views' links
    page.keyboard.press("Enter")
    page.locator("#view-mine .enrolled tr", has_text=code).wait_for()
    assert window.problems() == []


def test_axe_finds_no_serious_violation_on_any_view_of_any_role(cluster: LocalCluster, axed: Watched) -> None:
    open_window(cluster)
    teacher = f"ax{secrets.token_hex(3)}"
    teacher_id = person(cluster, teacher, "teacher")
    pupil = f"ap{secrets.token_hex(3)}"
    pupil_id = person(cluster, pupil, "student", full_name="Axe Pupil")
    code = f"AX{secrets.randbelow(9000) + 1000}"
    taught = course(
        cluster, code, "Accessible", teacher_id=teacher_id, meetings=[{"weekday": 2, "start": "13:00", "end": "14:00"}]
    )
    enrolled = post(
        f"{cluster.url('student-1')}/student/enrollments",
        json={"course_id": taught},
        headers=token(cluster, pupil_id, "student"),
    )
    assert enrolled.status_code == 201, enrolled.text
    hold = post(
        f"{cluster.url('course_data-1')}/holds",
        json={"student_id": pupil_id, "reason": "library"},
        headers=token(cluster, 1, "admin"),
    )
    assert hold.status_code == 201, hold.text
    registrar = f"ar{secrets.token_hex(3)}"
    person(cluster, registrar, "admin", must_change_password=True)
    page, base = axed.page, cluster.url("student-1")
    found: list[str] = []

    page.goto(base + "/")
    page.wait_for_selector("#sign-in")
    found += serious(axed, "sign-in")
    page.click("#lang")  # the Chinese page, too (its language, its labels)
    page.wait_for_selector("#sign-in h1:text-is('登录')")
    found += serious(axed, "sign-in (zh)")
    page.click("#lang")
    page.wait_for_selector("#sign-in h1:text-is('Sign in')")
    sign_in(page, base, registrar, STRONG)
    page.wait_for_selector("#change-password")
    found += serious(axed, "change-password")
    page.fill("#change-password input[name=new_password]", STRONG + "x")
    page.fill("#change-password input[name=again]", STRONG + "x")
    page.click("#change-password button[type=submit]")
    settled = {
        "status": "#view-status .members table",
        "opening": "#view-opening .figures dd",
        "outbox": "#view-outbox [data-service=login] h3",
        "settings": "#view-settings pre:has-text('max_credits')",
        "courses": "#view-courses table",
        "imports": "#view-imports form",
        "windows": "#view-windows .add-hold",
        "desk": "#view-desk form.search",
        "records": "#view-records table",
    }
    for view, selector in settled.items():
        page.click(f"nav a[href='#/{view}']")
        page.wait_for_selector(selector)
        found += serious(axed, view)
    page.click("nav a[href='#/desk']")
    page.fill("#view-desk input[name=ref]", pupil)
    page.click("#view-desk form.search button")
    page.wait_for_selector("#view-desk .student:has-text('Axe Pupil')")
    found += serious(axed, "desk (a student)")
    page.click("#logout")
    page.wait_for_selector("#sign-in")

    sign_in(page, base, teacher, STRONG)
    page.locator("#view-teaching tr", has_text=code).locator("button").click()
    page.wait_for_selector("#view-teaching .course-detail tr:has-text('Axe Pupil')")
    found += serious(axed, "teaching")
    page.click("#logout")
    page.wait_for_selector("#sign-in")

    sign_in(page, base, pupil, STRONG)
    students = {
        "catalogue": "#view-catalogue table",
        "mine": "#view-mine .requests :is(table, .empty)",
        "timetable": f"#view-timetable .slot[data-code={code}]",
        "plan": "#view-plan .plan-items",
    }
    for view, selector in students.items():
        page.click(f"nav a[href='#/{view}']")
        page.wait_for_selector(selector)
        found += serious(axed, view)
    assert found == []
    assert axed.problems() == []  # axe ran without tripping the CSP


def test_the_catalogues_are_served_and_the_axe_script_is_in_no_page(cluster: LocalCluster) -> None:
    base = cluster.url("student-1")
    for language in ("en", "zh"):
        served = get(f"{base}/console/i18n/{language}.json")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/json")
        assert served.json() == json.loads((STATIC / "i18n" / f"{language}.json").read_text())
    assert "axe" not in get(base + "/").text
