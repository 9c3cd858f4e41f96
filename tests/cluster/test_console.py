"""The web console in a real headless Chromium, on one real cluster for the module.

Playwright drives Debian's chromium (`/usr/bin/chromium`, no browser download). Each test
opens its own browser context, so no test sees another's session; what a test needs in the
cluster (accounts, courses, windows) it makes itself, with names of its own.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from ops.localcluster import LocalCluster
from services.console.pages import STATIC
from tests.api.login_kit import STRONG
from tests.cluster.test_registrar import token
from tests.support import wait_until

pytestmark = pytest.mark.cluster

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
XSS_TITLE = "<img src=x onerror=window.__xss=1>"
# Watches for CSP violations and script errors from the first byte of every page.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install chromium chromium-driver)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
# Creating accounts hashes passwords (bcrypt): on a saturated machine that takes seconds.
get, post, put, patch = (partial(call, timeout=60) for call in (httpx.get, httpx.post, httpx.put, httpx.patch))


@pytest.fixture(scope="module")
def cluster(console_cluster: LocalCluster) -> LocalCluster:
    """The console cluster this module shares with test_console_i18n_a11y.py (tests/cluster/conftest.py)."""
    return console_cluster


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with what went wrong on it: CSP violations and uncaught script errors."""

    def __init__(self, browser: Any, width: int = 1200) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.set_default_timeout(20_000)

    def problems(self) -> list[str]:
        """CSP violations reported on the page, and uncaught script errors."""
        found: list[str] = self.page.evaluate("window.__csp")
        return found + self.errors

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def window(browser: Any) -> Iterator[Watched]:
    watched = Watched(browser)
    try:
        yield watched
    finally:
        watched.close()


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.fill("#sign-in input[name=username]", username)
    page.fill("#sign-in input[name=password]", password)
    page.click("#sign-in button[type=submit]")


