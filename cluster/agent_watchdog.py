"""The app's liveness as the agent sees it, and when a frozen master must be killed.

The app checks in from a thread of its own several times a second (not from its event
loop: a busy loop does not cost the lease). The agent renews the lease and the
membership heartbeat only while the last check-in is recent (`alive`). If the app stays
silent for longer than a lease while this node may have been master, and the lease it
held has surely expired for everyone, the agent kills it: a frozen master must not keep
holding the SQLite write lock or a PostgreSQL row lock its successor needs. The
supervisor then restarts the node, which comes back as a slave.

A gap in the agent's own ticks (the agent was paused too, e.g. the whole host) gives the
app a fresh window: the agent cannot tell how long the app was silent on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TICK_SECONDS = 0.05


class AppWatchdog:
    def __init__(
        self, lease_seconds: float, margin_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lease_seconds = lease_seconds
        self.margin_seconds = margin_seconds
        self.alive_window = lease_seconds / 3
        self._clock = clock
        self.last_checkin = clock()
        self._last_tick = self.last_checkin
        self.gap_max = 0.0  # the longest silence seen between two check-ins

    def checkin(self) -> None:
        now = self._clock()
        self.gap_max = max(self.gap_max, now - self.last_checkin)
        self.last_checkin = now

    def alive(self) -> bool:
        return self._clock() - self.last_checkin < self.alive_window

    def must_kill(self, granted_sent: float) -> bool:
        """Call every TICK_SECONDS. `granted_sent`: send time of this node's last lease grant."""
        now = self._clock()
        if now - self._last_tick > self.alive_window:
            self.last_checkin = max(self.last_checkin, now)  # we were paused ourselves
        self._last_tick = now
        if now - self.last_checkin <= self.lease_seconds:
            return False
        lease_end = granted_sent + self.lease_seconds
        if lease_end <= self.last_checkin:
            return False  # it was not master when it went silent
        return now > lease_end + self.margin_seconds
