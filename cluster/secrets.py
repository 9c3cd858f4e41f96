"""Secrets generated at first start into the data directory, or given by environment."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cluster.errors import SecretFileEmptyError


def load_or_create_secret(data_dir: Path, name: str, given: str | None = None) -> str:
    """Return `given` if set, else the secret stored as `<data_dir>/secrets/<name>`.

    The file is created (mode 0600) on first use; concurrent first starts agree on one
    value because creation is exclusive and losers read the winner's file.
    """
    if given:
        return given
    folder = data_dir / "secrets"
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.mkdir(exist_ok=True, mode=0o700)
    folder.chmod(0o700)  # also when it existed before with a looser mode
    path = folder / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        deadline = time.monotonic() + 5  # a concurrent creator may not have written yet
        while time.monotonic() < deadline:
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.01)
        raise SecretFileEmptyError(f"secret file {path} is empty") from None
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    return value
