"""The windows the queue's admission check fetches and holds: every term's that has a window
not yet ended, never a past term's (its cache would grow with the history of every term)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.instants import iso, unix
from services.queue.windows import WindowCache, course_data_windows
from tests.api.registrar_kit import Node, service_node

NOW = time.time()


@pytest.fixture
def node(tmp_path: Path, redis_url: str) -> Iterator[Node]:
    with service_node("course_data", tmp_path, redis_url) as made:
        yield made


class Master:
    """course_data's master as the queue's internal client calls it (here: the test node)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.asked: list[dict[str, str]] = []

    async def call_master(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert (service, method) == ("course_data", "GET")
        self.asked.append(kwargs["params"])
        return self.node.client.get(path, params=kwargs["params"], headers=self.node.internal())


def windows_of(node: Node, term: str, *spans: tuple[float, float, float]) -> None:
    body = {"windows": [{"opens_at": o, "closes_at": c, "drop_deadline": d} for o, c, d in spans]}
    answer = node.client.put(f"/windows?term={term}", json=body, headers=node.auth("admin"))
    assert answer.status_code == 200, answer.text


def new_term(node: Node, code: str, starts_on: str, ends_on: str) -> None:
    body = {"code": code, "name": code, "starts_on": starts_on, "ends_on": ends_on}
    answer = node.client.post("/terms", json=body, headers=node.auth("admin"))
    assert answer.status_code == 201, answer.text


def test_admission_fetches_and_holds_no_past_term_s_windows(node: Node) -> None:
    new_term(node, "2025-fall", "2025-09-01", "2025-12-20")
    new_term(node, "2027-spring", "2027-01-11", "2027-05-01")
    hour = 3600.0
    windows_of(node, "2025-fall", (NOW - 900 * hour, NOW - 800 * hour, NOW - 700 * hour))  # long over
    # the current term: a window already over, and one still open
    windows_of(node, "default", (NOW - 3 * hour, NOW - 2 * hour, NOW - hour), (NOW - hour, NOW + hour, NOW + 2 * hour))
    windows_of(node, "2027-spring", (NOW + 900 * hour, NOW + 901 * hour, NOW + 902 * hour))  # not open yet
    every = node.client.get("/windows?term=all", headers=node.internal()).json()["windows"]
    assert len(every) == 4  # course_data keeps every term's

    master = Master(node)
    fetched = asyncio.run(course_data_windows(master, wall=lambda: NOW)())
    terms = {t["code"]: t["id"] for t in node.client.get("/terms", headers=node.auth("admin")).json()["items"]}
    assert sorted(w["term_id"] for w in fetched) == sorted([terms["default"]] * 2 + [terms["2027-spring"]])
    assert master.asked == [{"term": "all", "ending_after": str(int(NOW))}]
    cache = WindowCache(course_data_windows(master, wall=lambda: NOW))
    held = asyncio.run(cache.applicable(None))
    assert held is not None
    assert terms["2025-fall"] not in {w.term_id for w in held}
    assert {w.term_id for w in held} == {terms["default"], terms["2027-spring"]}
    # a live term comes whole: its window that ended too (which audience applies is chosen among all)
    closing = sorted(unix(w["closes_at"]) for w in fetched if w["term_id"] == terms["default"])
    assert closing == pytest.approx([NOW - 2 * hour, NOW + hour], abs=1e-3)  # (answers: ISO 8601 to the millisecond)
    assert node.client.get("/windows?term=all&ending_after=x", headers=node.internal()).status_code == 422
    as_iso = node.client.get("/windows", params={"term": "all", "ending_after": iso(NOW)}, headers=node.internal())
    assert (
        as_iso.json()["windows"]
        == node.client.get(f"/windows?term=all&ending_after={NOW}", headers=node.internal()).json()["windows"]
    )
    assert len(as_iso.json()["windows"]) == 3
    naive = node.client.get("/windows?term=all&ending_after=2027-01-15T09:00:00", headers=node.internal())
    assert (naive.status_code, naive.json()["errors"][0]["field"]) == (422, "ending_after")
