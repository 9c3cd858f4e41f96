"""Every fenced write in the services passes the master's fence itself, not its value.

`database.write(fence=master.fence)` re-checks the lease just before COMMIT;
`fence=master.fence()` would pin the epoch and silently lose that re-check.
"""

from __future__ import annotations

import ast
from pathlib import Path


def evaluated_fences(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "fence"
                    and isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Attribute)
                    and value.func.attr in ("fence", "_fence")
                ):
                    found.append(f"{path}:{node.lineno}")
    return found


def test_no_service_pins_its_fence_by_calling_it() -> None:
    assert evaluated_fences(Path(__file__).resolve().parents[2] / "services") == []


def test_the_check_would_catch_a_pinned_fence(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text("async def f(db, m):\n    async with db.write(fence=m.fence()):\n        pass\n")
    assert len(evaluated_fences(tmp_path)) == 1
