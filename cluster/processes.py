"""Helpers for child processes of a supervisor."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading

_PR_SET_PDEATHSIG = 1
PRIORITY_BOOST = 10


def die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM when its parent dies.

    So a supervisor killed with SIGKILL leaves no orphan nodes or redis-server behind.
    (Strictly, when the parent *thread* that spawned it ends: spawn from the main thread.)
    """
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no such guarantee
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def raise_priority() -> None:
    """Give the calling thread a higher CPU priority (nice -10) when allowed (as root).

    For the threads that keep the lease: an external CPU hog should not starve them.
    Without the privilege this is a no-op. On Linux, nice values are per thread.
    """
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(-20, os.getpriority(os.PRIO_PROCESS, tid) - PRIORITY_BOOST))
