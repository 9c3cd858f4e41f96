"""Private signing keys are encrypted at rest; keys stored in plain text are encrypted at start."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import select

from services.login.keys import KeySeal, SigningKeyError, SigningKeys
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.login import signing_keys


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'login.db'}")
    await migrate(db, MIGRATIONS["login"])
    try:
        yield db
    finally:
        await db.close()


async def stored(database: Database) -> dict[str, str]:
    async with database.read() as conn:
        return {r.kid: r.private_jwk for r in await conn.execute(select(signing_keys))}


def private_part(key: OKPKey) -> str:
    d = key.as_dict(private=True)["d"]
    assert isinstance(d, str)
    return d


async def test_new_and_rotated_keys_are_stored_encrypted(database: Database) -> None:
    keys = SigningKeys(database, KeySeal("cluster secret"))
    await keys.load()
    await keys.rotate(lambda: database.write(fence=("login", 1)))
    rows = await stored(database)
    assert len(rows) == 2
    for kid, value in rows.items():
        assert value.startswith("aes256gcm:")
        assert private_part(next(k.key for k in keys._keys if k.kid == kid)) not in value
    again = SigningKeys(database, KeySeal("cluster secret"))
    await again.load()
    assert again.current.key.as_dict(private=True) == keys.current.key.as_dict(private=True)


async def test_a_plain_key_is_encrypted_at_the_next_start_and_still_signs(database: Database) -> None:
    old = OKPKey.generate_key("Ed25519", parameters={"kid": "old-plain"})
    async with database.write() as conn:
        await conn.execute(
            signing_keys.insert().values(
                kid="old-plain", private_jwk=json.dumps(old.as_dict(private=True)), created_at=1.0
            )
        )
    keys = SigningKeys(database, KeySeal("cluster secret"))
    await keys.load()
    value = (await stored(database))["old-plain"]
    assert value.startswith("aes256gcm:")
    assert private_part(old) not in value
    assert keys.current.key.as_dict(private=True) == old.as_dict(private=True)


async def test_another_cluster_secret_cannot_open_the_keys(database: Database) -> None:
    await SigningKeys(database, KeySeal("cluster secret")).load()
    with pytest.raises(SigningKeyError, match="cluster secret"):
        await SigningKeys(database, KeySeal("another secret")).load()
