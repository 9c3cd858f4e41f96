"""Access tokens issued directly with the login service's signing key (benchmarks and tests).

The key is read from the login service's database (SQLite, or any URL the service takes,
in its schema where services share one database) and decrypted with the cluster secret,
as the login service does, so a benchmark can give ten thousand
students a token without ten thousand bcrypt logins.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import text

from cluster.config import ClusterConfig
from cluster.secrets import load_or_create_secret
from services.login.keys import KeySeal
from storage.database import Database

ISSUER, AUDIENCE = "course-selection-login", "course-selection"
_NEWEST_KEY = "SELECT kid, private_jwk FROM signing_keys ORDER BY created_at DESC LIMIT 1"


def signing_key(config: ClusterConfig) -> OKPKey:
    """The login service's current private key, read from its database."""
    url = config.database_url("login")
    if url.startswith("sqlite"):
        with sqlite3.connect(Path(url.removeprefix("sqlite+aiosqlite:///"))) as db:
            kid, stored = db.execute(_NEWEST_KEY).fetchone()
    else:
        kid, stored = asyncio.run(_newest_key(url, config.database_schema("login")))
    return KeySeal(load_or_create_secret(config.data_dir, "cluster", config.secret("cluster"))).open(kid, stored)


async def _newest_key(url: str, schema: str) -> tuple[str, str]:
    database = Database(url, schema=schema)
    try:
        async with database.read() as db:
            kid, stored = (await db.execute(text(_NEWEST_KEY))).one()
    finally:
        await database.close()
    return str(kid), str(stored)


def issue(key: OKPKey, user_id: int, role: str, minutes: int = 15, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "name": f"{role}{user_id}",
        "role": role,
        "sid": secrets.token_hex(8),
        "iat": now,
        "exp": now + minutes * 60,
        **claims,
    }
    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, body, key, algorithms=["Ed25519"])
