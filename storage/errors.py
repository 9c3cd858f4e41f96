"""Errors raised by the storage layer."""


class StorageError(Exception):
    """Base of every storage error."""


class StaleEpochError(StorageError):
    """A write carried an epoch older than the newest this database has seen.

    Raised inside the write's transaction, which is therefore rolled back: a deposed
    master can never commit.
    """

    def __init__(self, scope: str, epoch: int) -> None:
        super().__init__(f"write refused: epoch {epoch} for {scope!r} is older than the newest seen")
        self.scope = scope
        self.epoch = epoch
