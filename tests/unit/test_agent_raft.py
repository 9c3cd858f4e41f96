"""PySyncObj's "truncating already-applied log entries", reproduced on a real follower.

A leader that rewinds a follower's nextIndex (a stale `reset` reply) re-sends entries the
follower has already appended, committed and applied. The follower truncates and re-adds
them, and PySyncObj logs CRITICAL; the entries are the same committed ones, and nothing is
applied twice. Messages are fed to the follower's handler directly (private API, test only).
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import _COMMAND_TYPE, _bchr

from cluster.agent_raft import ReplicatedState, TruncationNotice
from cluster.agent_replica import digest
from tests.support import free_ports


def test_a_resent_append_entries_truncates_applied_entries_without_changing_the_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mine, leader_port = free_ports(2)
    emitted: list[tuple[Any, ...]] = []
    state = ReplicatedState(emit=emitted.append)
    sync = SyncObj(
        f"127.0.0.1:{mine}", [f"127.0.0.1:{leader_port}"], conf=SyncObjConf(autoTick=False), consumers=[state]
    )
    notice = TruncationNotice()
    logging.getLogger("pysyncobj.syncobj").addFilter(notice)
    try:
        sync.doTick(0)
        name = sync._getFuncName((id(state), "revoke_sessions"))
        method = sync._methodToID[(id(state), name)]

        def command(session: str) -> bytes:
            return bytes(_bchr(_COMMAND_TYPE.REGULAR)) + pickle.dumps((method, ([session], 100.0, 1.0)))

        append = {
            "type": "append_entries",
            "term": 1,
            "commit_index": 3,
            "entries": [(command("s2"), 2, 1), (command("s3"), 3, 1)],
            "prevLogIdx": 1,
            "prevLogTerm": 0,
        }
        deliver = sync._SyncObj__onMessageReceived
        leader = TCPNode(f"127.0.0.1:{leader_port}")
        deliver(leader, dict(append))
        sync.doTick(0)
        assert (state.applied, sync.getStatus()["last_applied"]) == (2, 3)
        before = digest(state.model)

        with caplog.at_level(logging.DEBUG, logger="pysyncobj.syncobj"):
            deliver(leader, dict(append))  # the same entries again, after a stale reset
            sync.doTick(0)
        assert notice.count == 1
        assert any("truncating already-applied" in r.getMessage() and r.levelname == "DEBUG" for r in caplog.records)
        assert (state.applied, sync.getStatus()["last_applied"]) == (2, 3)  # nothing applied twice
        assert digest(state.model) == before
        assert [m[0] for m in emitted] == ["apply", "apply"]
    finally:
        logging.getLogger("pysyncobj.syncobj").removeFilter(notice)
        sync.destroy()
