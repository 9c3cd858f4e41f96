"""How long a request waits for its outcome: the last minute's time from admission to decision,
as quantiles (p50, p99) for the operators' `/queue/stats`.

The decider records each decision's wait (the time the decision is recorded minus the
request's `admitted_at`) in a one-second slot; each slot is a DDSketch (the `ddsketch`
library: quantiles within 1 % relative error, at most `BIN_LIMIT` bins), so memory stays
bounded however busy the rush, recording costs a logarithm and a count per decision, and a
read merges at most a minute of slots. Slots older than the window are dropped as new ones
start. The figures are the master's own (only the master decides): a new master starts an
empty minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ddsketch import LogCollapsingLowestDenseDDSketch

WINDOW_SECONDS = 60
RELATIVE_ACCURACY = 0.01
BIN_LIMIT = 1024  # at 1 %: from about 1 ms to far beyond an hour, the lowest collapsed first


def _sketch() -> LogCollapsingLowestDenseDDSketch:
    return LogCollapsingLowestDenseDDSketch(relative_accuracy=RELATIVE_ACCURACY, bin_limit=BIN_LIMIT)


class OutcomeTimes:
    def __init__(self, clock: Callable[[], float] = time.monotonic, window_seconds: int = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window_seconds
        self._slots: dict[int, LogCollapsingLowestDenseDDSketch] = {}  # second (of `clock`) -> its waits

    def record(self, waits: Iterable[float]) -> None:
        """Count decisions made now, each with its wait in seconds (a negative one, from clocks
        apart across hosts, counts as 0)."""
        second = int(self._clock())
        sketch = self._slots.get(second)
        if sketch is None:
            self._slots = {s: k for s, k in self._slots.items() if second - s < self._window}
            sketch = self._slots[second] = _sketch()
        for wait in waits:
            sketch.add(max(0.0, wait))

    def quantiles(self) -> dict[str, float | int | None]:
        """The last minute's decisions: how many, and the median and 99th percentile wait
        (seconds; None with no decision in the window)."""
        now = int(self._clock())
        merged = _sketch()
        for second, sketch in list(self._slots.items()):
            if now - second < self._window:
                merged.merge(sketch)
        count = int(merged.count)
        p50, p99 = (merged.get_quantile_value(q) if count else None for q in (0.5, 0.99))
        return {
            "decisions": count,
            "p50": None if p50 is None else round(p50, 4),
            "p99": None if p99 is None else round(p99, 4),
        }
