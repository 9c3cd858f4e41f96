"""The architecture's dependency rules, checked on every import in the packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

SERVICES = ("course_data", "login", "teacher", "student", "queue")
# Not for the Raft agent: the web stack and the settings' validation.
HEAVY = ("pydantic", "limits", "prometheus_client", "sqlalchemy", "httpx", "starlette", "fastapi")


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def violations() -> list[str]:
    broken = []
    for package in ("cluster", "services", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            for name in imports(path):
                top = name.split(".")[0]
                where = "/".join(parts)
                if top in ("ops", "tests"):
                    broken.append(f"{where} imports {name}")
                if package == "storage" and top in ("cluster", "services"):
                    broken.append(f"{where} imports {name}")
                if package == "cluster" and top == "services":
                    broken.append(f"{where} imports {name}")
                if package == "services" and len(parts) > 2 and parts[1] in SERVICES:
                    target = name.split(".")
                    if top == "services" and len(target) > 1 and target[1] in SERVICES and target[1] != parts[1]:
                        broken.append(f"{where} imports another service: {name}")
    return broken


def test_packages_keep_the_dependency_rules() -> None:
    assert violations() == []


def test_the_rules_would_catch_a_cross_service_import(tmp_path: Path) -> None:
    offending = ROOT / "services" / "teacher" / "_layout_probe.py"
    offending.write_text("from services.course_data.ledger import Ledger\n")
    try:
        assert violations() == [
            "services/teacher/_layout_probe.py imports another service: services.course_data.ledger"
        ]
    finally:
        offending.unlink()


SHOW_LOADED = "import sys, cluster.agent; print(sorted(set(sys.modules) & set(sys.argv[1:])))"


def test_the_raft_agent_does_not_load_the_web_stack() -> None:
    """Every node starts its own agent process (`python -m cluster.agent`), so what it imports is paid
    at every start: pydantic and `limits` (the settings' validation) doubled its CPU, prometheus_client
    added half again."""
    loaded = subprocess.run(
        [sys.executable, "-c", SHOW_LOADED, *HEAVY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]", f"the Raft agent imports {loaded}"
