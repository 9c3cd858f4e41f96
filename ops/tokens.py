"""Access tokens issued directly with the login service's signing key (benchmarks and tests).

The key is read from the login database of a local cluster (and decrypted with the
cluster secret, as the login service does), so a benchmark can give ten thousand
students a token without ten thousand bcrypt logins.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey

from cluster.config import ClusterConfig
from cluster.secrets import load_or_create_secret
from services.login.keys import KeySeal

ISSUER, AUDIENCE = "course-selection-login", "course-selection"


def signing_key(config: ClusterConfig) -> OKPKey:
    """The login service's current private key, read from its (SQLite) database."""
    path = config.database_url("login").removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(Path(path)) as db:
        kid, stored = db.execute(
            "SELECT kid, private_jwk FROM signing_keys ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    return KeySeal(load_or_create_secret(config.data_dir, "cluster", config.secret("cluster"))).open(kid, stored)


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
