"""Token signing keys: Ed25519, kept in the login database so every login node shares them.

The newest key signs. Rotation adds a new key and retires the old one, which stays
published in the JWKS until every token it signed has expired.

The private keys are encrypted at rest (AES-256-GCM, the key id as associated data) with
a key derived from the cluster secret (`secrets/cluster` or `CS_SECRET_CLUSTER`, which
every login node already shares): a copy of the database alone cannot sign a token. A
key stored in plain text (before this rule) is encrypted at the next start.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import OKPKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.schemas.login import signing_keys

log = logging.getLogger("course_selection.login")

_SEALED = "aes256gcm:"  # the prefix of an encrypted key; a plain one is a JSON object


class SigningKeyError(Exception):
    """A stored signing key cannot be decrypted: the cluster secret is not the one it was sealed with."""


class KeySeal:
    """Encrypts private JWKs for the database with a key derived from the cluster secret."""

    def __init__(self, cluster_secret: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"course-selection signing keys at rest"
        ).derive(cluster_secret.encode())
        self._aead = AESGCM(derived)

    def seal(self, kid: str, key: OKPKey) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(key.as_dict(private=True)).encode(), kid.encode())
        return _SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, kid: str, stored: str) -> OKPKey:
        if not is_sealed(stored):
            return OKPKey.import_key(json.loads(stored))
        raw = base64.urlsafe_b64decode(stored[len(_SEALED) :])
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], kid.encode())
        except InvalidTag:
            raise SigningKeyError(
                f"signing key {kid} cannot be decrypted: is this the cluster secret it was stored with?"
            ) from None
        return OKPKey.import_key(json.loads(plain))


def is_sealed(stored: str) -> bool:
    return stored.startswith(_SEALED)


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
    def __init__(self, database: Database, seal: KeySeal) -> None:
        self.database = database
        self.seal = seal
        self._keys: list[SigningKey] = []

    async def load(self) -> None:
        """Read the keys; create the first one if there is none (first start); encrypt plain ones."""
        async with self.database.read() as conn:
            rows = (await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))).all()
        if not rows:
            async with self.database.write() as conn:  # the write lock: concurrent first starts make one key
                rows = (await conn.execute(select(signing_keys))).all()
                if not rows:
                    kid, key = _new_key()
                    await conn.execute(
                        signing_keys.insert().values(
                            kid=kid, private_jwk=self.seal.seal(kid, key), created_at=time.time()
                        )
                    )
                    rows = (await conn.execute(select(signing_keys))).all()
        self._keys = [
            SigningKey(r.kid, self.seal.open(r.kid, r.private_jwk), r.created_at, r.retired_at)
            for r in sorted(rows, key=lambda r: r.created_at)
        ]
        plain = [(r.kid, r.private_jwk) for r in rows if not is_sealed(r.private_jwk)]
        if plain:
            await self._seal_stored(plain)

    async def _seal_stored(self, plain: list[tuple[str, str]]) -> None:
        """Replace keys stored in plain text by their encrypted form (each only if still plain)."""
        by_kid = {k.kid: k.key for k in self._keys}
        async with self.database.write() as conn:
            for kid, stored in plain:
                await conn.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid == kid, signing_keys.c.private_jwk == stored)
                    .values(private_jwk=self.seal.seal(kid, by_kid[kid]))
                )
        log.warning("encrypted signing keys stored in plain text", extra={"kids": [kid for kid, _ in plain]})

    @property
    def current(self) -> SigningKey:
        active = [k for k in self._keys if k.retired_at is None] or self._keys
        return active[-1]

    async def rotate(self, master_write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]) -> str:
        """Sign with a new key from now on; the old ones stay published until their tokens expire."""
        kid, key = _new_key()
        now = time.time()
        async with master_write() as conn:
            await conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=now))
            await conn.execute(
                signing_keys.insert().values(kid=kid, private_jwk=self.seal.seal(kid, key), created_at=now)
            )
        await self.load()
        return kid

    async def jwks(self, max_token_seconds: float) -> dict[str, Any]:
        """Public keys of every key that may still have valid tokens."""
        await self.load()  # cheap, and picks up a rotation made by another login node
        now = time.time()
        live = [k for k in self._keys if k.retired_at is None or k.retired_at + max_token_seconds > now]
        return {"keys": [{**k.key.as_dict(private=False), "alg": "Ed25519", "use": "sig"} for k in live]}
