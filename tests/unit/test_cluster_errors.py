"""One root for the cluster's errors, no bare RuntimeError, and the same answers for clients."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from cluster.errors import (
    ClusterError,
    LeaseNotHeldError,
    MasterLostLeaseError,
    MasterUnknownError,
    RaftError,
)
from services.common.forwarding import on_master
from services.common.problems import EXCEPTION_HANDLERS
from storage.errors import LeaseEndedError, StaleEpochError
from tests.support import ROOT


def test_every_exception_of_the_cluster_layer_has_the_one_root() -> None:
    rootless = []
    for path in sorted((ROOT / "cluster").glob("*.py")):
        module = importlib.import_module(f"cluster.{path.stem}")
        for name, value in vars(module).items():
            error = inspect.isclass(value) and issubclass(value, BaseException)
            if error and value.__module__.startswith("cluster.") and not issubclass(value, ClusterError):
                rootless.append(f"{value.__module__}.{name}")
    assert rootless == []


_BARE = ("RuntimeError", "Exception")


def bare_raises(paths: list[Any]) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.exc if isinstance(node, ast.Raise) else None
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _BARE:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_cluster_and_the_shared_service_code_raise_no_bare_runtime_error() -> None:
    paths = [*(ROOT / "cluster").rglob("*.py"), *(ROOT / "services" / "common").rglob("*.py")]
    paths.append(ROOT / "services" / "queue" / "state.py")
    assert bare_raises(paths) == []


class FakeMaster:
    def __init__(self, master: bool) -> None:
        self.master = master
        self.reasons: list[str] = []

    def is_master(self) -> bool:
        return self.master

    def step_down(self, reason: str) -> None:
        self.reasons.append(reason)


def app_raising(error: BaseException, *, master: bool = True) -> Starlette:
    """One on_master route that raises `error` (on this master, or from forwarding to one)."""

    async def forward(*args: Any) -> Any:
        raise error

    ctx = SimpleNamespace(
        node=SimpleNamespace(id="n1", service="course_data"),
        cluster=SimpleNamespace(master=FakeMaster(master), client=SimpleNamespace(forward=forward)),
    )

    async def endpoint(request: Request) -> Response:
        raise error

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"ctx": ctx}

    return Starlette(
        routes=[Route("/write", on_master(endpoint), methods=["POST"])],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )


# What clients got before the errors had one root: the same type, status, detail and Retry-After.
@pytest.mark.parametrize(
    ("error", "master", "kind", "detail"),
    [
        (
            LeaseNotHeldError("n1 is not the master of course_data"),
            True,
            "no-master",
            "this node's master lease lapsed; retry",
        ),
        (
            MasterUnknownError("course_data has no master right now"),
            False,
            "no-master",
            "course_data has no master right now",
        ),
        (
            MasterLostLeaseError("n2 lost its lease before answering"),
            False,
            "no-master",
            "n2 lost its lease before answering",
        ),
        (RaftError("timeout"), True, "unavailable", "raft call failed: timeout"),  # was a 500
        (StaleEpochError("course_data", 3), True, "fenced", "a newer master has written; retry"),
        (LeaseEndedError("course_data", 3), True, "fenced", "a newer master has written; retry"),
    ],
)
def test_cluster_errors_answer_clients_as_before(error: Exception, master: bool, kind: str, detail: str) -> None:
    with TestClient(app_raising(error, master=master), raise_server_exceptions=False) as client:
        answer = client.post("/write")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert (answer.json()["type"], answer.json()["detail"]) == (f"/problems/{kind}", detail)
