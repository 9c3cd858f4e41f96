"""The replicated model's lease and membership rules, applied directly (in-memory twin)."""

from __future__ import annotations

import pytest

from cluster.errors import SecretSealError
from cluster.model import ClusterModel, Member
from cluster.settings import SecretBox


def test_first_grant_then_compare_and_set_refuses_others() -> None:
    model = ClusterModel()
    first = model.acquire("course_data", "a", now=100.0, ttl=2.0)
    assert first.granted
    assert first.lease is not None
    assert first.lease.epoch == 1
    refused = model.acquire("course_data", "b", now=101.0, ttl=2.0)
    assert not refused.granted
    assert refused.lease == first.lease


def test_renewal_keeps_the_epoch_and_extends() -> None:
    model = ClusterModel()
    model.acquire("s", "a", 100.0, 2.0)
    renewed = model.acquire("s", "a", 101.0, 2.0)
    assert renewed.granted
    assert renewed.lease is not None
    assert (renewed.lease.epoch, renewed.lease.expires_at) == (1, 103.0)


def test_every_new_grant_has_a_larger_epoch_even_for_the_same_holder() -> None:
    model = ClusterModel()
    epochs = []
    for i, holder in enumerate(["a", "b", "b", "a", "c"]):
        result = model.acquire("s", holder, now=100.0 + 10 * i, ttl=2.0)  # each after the last expired
        assert result.lease is not None
        epochs.append(result.lease.epoch)
    assert epochs == [1, 2, 3, 4, 5]


def test_services_have_independent_leases_and_epochs() -> None:
    model = ClusterModel()
    model.acquire("login", "l1", 100.0, 2.0)
    result = model.acquire("queue", "q1", 100.0, 2.0)
    assert result.granted
    assert result.lease is not None
    assert result.lease.epoch == 1


def test_release_lets_a_successor_in_at_once() -> None:
    model = ClusterModel()
    model.acquire("s", "a", 100.0, 10.0)
    assert not model.release("s", "a", epoch=7, now=101.0)  # not its epoch
    assert not model.release("s", "b", epoch=1, now=101.0)  # not its lease
    assert model.release("s", "a", epoch=1, now=101.0)
    assert model.master("s", 101.0) is None
    result = model.acquire("s", "b", 101.0, 10.0)
    assert result.granted
    assert result.lease is not None
    assert result.lease.epoch == 2


def test_membership_register_heartbeat_forget() -> None:
    model = ClusterModel()
    assert not model.heartbeat("a", 5.0)
    model.register(Member("a", "login", "http://x", "h:1", "1", started_at=1.0, last_heartbeat=1.0))
    assert model.heartbeat("a", 5.0)
    assert model.heartbeat("a", 4.0)  # a late, reordered beat never moves time back
    assert model.members["a"].last_heartbeat == 5.0
    assert model.members["a"].healthy(now=9.0, down_after=5.0)
    assert not model.members["a"].healthy(now=10.5, down_after=5.0)
    model.acquire("login", "a", 5.0, 10.0)
    assert model.forget("a")
    assert "a" not in model.members
    assert model.master("login", 6.0) is None


def test_the_settings_audit_keeps_a_mask_for_a_secret_whatever_was_proposed() -> None:
    model = ClusterModel()
    model.update_settings({}, "root", {"notifications": {"smtp_password": "pw", "smtp_host": "h"}}, now=1.0)
    model.update_settings({}, "root", {"notifications": {"smtp_password": None}}, now=2.0)
    assert [e["changes"] for e in model.settings_audit] == [
        {"notifications": {"smtp_password": "********", "smtp_host": "h"}},
        {"notifications": {"smtp_password": None}},  # cleared, and the audit says so
    ]
    model.settings_audit[0]["changes"] = {"notifications": {"smtp_password": "pw"}}  # as an older version kept it
    model.update_settings({}, "root", {}, now=3.0)
    assert model.settings_audit[0]["changes"] == {"notifications": {"smtp_password": "********"}}
    assert len(model.settings_audit) == 3


def test_sealed_secrets_open_only_with_the_same_cluster_secret() -> None:
    box = SecretBox("cluster-one")
    # (a plaintext no ciphertext could contain by chance: "pw" turned up in random base64 once)
    secret = "the SMTP password, 42!"
    stored = box.seal_settings({"notifications": {"smtp_password": secret, "smtp_port": 25}})
    assert secret not in str(stored)
    assert box.open_settings(stored) == {"notifications": {"smtp_password": secret, "smtp_port": 25}}
    with pytest.raises(SecretSealError):
        SecretBox("cluster-two").open_settings(stored)
