"""Each public name has one meaning, and each service's state is reached typed, never through Any."""

from __future__ import annotations

import ast
import collections
from types import SimpleNamespace
from typing import Any

import pytest

from services.common.context import NodeContext, ServiceSpec
from services.course_data.state import CourseData
from services.login.state import LoginState
from services.queue.state import QueueNode
from tests.support import ROOT


def defined_names(path: Any) -> list[str]:
    """The module's public classes and type aliases (`Name = ...` with a capitalised name)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name[:1].isupper() and not name.isupper():  # (not a CONSTANT)
                names.append(name)
    return [name for name in names if not name.startswith("_")]


def collisions() -> dict[str, list[str]]:
    where = collections.defaultdict(list)
    for package in ("cluster", "services", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in defined_names(path):
                where[name].append(str(path.relative_to(ROOT)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_two_modules_define_the_same_public_name() -> None:
    assert collisions() == {}


def test_the_check_would_catch_a_second_page() -> None:
    probe = ROOT / "services" / "teacher" / "_names_probe.py"
    probe.write_text("class PageRequest:\n    pass\n")
    try:
        assert collisions() == {"PageRequest": ["services/common/pagination.py", "services/teacher/_names_probe.py"]}
    finally:
        probe.unlink()


def context_keeping(state: object) -> NodeContext:
    master = SimpleNamespace(fence=lambda: ("tests", 1), step_down=lambda reason: None)
    spec = ServiceSpec("queue", "Queue", "")
    ctx = NodeContext(None, None, spec, SimpleNamespace(master=master), None, None, None, 0.0)  # type: ignore[arg-type]
    ctx.service = state
    return ctx


@pytest.mark.parametrize("kind", [QueueNode, CourseData, LoginState])
def test_a_service_reads_its_state_as_its_own_class_and_never_as_another(kind: type) -> None:
    state = object.__new__(kind)
    ctx = context_keeping(state)
    assert ctx.state(kind) is state
    other = next(k for k in (QueueNode, CourseData, LoginState) if k is not kind)
    with pytest.raises(TypeError, match=f"keeps {kind.__name__}, not {other.__name__}"):
        ctx.state(other)
