"""A scripted opening in a real headless Chromium (issue 16, item 10), on one cluster for the module.

Three people at once, each in a browser context of their own: the admin (who signs in with
the default password and must change it, imports the courses, opens the window and watches
the rush), student A (who builds a plan, waits in the waiting room and submits the plan at
opening from the plan page) and student B (waitlisted in a course of one seat, promoted when
A drops it). Every step is done on the console's pages; the test asserts what they show.
Screenshots of each view go to `test-output/console-opening/` (git-ignored).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.localcluster import LocalCluster
from tests.api.login_kit import STRONG
from tests.cluster.conftest import console_cluster_at
from tests.cluster.test_console import Watched, browser, get, post, sign_in, student
from tests.cluster.test_registrar import token
from tests.support import wait_until

__all__ = ["browser"]  # the module's browser (test_console.py's fixture)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]  # five nodes start on a shared machine

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console-opening"
HEADER = "code,title,department,teacher_id,teacher_name,credits,capacity,meetings,prerequisites,location,description"
# The window is first set an hour ahead (the steps before opening take what they take on a shared
# machine), then brought forward to a few seconds ahead: the room opens by the clock, without the
# test waiting out a long countdown.
OPENS_IN_SECONDS = 3600
OPENS_AGAIN_IN_SECONDS = 2
RUSH = 20  # students asking for the rush course's 10 seats at opening, through the API


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A console cluster of this module's own: the admin's default password and no window yet."""
    with console_cluster_at(tmp_path_factory.mktemp("opening")) as made:
        yield made


