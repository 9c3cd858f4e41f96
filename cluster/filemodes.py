"""Files the system writes are readable by it alone.

The data directory holds what an attacker on the host wants: the login database (the
password hashes, the TOTP secrets, the sealed signing keys), the Raft journal and
snapshots (the replicated settings), the private Redis's data. Every process of the
system runs with umask 077, so each directory it creates is 0700 and each file 0600
(SQLite gives its -wal and -shm files the database's mode; redis-server and PySyncObj
create theirs through the umask). At start the data directory is made 0700, and
anything beneath it that others could reach (written before this rule, or by a tool
with a looser umask) loses its group and other bits.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cluster.errors import UmaskNotSetError

PRIVATE_UMASK = 0o077
_OTHERS = 0o077

log = logging.getLogger("course_selection.files")


def use_private_umask() -> None:
    """Set umask 077 for this process and the processes it starts, and check it took."""
    os.umask(PRIVATE_UMASK)
    if os.umask(PRIVATE_UMASK) != PRIVATE_UMASK:  # reading the umask means setting it
        raise UmaskNotSetError("could not set umask 077")


def secure_data_dir(path: Path) -> int:
    """Make `path` (created if missing) 0700 and strip group and other bits beneath it.

    Returns how many entries were changed; symbolic links are left alone (their mode is
    not used), and so is what they point to.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = 0
    for entry in (path, *path.rglob("*")):
        try:
            mode = entry.lstat().st_mode
        except FileNotFoundError:  # removed while we walked (a SQLite -shm, a temporary dump)
            continue
        if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & _OTHERS:
            continue
        try:
            entry.chmod(stat.S_IMODE(mode) & ~_OTHERS)
        except FileNotFoundError:
            continue
        changed += 1
    if changed:
        log.warning("made files under the data directory private", extra={"path": str(path), "entries": changed})
    return changed
