"""Errors raised by the storage layer.

The services map them onto the error contract: `StaleEpochError` (and its
`LeaseEndedError`) to 503 after stepping down, `StorageUnavailableError` to 503 with
`Retry-After`, `StorageFullError` to 507. None of them is ever a 500.
"""


class StorageError(Exception):
    """Base of every storage error."""


class StaleEpochError(StorageError):
    """A write carried an epoch older than the newest this database has seen.

    Raised inside the write's transaction, which is therefore rolled back: a deposed
    master can never commit.
    """

    def __init__(self, scope: str, epoch: int, why: str = "is older than the newest seen") -> None:
        super().__init__(f"write refused: epoch {epoch} for {scope!r} {why}")
        self.scope = scope
        self.epoch = epoch


class LeaseEndedError(StaleEpochError):
    """The writer's master lease ended (or changed epoch) while its transaction ran.

    Raised by the re-check just before COMMIT, so the transaction is rolled back: a
    master frozen inside a transaction that wakes after its lease never commits.
    """

    def __init__(self, scope: str, epoch: int) -> None:
        super().__init__(scope, epoch, "is no longer this node's lease: rolled back before commit")


class StorageUnavailableError(StorageError):
    """The database cannot take this request now (lock or pool wait, lost session): retry."""


class StorageFullError(StorageError):
    """The database's disk is full: nothing was written."""
