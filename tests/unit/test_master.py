"""The lease keeper (in the Raft agent) and the master role (in the app), against the
in-memory twin of Raft (`tests/kit/raft.py`): the acting rule and the fencing rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.agent_lease import LeaseKeeper
from cluster.config import RaftConfig
from cluster.errors import LeaseNotHeldError
from cluster.master import MasterRole
from cluster.model import ClusterModel
from storage.database import Database
from storage.errors import LeaseEndedError, StaleEpochError
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS, write_checks
from tests.kit.partition import partitioned
from tests.kit.raft import Clock, Network, TwinRaft

TIMING = RaftConfig(
    lease_seconds=2.0,
    renew_every_seconds=0.5,
    lease_margin_seconds=0.5,
    heartbeat_seconds=1.0,
    member_down_after_seconds=5.0,
    election_timeout_min=0.3,
    election_timeout_max=0.6,
    append_entries_period=0.05,
    connection_retry_seconds=0.5,
    leader_fallback_seconds=1.5,
)


class AgentLink:
    """What the app's RaftGroup does for MasterRole: deliver ops to the agent's keeper."""

    keeper: LeaseKeeper

    def op(self, name: str, *args: object) -> None:
        assert name == "step_down"
        self.keeper.step_down(str(args[0]))

    async def release_lease(self) -> None:
        await self.keeper.release()


class Node:
    """One node: the agent's keeper publishing to the app's role, as over the channel."""

    def __init__(self, node_id: str, raft: TwinRaft, clock: Clock) -> None:
        self.link = AgentLink()
        self.role = MasterRole(self.link, "course_data", node_id, TIMING, clock=clock)  # type: ignore[arg-type]
        self.app_alive = True
        self.keeper = LeaseKeeper(
            raft,
            "course_data",
            node_id,
            TIMING,
            clock=clock,
            wall=clock,
            alive=lambda: self.app_alive,
            publish=self.role.on_lease,
        )
        self.link.keeper = self.keeper

    async def attempt(self) -> bool:
        await self.keeper.tick()
        return self.role.is_master()


async def test_one_master_and_the_others_wait() -> None:
    clock, model = Clock(), ClusterModel()
    a, b = Node("a", TwinRaft(model), clock), Node("b", TwinRaft(model), clock)
    assert await a.attempt()
    assert not await b.attempt()
    assert a.role.fence() == ("course_data", 1)
    with pytest.raises(LeaseNotHeldError):
        b.role.fence()


async def test_a_master_stops_acting_before_its_lease_ends() -> None:
    clock, model = Clock(), ClusterModel()
    a = Node("a", TwinRaft(model), clock)
    await a.attempt()
    clock.now += TIMING.lease_seconds - TIMING.lease_margin_seconds - 0.01
    assert a.role.is_master()
    clock.now += 0.02
    assert not a.role.is_master()  # the lease itself is still valid for another margin
    lease = model.master("course_data", clock.now)
    assert lease is not None
    assert lease.holder == "a"


async def test_a_paused_master_is_replaced_and_its_stale_write_is_fenced(tmp_path: Path) -> None:
    clock, model = Clock(), ClusterModel()
    a, b = Node("a", TwinRaft(model), clock), Node("b", TwinRaft(model), clock)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    try:
        await migrate(db, MIGRATIONS)
        await a.attempt()
        stale_fence = a.role.fence()  # a checked its lease, then was paused (SIGSTOP) before writing
        a.app_alive = False  # its agent sees no check-in and stops renewing
        await a.attempt()
        clock.now += TIMING.lease_seconds + 1
        assert await b.attempt()
        assert b.role.epoch == 2
        async with db.write(fence=b.role.fence()) as conn:
            await conn.execute(write_checks.insert().values(node_id="b", epoch=b.role.epoch, written_at=clock.now))
        with pytest.raises(StaleEpochError):  # a resumes and writes with what it had
            async with db.write(fence=stale_fence) as conn:
                await conn.execute(write_checks.insert().values(node_id="a", epoch=1, written_at=clock.now))
        assert not a.role.is_master()
        a.app_alive = True
        assert not await a.attempt()  # and asking again does not get it back
        async with db.read() as conn:
            rows = (await conn.execute(write_checks.select())).all()
        assert [(r.node_id, r.epoch) for r in rows] == [("b", 2)]
    finally:
        await db.close()


async def test_a_master_frozen_inside_a_transaction_past_its_lease_rolls_back(tmp_path: Path) -> None:
    """The successor has not written (it waits on the lock): only the commit-time re-check refuses."""
    clock, model = Clock(), ClusterModel()
    a = Node("a", TwinRaft(model), clock)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    try:
        await migrate(db, MIGRATIONS)
        await a.attempt()

        async def write_and_freeze() -> None:
            async with db.write(fence=a.role.fence) as conn:
                await conn.execute(write_checks.insert().values(node_id="a", epoch=a.role.epoch, written_at=clock.now))
                clock.now += TIMING.lease_seconds  # SIGSTOP here, woken after the lease

        with pytest.raises(LeaseEndedError):
            await write_and_freeze()
        assert await a.attempt()  # the lease was free again: a takes a new epoch and writes
        async with db.write(fence=a.role.fence) as conn:
            await conn.execute(write_checks.insert().values(node_id="a", epoch=a.role.epoch, written_at=clock.now))
        async with db.read() as conn:
            rows = (await conn.execute(write_checks.select())).all()
        assert [(r.node_id, r.epoch) for r in rows] == [("a", 2)]
    finally:
        await db.close()


async def test_no_renewal_while_the_app_does_not_check_in() -> None:
    clock, model = Clock(), ClusterModel()
    raft = TwinRaft(model)
    a = Node("a", raft, clock)
    assert await a.attempt()
    a.app_alive = False
    for _ in range(5):
        clock.now += TIMING.renew_every_seconds
        await a.attempt()
    assert not a.role.is_master()
    assert model.master("course_data", clock.now) is None  # the lease ran out: another may take it
    a.app_alive = True
    assert await a.attempt()
    assert a.role.epoch == 2


async def test_renewal_failures_keep_the_master_only_until_its_local_deadline() -> None:
    clock, model = Clock(), ClusterModel()
    raft = TwinRaft(model)
    a = Node("a", raft, clock)
    await a.attempt()
    raft.failing = True
    clock.now += 1.0
    assert await a.attempt()  # still within lease - margin
    clock.now += 1.0
    assert not await a.attempt()
    assert a.keeper.stats.failures == {"missing_leader": 2}


async def test_a_master_cut_off_from_the_majority_stops_acting_and_another_takes_over() -> None:
    clock, model, network = Clock(), ClusterModel(), Network()
    a = Node("a", TwinRaft(model, clock, "a", network), clock)
    b = Node("b", TwinRaft(model, clock, "b", network), clock)
    assert await a.attempt()
    with partitioned(network, "a"):
        clock.now += TIMING.lease_seconds - TIMING.lease_margin_seconds + 0.01
        assert not await a.attempt()  # its renewal cannot commit: it stops before its lease ends
        assert not await b.attempt()  # the lease has not run out yet
        clock.now += TIMING.lease_margin_seconds
        assert await b.attempt()
        assert b.role.epoch == 2
    assert not await a.attempt()  # healed: it finds b's lease, and stays a standby
    assert b.role.is_master()


async def test_release_hands_over_without_waiting_for_expiry_and_stops_renewing() -> None:
    clock, model = Clock(), ClusterModel()
    a, b = Node("a", TwinRaft(model), clock), Node("b", TwinRaft(model), clock)
    await a.attempt()
    await a.role.release()
    assert not a.role.is_master()
    assert await b.attempt()
    assert b.role.epoch == 2
    clock.now += TIMING.lease_seconds + 1
    assert not await a.attempt()  # a released node never asks again
    assert model.master("course_data", clock.now) is None


async def test_a_grant_decided_before_a_step_down_does_not_make_the_app_master_again() -> None:
    clock, model = Clock(), ClusterModel()
    a = Node("a", TwinRaft(model), clock)
    await a.attempt()
    sent_before = clock.now
    clock.now += 0.1
    a.role.step_down("a write was refused by fencing")
    assert not a.role.is_master()
    a.role.on_lease(1, sent_before + 1.5, sent_before)  # a push that was already on its way
    assert not a.role.is_master()
    clock.now += 0.1
    assert await a.attempt()  # a renewal sent after the step-down counts


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.floats(min_value=0.0, max_value=1.5),
        st.booleans(),
        st.floats(min_value=0.0, max_value=1.0),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps)
async def test_never_two_acting_masters(script: list[tuple[str, float, bool, float, bool]]) -> None:
    """Whatever the order of attempts, pauses, slow commits, Raft failures and silent apps:
    at most one app acts as master, and each new acting master has a larger epoch than every
    one before."""
    clock, model = Clock(), ClusterModel()
    rafts = {n: TwinRaft(model, clock) for n in "abc"}
    nodes = {n: Node(n, rafts[n], clock) for n in "abc"}
    last_epoch = 0
    for node, pause, raft_fails, commit_delay, app_alive in script:
        clock.now += pause
        rafts[node].failing = raft_fails
        rafts[node].commit_delay = commit_delay
        nodes[node].app_alive = app_alive
        await nodes[node].attempt()
        acting = [n.role for n in nodes.values() if n.role.is_master()]
        assert len(acting) <= 1
        if acting:
            assert acting[0].epoch >= last_epoch
            last_epoch = acting[0].epoch
