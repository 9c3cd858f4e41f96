from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from ops.localcluster import LocalCluster
from services.console.pages import STATIC
from tests.support import TEST_ENV, cluster_toml, wait_until

MakeCluster = Callable[..., LocalCluster]
# The session's shared clusters (fixture name -> how many tests of the run still use it, and the
# cluster while it runs). An idle five-node cluster keeps 0.37 of a core busy (its Raft agents'
# heartbeats and health checks, measured): left up to the session's end, two of them slowed
# every later test, so each stops once the last test using it is done.
USERS = pytest.StashKey[dict[str, int]]()
RUNNING = pytest.StashKey[dict[str, LocalCluster]]()
SESSION_CLUSTERS = ("shared", "console_cluster")


def pytest_collection_finish(session: pytest.Session) -> None:
    names = {
        name: sum(name in getattr(item, "fixturenames", ()) for item in session.items) for name in SESSION_CLUSTERS
    }
    session.config.stash[USERS] = names
    session.config.stash[RUNNING] = {}


@pytest.hookimpl(trylast=True)  # (after the item's own fixtures are torn down)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    users, running = item.config.stash[USERS], item.config.stash[RUNNING]
    for name in SESSION_CLUSTERS:
        if name in getattr(item, "fixturenames", ()):
            users[name] -= 1
            if users[name] == 0 and name in running:
                running.pop(name).stop_all()


@contextlib.contextmanager
def session_cluster(config: pytest.Config, name: str, cluster: LocalCluster) -> Iterator[LocalCluster]:
    """`cluster` for the tests using fixture `name`: stopped after the last of them, or at the
    session's end (a run stopped early)."""
    config.stash[RUNNING][name] = cluster
    try:
        yield cluster
    finally:
        config.stash[RUNNING].pop(name, None)
        cluster.stop_all()


@pytest.fixture(scope="session")
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One cluster (login, course_data, two student nodes, a teacher node) for every test that
    only adds data of its own and kills, freezes or restarts nothing: one start (~1.5 s of a Raft
    agent per node on a busy machine) instead of one per test. Each such test uses course codes,
    usernames and forged user ids no other test uses (it says which), so randomized order holds;
    it sets the same open window as the others (now - 60 s to now + 1 h) and changes no setting
    another reads (the only one changed, the default term's dates, only its test reads)."""
    where = tmp_path_factory.mktemp("shared")
    text, _ = cluster_toml(where / "cluster", counts={"login": 1, "course_data": 1, "student": 2, "teacher": 1})
    (where / "cluster.toml").write_text(text)
    cluster = LocalCluster(where / "cluster.toml", where / "cluster", TEST_ENV)
    with session_cluster(request.config, "shared", cluster):
        yield cluster.start_serving("login", "course_data")


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    """Build LocalClusters on free ports (their nodes get `TEST_ENV`); every process they start is
    stopped afterwards."""
    made: list[LocalCluster] = []

    def make(counts: dict[str, int], extra: str = "", name: str = "cluster") -> LocalCluster:
        text, _ = cluster_toml(tmp_path / name, counts=counts, extra=extra)
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        cluster = LocalCluster(path, tmp_path / name, TEST_ENV)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop_all()


CONSOLE_COUNTS = {"login": 1, "course_data": 1, "teacher": 1, "student": 1, "queue": 1}


@contextlib.contextmanager
def console_cluster_at(where: Path) -> Iterator[LocalCluster]:
    """The console's browser tests' cluster, one node of each service, each with a master."""
    assert (STATIC / "vendor" / "uPlot.esm.js").exists(), "the console's chart library is missing: make console-assets"
    text, _ = cluster_toml(where / "cluster", counts=CONSOLE_COUNTS)
    (where / "cluster.toml").write_text(text)
    made = LocalCluster(where / "cluster.toml", where / "cluster")
    try:
        made.start()
        made.wait_ready(timeout=180)  # five nodes on a machine other suites share
        for service in CONSOLE_COUNTS:
            wait_until(partial(made.master, service, "student-1"), 60, f"a {service} master")
        yield made
    finally:
        made.stop_all()


@pytest.fixture(scope="session")
def console_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One console cluster for test_console.py and test_console_i18n_a11y.py, whose tests each make
    what they need (accounts, courses with random names of their own) and all set the same open
    window: one start of five nodes instead of one per module."""
    with (
        console_cluster_at(tmp_path_factory.mktemp("console")) as made,
        session_cluster(request.config, "console_cluster", made),
    ):
        yield made
