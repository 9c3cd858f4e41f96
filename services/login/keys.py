"""Token signing keys: Ed25519, kept in the login database so every login node shares them.

The newest key signs. Rotation adds a new key and retires the old one, which stays
published in the JWKS until every token it signed has expired.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import select, update

from storage.database import Database
from storage.fencing import Fence
from storage.schemas.login import signing_keys


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: OKPKey
    created_at: float
    retired_at: float | None


def _new_key() -> tuple[str, OKPKey]:
    kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    return kid, OKPKey.generate_key("Ed25519", parameters={"kid": kid})


class SigningKeys:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._keys: list[SigningKey] = []

    async def load(self) -> None:
        """Read the keys; create the first one if there is none (first start)."""
        async with self.database.read() as conn:
            rows = (await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))).all()
        if not rows:
            async with self.database.write() as conn:  # the write lock: concurrent first starts make one key
                rows = (await conn.execute(select(signing_keys))).all()
                if not rows:
                    kid, key = _new_key()
                    await conn.execute(
                        signing_keys.insert().values(
                            kid=kid, private_jwk=json.dumps(key.as_dict(private=True)), created_at=time.time()
                        )
                    )
                    rows = (await conn.execute(select(signing_keys))).all()
        self._keys = [
            SigningKey(r.kid, OKPKey.import_key(json.loads(r.private_jwk)), r.created_at, r.retired_at)
            for r in sorted(rows, key=lambda r: r.created_at)
        ]

    @property
    def current(self) -> SigningKey:
        active = [k for k in self._keys if k.retired_at is None] or self._keys
        return active[-1]

    async def rotate(self, fence: Fence) -> str:
        """Sign with a new key from now on; the old ones stay published until their tokens expire."""
        kid, key = _new_key()
        now = time.time()
        async with self.database.write(fence=fence) as conn:
            await conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=now))
            await conn.execute(
                signing_keys.insert().values(kid=kid, private_jwk=json.dumps(key.as_dict(private=True)), created_at=now)
            )
        await self.load()
        return kid

    async def jwks(self, max_token_seconds: float) -> dict[str, Any]:
        """Public keys of every key that may still have valid tokens."""
        await self.load()  # cheap, and picks up a rotation made by another login node
        now = time.time()
        live = [k for k in self._keys if k.retired_at is None or k.retired_at + max_token_seconds > now]
        return {"keys": [{**k.key.as_dict(private=False), "alg": "Ed25519", "use": "sig"} for k in live]}