def student(cluster: LocalCluster, username: str, **fields: Any) -> int:
    body = {"username": username, "role": "student", "password": STRONG, "must_change_password": False, **fields}
    made = post(f"{cluster.url('login-1')}/users", json=body, headers=token(cluster, 1, "admin"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def course(cluster: LocalCluster, code: str, title: str, **fields: Any) -> int:
    body = {"code": code, "title": title, "credits": 3, "capacity": 5, **fields}
    made = post(f"{cluster.url('course_data-1')}/courses", json=body, headers=token(cluster, 1, "admin"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def open_window(cluster: LocalCluster) -> None:
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    done = put(f"{cluster.url('course_data-1')}/windows", json=windows, headers=token(cluster, 1, "admin"))
    assert done.status_code == 200, done.text


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline.append("an inline <script>")
        self.inline += [f"{tag} {name}" for name in names if name.startswith("on")]


def test_the_pages_carry_a_strict_csp_and_no_inline_script(cluster: LocalCluster) -> None:
    base = cluster.url("student-1")
    for path in ("/", "/console/js/app.js", "/console/app.css", "/console/vendor/uPlot.esm.js"):
        answer = get(base + path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        for directive in ("frame-ancestors 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"):
            assert directive in csp, path
        assert "unsafe" not in csp, path
        assert answer.headers["x-content-type-options"] == "nosniff"
    parser = _Scripts()
    page = get(base + "/").text
    parser.feed(page)
    assert parser.inline == []
    # Every module is preloaded from the page (one wave of requests, not one per import level).
    for module in (STATIC / "js").rglob("*.js"):
        assert f'<link rel="modulepreload" href="/console/{module.relative_to(STATIC)}">' in page, module
    # No module writes HTML from strings: every value reaches the page as text.
    for module in (STATIC / "js").rglob("*.js"):
        source = module.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", source), module


def test_the_gateway_passes_the_token_through_and_refuses_what_only_another_site_sends(
    cluster: LocalCluster,
) -> None:
    base = cluster.url("student-1")
    admin = token(cluster, 1, "admin")
    me = get(f"{base}/api/login/auth/me", headers=admin)
    assert (me.status_code, me.json()["username"]) == (200, "admin")
    status = get(f"{base}/api/queue/cluster/status", headers=admin)
    assert (status.status_code, status.json()["node"]["service"]) == (200, "queue")  # a queue node answered
    # Nothing is added to the caller's credentials: without a token, an internal-or-admin route is 401.
    assert get(f"{base}/api/course_data/cluster/status").status_code == 401
    # A cookie is never a credential: the bearer token sent as a cookie is not forwarded.
    bearer = admin["Authorization"].removeprefix("Bearer ")
    assert get(f"{base}/api/login/auth/me", headers={"Cookie": f"access_token={bearer}"}).status_code == 401
    # What a cross-site form or a no-CORS fetch could send is refused before it goes anywhere.
    plain = {**admin, "Content-Type": "text/plain"}
    form = post(f"{base}/api/course_data/holds", content="student_id=1&reason=x", headers=plain)
    assert (form.status_code, form.json()["type"]) == (415, "/problems/unsupported-media-type")
    cross = get(f"{base}/api/login/auth/me", headers={**admin, "Sec-Fetch-Site": "cross-site"})
    assert (cross.status_code, cross.json()["type"]) == (403, "/problems/cross-site-request")
    other = get(f"{base}/api/login/auth/me", headers={**admin, "Origin": "http://evil.example"})
    assert other.status_code == 403
    assert post(f"{base}/api/login/internal/people", json={"ids": [1]}).status_code == 404
    assert get(f"{base}/api/nowhere/health").status_code == 404


def test_admin_signs_in_changes_the_password_and_watches_the_cluster_and_the_opening(
    cluster: LocalCluster, window: Watched
) -> None:
    page, base = window.page, cluster.url("student-1")
    sign_in(page, base, "admin", "admin123")
    page.wait_for_selector("#change-password")
    page.fill("#change-password input[name=new_password]", STRONG)
    page.fill("#change-password input[name=again]", STRONG)
    page.click("#change-password button[type=submit]")
    page.wait_for_selector("#view-status")
    masters = page.locator("#view-status .masters")
    for service in ("login", "course_data", "queue", "student", "teacher"):
        masters.locator("td", has_text=f"{service}-1").first.wait_for()
    assert "Raft leader" in page.inner_text("#view-status .raft")
    assert page.locator("#view-status .members tbody tr").count() == 5
    window.shot("cluster")
    # Access tokens live in memory only.
    assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    assert page.evaluate("document.cookie") == ""

    page.click("nav a[href='#/opening']")
    page.wait_for_selector("#view-opening .figures dd")
    assert page.locator("#view-opening canvas").count() >= 3  # three uPlot charts
    open_window(cluster)
    code = f"OP{secrets.randbelow(9000) + 1000}"
    rushed = course(cluster, code, "The rush", capacity=2)
    for student_id in range(4242, 4246):  # four students ask for two seats through the queue
        queued = post(
            f"{cluster.url('queue-1')}/queue/requests",
            json={"action": "enroll", "course_id": rushed},
            headers={**token(cluster, student_id, "student"), "Idempotency-Key": secrets.token_hex(8)},
        )
        assert queued.status_code in (202, 409), queued.text
    decided = page.locator("#view-opening dd[data-figure=Decided]")
    wait_until(lambda: int(decided.inner_text()) >= 1, 30, "the decided figure to move without a reload")
    seats = page.locator("#view-opening .seats tr", has_text=code)
    wait_until(lambda: "2/2" in seats.inner_text(), 30, "the course's seats to fill on the page")
    window.shot("opening")
    page.click("nav a[href='#/settings']")
    page.wait_for_selector("#view-settings pre:has-text('max_credits')")
    page.click("nav a[href='#/outbox']")
    page.wait_for_selector("#view-outbox [data-service=login] h3")
    assert "course_data" in page.inner_text("#view-outbox")
    assert window.problems() == []

    page.click("#logout")
    page.wait_for_selector("#sign-in")
    assert page.locator("nav a").count() == 0


def test_a_student_on_a_phone_enrolls_sees_the_week_and_a_hostile_title_stays_text(
    cluster: LocalCluster, browser: Any
) -> None:
    open_window(cluster)
    code = f"XS{secrets.randbelow(9000) + 1000}"
    course(cluster, code, XSS_TITLE, meetings=[{"weekday": 1, "start": "10:00", "end": "11:30"}])
    later = course(cluster, f"PL{secrets.randbelow(9000) + 1000}", "Planned", credits=2)
    name = f"phone{secrets.token_hex(3)}"
    student(cluster, name)
    phone = Watched(browser, width=390)
    try:
        page, base = phone.page, cluster.url("student-1")
        sign_in(page, base, name, STRONG)
        page.wait_for_selector("#view-catalogue")
        row = page.locator("#view-catalogue tr", has=page.locator(f"button[data-code={code}]"))
        row.wait_for()
        assert XSS_TITLE in row.inner_text()  # shown as the characters it is
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        phone.shot("catalogue-phone")
        row.locator("button.enroll").click()
        page.wait_for_selector("#flash:has-text('Enrolled')")

        page.click("nav a[href='#/timetable']")
        slot = page.locator(f"#view-timetable .slot[data-code={code}]")
        slot.wait_for()
        assert "10:00-11:30" in slot.inner_text()
        days = page.locator("#view-timetable .week .day")
        assert days.all_inner_texts()[:5] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
        tuesday, placed = days.nth(1).bounding_box(), slot.bounding_box()
        assert tuesday is not None
        assert placed is not None
        assert tuesday["x"] - 2 <= placed["x"] < tuesday["x"] + tuesday["width"]  # in Tuesday's column
        phone.shot("timetable-phone")

        page.click("nav a[href='#/plan']")
        page.wait_for_selector("#view-plan .plan-items")
        page.fill("#view-plan input[name=course]", str(later))
        page.click("#view-plan button:has-text('Add to plan')")
        page.click("#view-plan button:has-text('Validate')")  # saves the plan, then asks the ledger's rules
        verdict = page.locator("#view-plan .verdicts tr", has_text=str(later))
        verdict.wait_for()
        # The rules' verdict for a course with seats the student is not in, the window open: enrolled.
        assert verdict.locator("td[data-label=Outcome]").inner_text() == "enrolled"
        signed = post(f"{cluster.url('login-1')}/auth/login", json={"username": name, "password": STRONG})
        plan = get(f"{base}/student/plan", headers={"Authorization": f"Bearer {signed.json()['access_token']}"})
        assert [i["course_id"] for i in plan.json()["items"]] == [later]  # saved through the real API
        assert page.locator("#view-plan .unavailable").count() == 0
        assert phone.problems() == []
    finally:
        phone.close()


def test_two_factor_sign_in_asks_for_the_code(cluster: LocalCluster, window: Watched) -> None:
    name = f"otp{secrets.token_hex(3)}"
    user = student(cluster, name)
    login, me = cluster.url("login-1"), token(cluster, user, "student")
    secret = post(f"{login}/auth/otp/setup", json={"password": STRONG}, headers=me).json()["secret"]
    totp = pyotp.TOTP(secret)
    # Confirm with this step's code, sign in with the next step's (a code works once; the login
    # service takes the steps either side of its own, so a slow request still fits).
    confirmed = post(f"{login}/auth/otp/confirm", json={"password": STRONG, "code": totp.now()}, headers=me)
    assert confirmed.status_code in (200, 204), confirmed.text
    page = window.page
    sign_in(page, cluster.url("student-1"), name, STRONG)
    page.wait_for_selector("#sign-in input[name=otp]:visible")
    assert "code" in page.inner_text("#sign-in .error").lower()
    # The first catalogue call is answered 401 (an expired token): the page refreshes its
    # token with the refresh token and calls again, and the view shows.
    refused: list[str] = []
    refreshed: list[str] = []

    def expire_once(route: Any) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(status=401, content_type="application/problem+json", body='{"title": "expired"}')

    page.route("**/api/student/student/courses*", expire_once)
    page.on("request", lambda r: refreshed.append(r.url) if r.url.endswith("/api/login/auth/refresh") else None)
    page.fill("#sign-in input[name=otp]", totp.at(time.time() + totp.interval))
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#view-catalogue table, #view-catalogue .empty")  # the list, not an error
    assert len(refused) == 1
    assert len(refreshed) == 1
    assert window.problems() == []


def person(cluster: LocalCluster, username: str, role: str, **fields: Any) -> int:
    body = {"username": username, "role": role, "password": STRONG, "must_change_password": False, **fields}
    made = post(f"{cluster.url('login-1')}/users", json=body, headers=token(cluster, 2, "super_admin"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_the_registrar_imports_sees_every_bad_row_edits_a_course_and_opens_the_desk(
    cluster: LocalCluster, window: Watched
) -> None:
    registrar = f"reg{secrets.token_hex(3)}"
    person(cluster, registrar, "admin")
    pupil = f"desk{secrets.token_hex(3)}"
    person(cluster, pupil, "student", full_name="Desk Pupil")
    page = window.page
    sign_in(page, cluster.url("student-1"), registrar, STRONG)
    page.wait_for_selector("#view-status")

    page.click("nav a[href='#/imports']")
    header = (
        "code,title,department,teacher_id,teacher_name,credits,capacity,meetings,prerequisites,location,description"
    )
    good, bad = f"IM{secrets.randbelow(9000) + 1000}", f"IB{secrets.randbelow(9000) + 1000}"

    def upload(rows: str) -> None:
        csv = f"{header}\n{rows}\n".encode()
        page.set_input_files("#view-imports input[type=file]", {"name": "c.csv", "mimeType": "text/csv", "buffer": csv})
        page.click("#view-imports button[type=submit]")

    upload(f"{good},Fine,CS,,,3,10,Mon 09:00-10:00,,,\n{bad},Broken,CS,,,lots,10,,,,\n{bad},Twice,CS,,,3,-1,,,,")
    status = page.locator("#view-imports .job-status")
    wait_until(lambda: status.inner_text().startswith("failed"), 30, "the bad import to fail")
    errors = page.locator("#view-imports .job-errors tbody tr")
    lines = {errors.nth(i).locator("td").first.inner_text() for i in range(errors.count())}
    assert {"3", "4"} <= lines, lines  # every bad row is shown, not only the first
    window.shot("import-errors")
    upload(f"{good},Fine,CS,,,3,10,Mon 09:00-10:00,,,")
    wait_until(lambda: status.inner_text().startswith("succeeded"), 30, "the good import to succeed")
    assert page.eval_on_selector("#view-imports progress", "p => p.value === p.max")
    assert good in page.inner_text("#view-imports .job-result")

    page.click("nav a[href='#/courses']")
    page.fill("#view-courses input[name=q]", good)
    page.click("#view-courses form.search button")
    page.locator("#view-courses tbody tr", has_text=good).locator("button").click()
    page.fill(f"#view-courses form.edit[data-code={good}] input[name=capacity]", "42")
    page.click(f"#view-courses form.edit[data-code={good}] button[type=submit]")
    page.wait_for_selector(f"#flash:has-text('{good} saved')")
    admin = token(cluster, 1, "admin")
    listed = get(f"{cluster.url('course_data-1')}/courses", params={"q": good}, headers=admin).json()["items"]
    assert listed[0]["capacity"] == 42

    page.click("nav a[href='#/desk']")
    page.fill("#view-desk input[name=ref]", pupil)
    page.click("#view-desk form.search button")
    page.wait_for_selector("#view-desk .student:has-text('Desk Pupil')")
    window.shot("desk")
    assert window.problems() == []


def test_a_teacher_downloads_the_roster_and_removes_a_student_with_a_reason(
    cluster: LocalCluster, window: Watched
) -> None:
    teacher = f"t{secrets.token_hex(3)}"
    teacher_id = person(cluster, teacher, "teacher")
    pupil_id = person(cluster, f"p{secrets.token_hex(3)}", "student", full_name="Removed Pupil")
    open_window(cluster)
    code = f"TE{secrets.randbelow(9000) + 1000}"
    taught = course(cluster, code, "Taught", teacher_id=teacher_id)
    enrolled = post(
        f"{cluster.url('student-1')}/student/enrollments",
        json={"course_id": taught},
        headers=token(cluster, pupil_id, "student"),
    )
    assert enrolled.status_code == 201, enrolled.text
    page = window.page
    sign_in(page, cluster.url("student-1"), teacher, STRONG)
    page.wait_for_selector("#view-teaching")
    page.locator("#view-teaching tr", has_text=code).locator("button").click()
    row = page.locator("#view-teaching .course-detail tr", has_text="Removed Pupil")
    row.wait_for()
    with page.expect_download() as download:
        page.click("#view-teaching .course-detail button:has-text('CSV')")
    assert "Removed Pupil" in Path(download.value.path()).read_text()
    row.locator("input").fill("did not attend")
    row.locator("button.remove").click()
    page.wait_for_selector("#flash:has-text('Removed')")
    roster = get(f"{cluster.url('course_data-1')}/courses/{taught}/roster", headers=token(cluster, 1, "admin")).json()
    assert roster["students"] == []
    assert window.problems() == []


def test_through_the_queue_the_waiting_room_shows_the_outcome_and_a_drop_frees_the_seat(
    cluster: LocalCluster, window: Watched
) -> None:
    open_window(cluster)
    code = f"WQ{secrets.randbelow(9000) + 1000}"
    wanted = course(cluster, code, "Queued", capacity=3)
    name = f"wq{secrets.token_hex(3)}"
    student(cluster, name)
    login, superuser = cluster.url("login-1"), token(cluster, 2, "super_admin")
    switch = patch(f"{login}/settings", json={"queue": {"enabled": True}}, headers=superuser)
    assert switch.status_code == 200, switch.text
    probe = course(cluster, f"PR{secrets.randbelow(9000) + 1000}", "Probe", capacity=100)
    probes = iter(range(7000, 7100))

    def queued_now() -> bool:  # the student node has applied the setting: enrollments go through the queue
        who = token(cluster, next(probes), "student")
        post(f"{cluster.url('student-1')}/student/enrollments", json={"course_id": probe}, headers=who)
        mine = get(f"{cluster.url('queue-1')}/queue/requests", headers=who).json()
        return bool(mine["total"])

    try:
        wait_until(queued_now, 20, "enrollments to go through the queue")
        page = window.page
        sign_in(page, cluster.url("student-1"), name, STRONG)
        page.locator(f"#view-catalogue button[data-code={code}]").click()
        page.wait_for_selector("#flash:has-text('Enrolled')")
        page.click("nav a[href='#/mine']")
        request = page.locator("#view-mine .requests tr", has_text=str(wanted))
        request.locator(".status-accepted").wait_for()  # the queued request's outcome
        assert page.inner_text("#view-mine .opening").startswith("Registration is open")
        page.locator("#view-mine .enrolled tr", has_text=code).locator("button.drop").click()
        page.wait_for_selector("#flash:has-text('Dropped')")
        page.locator("#view-mine .enrolled", has_text="No courses yet.").wait_for()
        window.shot("waiting-room")
        assert window.problems() == []
    finally:
        off = patch(f"{login}/settings", json={"queue": {"enabled": False}}, headers=superuser)
        assert off.status_code == 200, off.text
