"""No fenced write is written by hand: every master write goes through `MasterWriter`.

`cluster/master_writer.py` is the one place that passes a fence to `Database.write`: it
passes the master's fence itself (re-checked just before COMMIT, where a pinned
`fence=master.fence()` would lose the re-check) and steps the node down when fencing
refuses the write. A route writes with `ctx.master_write()`; a hand-written
`database.write(fence=...)` anywhere else in `cluster/` or `services/` would skip the
step-down, so it is refused here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

HELPER = ROOT / "cluster" / "master_writer.py"


def hand_written_fences(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path == HELPER:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and any(keyword.arg == "fence" for keyword in node.keywords):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_every_fenced_write_goes_through_the_master_writer() -> None:
    assert hand_written_fences(ROOT / "cluster", ROOT / "services") == []
    assert "self.database.write(fence=" in HELPER.read_text()  # (the one place that may)


def test_the_check_would_catch_a_fence_written_by_hand(tmp_path: Path) -> None:
    probe = tmp_path / "services" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "async def f(ctx, db, m):\n"
        "    async with db.write(fence=m.fence):\n"
        "        pass\n"
        "    async with ctx.database.write(fence=m.fence()):\n"
        "        pass\n"
        "    async with ctx.master_write():\n"
        "        pass\n"
    )
    assert hand_written_fences(probe.parent) == ["services/probe.py:2", "services/probe.py:4"]
