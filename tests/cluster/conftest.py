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


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
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
    try:
        yield cluster.start_serving("login", "course_data")
    finally:
        cluster.stop_all()


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
def console_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One console cluster for test_console.py and test_console_i18n_a11y.py, whose tests each make
    what they need (accounts, courses with random names of their own) and all set the same open
    window: one start of five nodes instead of one per module."""
    with console_cluster_at(tmp_path_factory.mktemp("console")) as made:
        yield made
