"""Partitions in tests: one helper for the in-memory Raft twin (`tests.kit.raft.Network`) and
for real processes in network namespaces (`ops.drill.netns.Lab`, which the drills use too).

Both cut a node (or host) off and heal it; `partitioned` cuts for the length of a `with`
block and heals whatever happens, so no test leaves a cut behind.
"""

from __future__ import annotations

from ops.partitions import Cuttable, heal_after, partitioned

__all__ = ["Cuttable", "heal_after", "partitioned"]
