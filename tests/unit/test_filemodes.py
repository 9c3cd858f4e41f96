"""The data directory is private: umask 077, and older loose entries tightened at start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from cluster.filemodes import secure_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_loose_entries_lose_group_and_other_bits_and_links_are_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "db").mkdir(parents=True)
    for folder in (data, data / "db"):
        folder.chmod(0o755)
    (data / "db" / "login.db").write_text("x")
    (data / "db" / "login.db").chmod(0o644)
    (data / "tool").write_text("x")
    (data / "tool").chmod(0o755)
    outside = tmp_path / "outside"
    outside.write_text("x")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)

    assert secure_data_dir(data) == 4
    assert (mode(data), mode(data / "db"), mode(data / "db" / "login.db"), mode(data / "tool")) == (
        0o700,
        0o700,
        0o600,
        0o700,
    )
    assert mode(outside) == 0o644
    assert secure_data_dir(data) == 0


def test_a_missing_data_directory_is_made_private(tmp_path: Path) -> None:
    secure_data_dir(tmp_path / "new" / "data")
    assert mode(tmp_path / "new" / "data") == 0o700


def test_the_private_umask_makes_directories_0700_and_files_0600(tmp_path: Path) -> None:
    code = (
        "import os; from cluster.filemodes import use_private_umask; use_private_umask();"
        " os.mkdir('d'); open('f', 'w').close(); print(oct(os.umask(0)))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "0o77"
    assert (mode(tmp_path / "d"), mode(tmp_path / "f")) == (0o700, 0o600)