def shot(watched: Watched, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def figure(page: Any, label: str) -> str:
    text: str = page.locator(f"#view-opening dd[data-figure='{label}']").inner_text()
    return text


def points(page: Any, caption: str) -> int:
    """How many points the Opening view's chart captioned `caption` draws."""
    chart = page.locator("#view-opening figure.chart", has=page.locator("figcaption", has_text=caption))
    return int(chart.get_attribute("data-points") or 0)


def course_id(cluster: LocalCluster, code: str) -> int:
    found = get(f"{cluster.url('course_data-1')}/courses", params={"q": code}, headers=token(cluster, 1, "admin"))
    [item] = [c for c in found.json()["items"] if c["code"] == code]
    return int(item["id"])


def row_of(page: Any, rows: str, label: str, value: object) -> Any:
    """The row of `rows` whose `label` column is exactly `value` (a course id "1" is not "12")."""
    cell = page.locator(f"td[data-label='{label}']", has_text=re.compile(f"^{re.escape(str(value))}$"))
    return page.locator(rows).filter(has=cell)


def visit(page: Any, view: str) -> None:
    page.click(f"nav a[href='#/{view}']")
    page.wait_for_selector(f"#view-{view}")


def set_window(page: Any, opens_at: float) -> None:
    """Replace the windows with one for every cohort opening at `opens_at` (to the second), on the
    windows page, and wait for the console to say it is set."""
    local = page.evaluate(
        "s => new Date(s * 1000 - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19)", opens_at
    )
    page.fill("#view-windows input[name=opens_at]", local)
    with page.expect_response(lambda r: r.url.endswith("/windows") and r.request.method == "PUT") as put:
        page.click("#view-windows form.set-window button[type=submit]")
    assert put.value.status == 200, put.value.text()
    page.wait_for_selector("#flash:has-text('Window set')")


def test_a_scripted_opening_plan_at_opening_waitlist_promotion_and_the_rush(
    cluster: LocalCluster, browser: Any
) -> None:
    base = cluster.url("student-1")
    tag = secrets.randbelow(9000) + 1000
    planned, single, rush = f"OA{tag}", f"ON{tag}", f"RU{tag}"
    first, second = f"first{secrets.token_hex(3)}", f"second{secrets.token_hex(3)}"
    for name in (first, second):
        student(cluster, name)
    admin, a, b = Watched(browser), Watched(browser), Watched(browser)
    try:
        # The admin signs in with the default password and is made to change it.
        sign_in(admin.page, base, "admin", "admin123")
        admin.page.wait_for_selector("#change-password")
        admin.page.fill("#change-password input[name=new_password]", STRONG)
        admin.page.fill("#change-password input[name=again]", STRONG)
        admin.page.click("#change-password button[type=submit]")
        admin.page.wait_for_selector("#view-status")
        signed = post(f"{cluster.url('login-1')}/auth/login", json={"username": "admin", "password": STRONG})
        assert signed.status_code == 200, signed.text  # the new password is the account's now

        # The admin imports the term's courses from a CSV file on the imports page.
        visit(admin.page, "imports")
        rows = [f"{planned},Planned,CS,,,3,5,,,,", f"{single},One seat,CS,,,3,1,,,,", f"{rush},The rush,CS,,,3,10,,,,"]
        csv = "\n".join([HEADER, *rows, ""]).encode()
        admin.page.select_option("#view-imports select[name=kind]", "courses")
        admin.page.set_input_files(
            "#view-imports input[type=file]", {"name": "term.csv", "mimeType": "text/csv", "buffer": csv}
        )
        admin.page.click("#view-imports button[type=submit]")
        status = admin.page.locator("#view-imports .job-status")
        finished = ("succeeded", "failed")
        wait_until(lambda: status.inner_text().startswith(finished), 180, "the import to finish")  # a worker process
        assert status.inner_text().startswith("succeeded: done 3/3"), status.inner_text()
        assert admin.page.eval_on_selector("#view-imports progress", "p => p.max === 3 && p.value === p.max")
        assert all(code in admin.page.inner_text("#view-imports .job-result") for code in (planned, single, rush))
        shot(admin, "import")
        ids = {code: course_id(cluster, code) for code in (planned, single, rush)}

        # Student A builds a plan before any window opens, saves and validates it.
        sign_in(a.page, base, first, STRONG)
        a.page.wait_for_selector("#view-catalogue")
        visit(a.page, "plan")
        a.page.wait_for_selector("#view-plan .plan-items")
        for code in (planned, single):
            a.page.fill("#view-plan input[name=course]", str(ids[code]))
            a.page.click("#view-plan button:has-text('Add to plan')")
        assert a.page.locator("#view-plan .plan-items tbody tr").count() == 2
        a.page.click("#view-plan button:has-text('Save')")
        a.page.wait_for_selector("#flash:has-text('Plan saved')")
        a.page.click("#view-plan button:has-text('Validate')")
        for code in (planned, single):
            verdict = row_of(a.page, "#view-plan .verdicts tbody tr", "Course", ids[code])
            verdict.wait_for()
            assert verdict.locator("td").nth(1).inner_text() == "enrolled"  # what the rules would decide
        shot(a, "plan")

        # A waits in the waiting room: no window yet.
        visit(a.page, "mine")
        room = a.page.locator("#view-mine .opening")
        wait_until(lambda: room.inner_text() == "No registration window is set for you.", 30, "no window")

        # The admin opens registration on the windows page, to the second, ahead.
        visit(admin.page, "windows")
        set_window(admin.page, time.time() + OPENS_IN_SECONDS)
        assert "every" in admin.page.locator("#view-windows table tbody tr").first.inner_text()

        # A's waiting room counts down, live; a plan submitted before opening is refused.
        wait_until(lambda: room.inner_text().startswith("Registration opens in"), 30, "the countdown")
        shot(a, "waiting-room")
        visit(a.page, "plan")
        a.page.wait_for_selector("#view-plan .plan-items tbody tr")
        a.page.click("#view-plan button:has-text('Submit plan')")
        a.page.wait_for_selector("#flash.error")
        assert "not open" in a.page.inner_text("#flash").lower()
        shot(admin, "windows")
        visit(admin.page, "opening")
        admin.page.wait_for_selector("#view-opening dd[data-figure=Decided]")
        decided_before = int(figure(admin.page, "Decided"))
        admitted_before = int(figure(admin.page, "Admitted"))

        # The admin brings the opening forward, on the windows page, to a few seconds ahead; A's
        # waiting room opens when that time comes, and the admin watches the opening.
        visit(admin.page, "windows")
        set_window(admin.page, time.time() + OPENS_AGAIN_IN_SECONDS)
        visit(admin.page, "opening")
        admin.page.wait_for_selector("#view-opening dd[data-figure=Decided]")
        visit(a.page, "mine")
        wait_until(lambda: room.inner_text().startswith("Registration is open"), 120, "the window to open")

        # At opening A submits the plan from the plan page, and the rush begins.
        visit(a.page, "plan")
        a.page.wait_for_selector("#view-plan .plan-items tbody tr")
        a.page.click("#view-plan button:has-text('Submit plan')")
        a.page.wait_for_selector("#flash:has-text('Plan submitted')")
        assert a.page.locator("#view-plan .verdicts tbody tr").count() == 2  # one queued request per item

        def ask(student_id: int) -> httpx.Response:
            return httpx.post(
                f"{cluster.url('queue-1')}/queue/requests",
                json={"action": "enroll", "course_id": ids[rush]},
                headers={**token(cluster, student_id, "student"), "Idempotency-Key": secrets.token_hex(8)},
                timeout=60,
            )

        with ThreadPoolExecutor(max_workers=10) as pool:  # at once, as a rush comes
            answers = list(pool.map(ask, range(91000, 91000 + RUSH)))
        assert all(r.status_code in (202, 409) for r in answers), answers  # queued, or refused at once: full
        queued = sum(r.status_code == 202 for r in answers)

        # A is shown enrolled in both, as soon as the queue decides.
        visit(a.page, "mine")
        for code in (planned, single):
            request = row_of(a.page, "#view-mine .requests tbody tr", "Course", ids[code])
            request.locator(".status-accepted").wait_for(timeout=60_000)
            a.page.locator("#view-mine .enrolled tbody tr", has_text=code).wait_for(timeout=60_000)
        shot(a, "enrolled")

        # The operator view shows the rush: the figures move, the charts have points, seats fill.
        wait_until(lambda: int(figure(admin.page, "Decided")) >= decided_before + 2 + queued, 60, "decisions")
        assert int(figure(admin.page, "Admitted")) >= admitted_before + 2 + queued
        p99 = figure(admin.page, "p99 to outcome (s)")
        assert float(p99) >= 0.0, p99  # a number, not the dash: requests were decided in the last minute
        assert points(admin.page, "Time to outcome") >= 2
        assert points(admin.page, "Per second") >= 2
        seats = admin.page.locator("#view-opening .seats tr", has_text=rush)
        wait_until(lambda: "10/10" in seats.inner_text(), 30, "the rush course's seats to fill on the page")
        shot(admin, "opening")

        # B finds the one-seat course taken: waitlisted, first in line.
        sign_in(b.page, base, second, STRONG)
        row = b.page.locator("#view-catalogue tr", has=b.page.locator(f"button[data-code={single}]"))
        row.wait_for()
        assert "yes, on the waitlist" in row.inner_text()
        row.locator("button.enroll").click()
        b.page.wait_for_selector("#flash:has-text('Waitlisted, position 1')")
        visit(b.page, "mine")
        waiting = b.page.locator("#view-mine .enrolled tr", has_text=single)
        waiting.wait_for()
        assert waiting.locator("td").nth(2).inner_text() == "1"  # the Waitlisted table's position
        assert b.page.locator("#view-mine .enrolled", has_text="No courses yet.").count() == 1
        shot(b, "waitlisted")

        # A drops it; B is promoted, and B's page shows the course enrolled.
        a.page.locator("#view-mine .enrolled tr", has_text=single).locator("button.drop").click()
        a.page.wait_for_selector("#flash:has-text('Dropped')")

        def promoted() -> bool:
            visit(b.page, "catalogue")
            visit(b.page, "mine")
            b.page.wait_for_selector("#view-mine .enrolled h2")
            return b.page.locator("#view-mine .enrolled", has_text="On no waitlist.").count() == 1

        wait_until(promoted, 30, "B promoted from the waitlist")
        enrolled = b.page.locator("#view-mine .enrolled table").first
        assert single in enrolled.inner_text()  # in the Enrolled table now
        shot(b, "promoted")
        for watched in (admin, a, b):
            assert watched.problems() == []
    finally:
        for watched in (admin, a, b):
            watched.close()
