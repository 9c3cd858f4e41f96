"""PySyncObj's Raft journal with its disk blocks reserved before it writes into them.

PySyncObj keeps its journal in a memory-mapped file that it grows with `ftruncate`,
which allocates no blocks. On a full disk the first write into the new pages cannot be
backed and the kernel kills the whole node with SIGBUS. `ReservedJournal` wraps the
journal and, before each append, reserves real blocks for it with `fallocate(2)` and
FALLOC_FL_KEEP_SIZE (ahead of need, doubling as the journal itself does; the file's size
stays PySyncObj's, whose `mmap.size()` reads it), so a full disk surfaces as an
`OSError` (ENOSPC) before anything is appended: PySyncObj's tick thread logs it and
carries on, the entry is not accepted (a leader drops the command, whose caller times
out; a follower does not acknowledge, and the leader sends it again), and the node
stays up. Once space is free again the journal grows as before.

It reaches into PySyncObj twice, by the names its version (0.3.17) uses: the SyncObj's
journal attribute, and the journal's current end offset. `tests/unit/test_journal.py`
fails if either moves.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
from typing import Any

from pysyncobj.journal import FileJournal, Journal
from pysyncobj.pickle import to_bytes

log = logging.getLogger("course_selection.raft")

_RECORD_OVERHEAD = 4 + 16 + 4  # length, idx and term, length again (FileJournal.add)
_MIN_RESERVE = 16 * 1024
_FALLOC_FL_KEEP_SIZE = 1  # linux/falloc.h


class ReservedJournal(Journal):  # type: ignore[misc]
    def __init__(self, inner: FileJournal, path: str) -> None:
        self._inner = inner
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._reserved = 0  # bytes from the start of the file known to have blocks
        self._full = False
        self._meta_full = False
        self._unsupported = False

    def add(self, command: Any, idx: int, term: int) -> None:
        self.reserve(self.end + _RECORD_OVERHEAD + len(to_bytes(command)))
        self._inner.add(command, idx, term)

    @property
    def end(self) -> int:
        """Where the next record goes."""
        offset: int = self._inner._FileJournal__currentOffset
        return offset

    def reserve(self, end: int) -> None:
        """Make sure the file's first `end` bytes have blocks; OSError(ENOSPC) if they cannot."""
        if self._unsupported:
            return
        if end <= self._reserved:
            return
        target = max(end, 2 * self._reserved, _MIN_RESERVE)
        try:
            _fallocate_keep_size(self._fd, target)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._unsupported = True  # this filesystem cannot reserve: as PySyncObj does
                log.warning("the Raft journal's filesystem cannot reserve blocks", extra={"error": str(exc)})
                return
            if exc.errno == errno.ENOSPC and not self._full:
                log.error("the Raft journal cannot grow: the disk is full; this node accepts no entries")
            self._full = exc.errno == errno.ENOSPC
            raise
        if self._full:
            log.warning("the Raft journal can grow again")
        self._full = False
        self._reserved = target

    # the rest is the wrapped journal's (PySyncObj's method names)

    def clear(self) -> None:
        self._inner.clear()

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        self._inner.deleteEntriesFrom(entryFrom)

    def deleteEntriesTo(self, entryTo: int) -> None:
        self._inner.deleteEntriesTo(entryTo)

    def __getitem__(self, item: Any) -> Any:
        return self._inner[item]

    def __len__(self) -> int:
        return len(self._inner)

    def _destroy(self) -> None:
        self._inner._destroy()
        os.close(self._fd)

    def flush(self) -> None:
        self._inner.flush()

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        self._inner.setRaftCommitIndex(raftCommitIndex)

    def getRaftCommitIndex(self) -> int:
        return int(self._inner.getRaftCommitIndex())

    def setCurrentTerm(self, term: int, votedForNodeId: Any) -> None:
        self._inner.setCurrentTerm(term, votedForNodeId)

    def getCurrentTerm(self) -> int:
        return int(self._inner.getCurrentTerm())

    def getVotedForNodeId(self) -> Any:
        return self._inner.getVotedForNodeId()

    def onOneSecondTimer(self) -> None:
        try:  # stores the commit index; unsaved, it is tried again next second
            self._inner.onOneSecondTimer()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            if not self._meta_full:
                log.error("the Raft journal's metadata cannot be stored: the disk is full")
            self._meta_full = True
            return
        self._meta_full = False


def _fallocate_keep_size(fd: int, length: int) -> None:
    """Blocks for the first `length` bytes of `fd`, without changing the file's size."""
    libc = ctypes.CDLL(None, use_errno=True)
    call = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if call is None:
        raise OSError(errno.EOPNOTSUPP, "no fallocate in this C library")
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if call(fd, _FALLOC_FL_KEEP_SIZE, 0, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def reserve_journal_blocks(sync: Any, path: str) -> ReservedJournal | None:
    """Put a ReservedJournal in front of a started SyncObj's file journal (None if it has none)."""
    inner = getattr(sync, "_SyncObj__raftLog", None)
    if not isinstance(inner, FileJournal):
        return None
    journal = ReservedJournal(inner, path)
    with contextlib.suppress(OSError):  # full already: the first append says so again
        journal.reserve(journal.end + _MIN_RESERVE)
    sync._SyncObj__raftLog = journal
    return journal
