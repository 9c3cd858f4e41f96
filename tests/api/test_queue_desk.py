"""What the registrar's desk asks the queue: how many of a student's requests still wait."""

from __future__ import annotations

from pathlib import Path

from tests.api.registrar_kit import service_node


def test_the_queue_counts_a_students_open_requests_for_the_desk(tmp_path: Path, redis_url: str) -> None:
    with service_node("queue", tmp_path, redis_url) as node:
        student = {**node.auth("student", 4242), "content-type": "application/json"}
        for n in range(2):  # no ledger here: they stay open
            taken = node.client.post(
                "/queue/requests",
                json={"action": "enroll", "course_id": n + 1},
                headers={**student, "Idempotency-Key": f"desk-{n}"},
            )
            assert taken.status_code == 202, taken.text
        path = "/internal/queue/students/{}/open"
        assert node.client.get(path.format(4242), headers=node.internal()).json() == {"open": 2}
        assert node.client.get(path.format(4243), headers=node.internal()).json() == {"open": 0}
        assert node.client.get(path.format(4242), headers=node.auth("admin")).status_code == 401
