from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cluster.secrets import load_or_create_secret


def test_generated_once_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path, "cluster")
    assert len(first) >= 40
    assert load_or_create_secret(tmp_path, "cluster") == first
    mode = (tmp_path / "secrets" / "cluster").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_concurrent_first_starts_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        values = set(pool.map(lambda _: load_or_create_secret(tmp_path, "s"), range(16)))
    assert len(values) == 1


def test_a_given_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path, "cluster", given="from-env") == "from-env"
    assert not (tmp_path / "secrets").exists()
