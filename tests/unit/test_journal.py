"""The Raft journal on a full disk: an OSError the node survives, not SIGBUS.

Each case runs in a child process on a small tmpfs this test mounts (as root), fills,
and removes: without the reservation the child dies of SIGBUS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pysyncobj.journal import FileJournal

from cluster.journal import ReservedJournal
from tests.support import ROOT

FILL_AND_APPEND = """
import errno, os, sys
from pysyncobj.journal import FileJournal
from cluster.journal import ReservedJournal

folder, reserved = sys.argv[1], sys.argv[2] == "reserved"
path = os.path.join(folder, "node.journal")
journal = FileJournal(path)
if reserved:
    journal = ReservedJournal(journal, path)
fd = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, b"x" * 65536)
except OSError:
    pass
for small in (4096, 1):  # fill what is left to the last byte
    try:
        while True:
            os.write(fd, b"x" * small)
    except OSError:
        pass
appended = 0
try:
    for i in range(100_000):
        journal.add(b"c" * 200, i + 2, 1)
        appended += 1
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
    assert len(journal) == appended  # the refused entry was not taken in
    os.close(fd)
    os.unlink(os.path.join(folder, "filler"))
    journal.add(b"after", appended + 2, 1)  # space again: it grows as before
    print("refused", appended, flush=True)
    sys.exit(0)
print("appended everything", flush=True)
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root: the full-disk journal test is not run")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def append_on_full_disk(folder: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FILL_AND_APPEND, str(folder), mode], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_full_disk_refuses_the_append_with_enospc_and_the_process_lives(small_disk: Path) -> None:
    done = append_on_full_disk(small_disk, "reserved")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused")


def test_without_the_reservation_pysyncobj_dies_of_sigbus(small_disk: Path) -> None:
    """Why the reservation exists (and proof that the test above can fail)."""
    done = append_on_full_disk(small_disk, "plain")
    assert done.returncode == -7  # SIGBUS


def test_the_wrapper_finds_pysyncobjs_internals_and_the_journal_grows_as_before(tmp_path: Path) -> None:
    path = str(tmp_path / "j.journal")
    journal = ReservedJournal(FileJournal(path), path)
    start = journal.end
    journal.add(b"entry", 2, 1)
    assert journal.end > start
    size = os.stat(path).st_size
    assert os.stat(path).st_blocks * 512 > size  # reserved ahead, the file's size left alone
    for i in range(3, 5000):  # far past the first map: PySyncObj resizes it as usual
        journal.add(b"e" * (i % 300), i, 1)
    assert os.stat(path).st_blocks * 512 >= journal.end  # real blocks under what was written
    journal._destroy()
    again = FileJournal(path)
    assert [(e[1], len(e[0])) for e in again[:]] == [(2, 5)] + [(i, i % 300) for i in range(3, 5000)]
    again._destroy()
