"""Every error the cluster layer raises, under one root: `ClusterError`.

One class per thing that happened, named for it, so a caller can catch exactly that
(or the root) and `services/common/problems.py` can render each one the same way
everywhere. Mastership has two sides that must not be confused:

- `LeaseNotHeldError`: *this node* is not its service's master now (it asked to act as
  one: a fenced write, a master-only task);
- `MasterUnknownError`: the replicated state names *no master* for some service right
  now (an election is under way), so a call to that master cannot be sent.
"""

from __future__ import annotations


class ClusterError(Exception):
    """Base of every error raised by `cluster/`."""


class ConfigError(ClusterError):
    """The configuration is invalid; `problems` lists every problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class SecretFileEmptyError(ClusterError):
    """A secret file exists but stayed empty (its creator died before writing it)."""


class SecretSealError(ClusterError, ValueError):
    """A sealed secret that this cluster's key does not open."""


class UmaskNotSetError(ClusterError):
    """The process could not make its files private (umask 077 did not take)."""


class InvalidInternalTokenError(ClusterError):
    """An internal token that no peer of this cluster minted, or one expired or malformed."""


class RaftError(ClusterError):
    """A replicated call did not commit (no leader, leader changed, timed out...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"raft call failed: {reason}")
        self.reason = reason


class RaftAgentStartError(ClusterError):
    """The Raft agent process died or never sent the replicated state at start."""


class NotReadyError(ClusterError):
    """This node cannot serve yet: no Raft leader with quorum, or not in the membership."""


class RedisServerError(ClusterError):
    """The private redis-server could not be started."""


class LeaseNotHeldError(ClusterError):
    """This node does not hold a valid master lease for its service now."""


class EpochChangedError(LeaseNotHeldError):
    """The lease is held at another epoch than the one a task started in (an import job's)."""


class MasterUnknownError(ClusterError):
    """The service has no master right now (an election is under way)."""


class MasterLostLeaseError(MasterUnknownError):
    """The master a call was sent to lost its lease before it answered."""


class NoHealthyMemberError(ClusterError):
    """No node of the service is alive in the membership."""


class InternalCallRefusedError(ClusterError):
    """Another service's master answered an internal call with an error status."""

    def __init__(self, service: str, status: int, text: str) -> None:
        super().__init__(f"{service} answered {status}: {text[:200]}")
        self.service = service
        self.status = status
