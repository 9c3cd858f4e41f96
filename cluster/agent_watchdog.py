"""The app's liveness as the agent sees it, and when a frozen master must be killed.

The app checks in from a thread of its own several times a second (not from its event
loop: a busy loop does not cost the lease). The agent renews the lease and the
membership heartbeat only while the app is alive (`alive`): it checked in within
`alive_window`, or it is visibly *busy*. Busy covers a thread holding the GIL in one
long C call (measured: a 60,000-key JSON body validated under an external CPU hog kept
the liveness thread silent for over 1.5 s): the kernel shows the process running, not
stopped, and its CPU time advancing (`/proc/<pid>/stat`). A busy app keeps the lease for
at most BUSY_GRACE_SECONDS without checking in. A stopped (SIGSTOP) or dead app is
neither, and loses the lease within a window.

If the app has not been alive for a whole lease, and the lease it held as master has
ended by its own reckoning (after which its pre-COMMIT check refuses every commit), the
agent kills it:
a frozen master must not keep holding the SQLite write lock or a PostgreSQL row lock its
successor needs, and by then the successor is about to take over (the replicated lease
expires `lease_margin_seconds` later). The supervisor then restarts the node, which comes back as a slave.

A gap in the agent's own ticks (the agent was paused too, e.g. the whole host) gives the
app a fresh window: the agent cannot tell how long the app was silent on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TICK_SECONDS = 0.05
BUSY_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ProcessSample:
    running: bool  # not stopped, traced, zombie or dead
    cpu_ticks: int  # user + system time


Probe = Callable[[], ProcessSample | None]


def proc_probe(pid: int) -> Probe:
    """Sample `pid` from /proc (Linux); None where it cannot be read (gone, or no /proc)."""
    path = f"/proc/{pid}/stat"

    def probe() -> ProcessSample | None:
        try:
            with open(path, "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return ProcessSample(fields[0] not in (b"T", b"t", b"Z", b"X"), int(fields[11]) + int(fields[12]))

    return probe


class AppWatchdog:
    def __init__(
        self,
        lease_seconds: float,
        margin_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        probe: Probe = lambda: None,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.margin_seconds = margin_seconds
        self.alive_window = lease_seconds / 5  # 0.3 s of a 1.5 s lease: three missed check-ins
        self._clock = clock
        self._probe = probe
        self.last_checkin = clock()
        self._last_tick = self.last_checkin
        self._last_alive = self.last_checkin
        self._cpu: int | None = None
        self._last_progress = -float("inf")  # when the app's CPU time last advanced while running
        self.gap_max = 0.0  # the longest silence seen between two check-ins
        self.busy_seconds = 0.0  # time kept alive by being busy rather than by check-ins

    def checkin(self) -> None:
        now = self._clock()
        self.gap_max = max(self.gap_max, now - self.last_checkin)
        self.last_checkin = now

    def alive(self) -> bool:
        now = self._clock()
        silent = now - self.last_checkin
        if silent < self.alive_window:
            return True
        return now - self._last_progress < self.alive_window and silent < BUSY_GRACE_SECONDS

    def must_kill(self, granted_sent: float) -> bool:
        """Call every TICK_SECONDS. `granted_sent`: send time of this node's last lease grant."""
        now = self._clock()
        if now - self._last_tick > self.alive_window:
            self.last_checkin = max(self.last_checkin, now)  # we were paused ourselves
        elapsed, self._last_tick = now - self._last_tick, now
        sample = self._probe()
        if sample is not None and sample.running and self._cpu is not None and sample.cpu_ticks != self._cpu:
            self._last_progress = now
        self._cpu = None if sample is None else sample.cpu_ticks
        if self.alive():
            if now - self.last_checkin >= self.alive_window:
                self.busy_seconds += elapsed
            self._last_alive = now
            return False
        if now - self._last_alive <= self.lease_seconds:
            return False  # a stall shorter than a lease (a loaded host) costs the lease, never the process
        # The app's own lease ended at `granted_sent + lease - margin` by this host's monotonic
        # clock (it re-checks that before every COMMIT), so from then on it can no longer commit
        # and killing it only frees the locks its successor is about to need.
        valid_until = granted_sent + self.lease_seconds - self.margin_seconds
        if valid_until <= self._last_alive:
            return False  # it was not master when it stopped
        return now > valid_until
