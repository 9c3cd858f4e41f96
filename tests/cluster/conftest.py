from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ops.localcluster import LocalCluster
from tests.support import TEST_ENV, cluster_toml

MakeCluster = Callable[..., LocalCluster]


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
