"""Password policy (NIST SP 800-63B style) and bcrypt hashing off the event loop.

The policy: a minimum and a maximum length, no more than bcrypt's 72 bytes, not one of
the 30,000 most common passwords (zxcvbn's list), not the username; no composition rules.
"""

from __future__ import annotations

import asyncio
from functools import cache

import bcrypt
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cluster.config import ClusterConfig
from cluster.settings import SecuritySettings

BCRYPT_MAX_BYTES = 72
# The hash of an account that has no password yet (imported, waiting for its set-password
# token): no password matches it. Checks against it cost a bcrypt check of this stand-in
# (cost 12, of a random secret nobody kept), so timing does not tell such accounts apart.
UNUSABLE_PASSWORD = "!no-password-yet"
_STAND_IN = b"$2b$12$k0fDECU1Ls33nOscuwMYa.2oARWu3jpkZ/P9P1a5C2eLuUvr2PLfi"


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def policy_problems(password: str, policy: SecuritySettings, username: str = "") -> list[str]:
    """Why `password` is not acceptable (empty when it is)."""
    if not password:
        return ["must not be empty"]
    problems = []
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        problems.append(f"must be at most {BCRYPT_MAX_BYTES} bytes (bcrypt's limit); this is {len(password.encode())}")
    if len(password) > policy.password_max_length:
        problems.append(f"must be at most {policy.password_max_length} characters")
    if len(password) < policy.password_min_length:
        problems.append(f"must be at least {policy.password_min_length} characters")
    if policy.reject_common_passwords and password.lower() in common_passwords():
        problems.append("is one of the most common passwords")
    if username and password.lower() == username.lower():
        problems.append("must not be the username")
    return problems


def hash_rounds(config: ClusterConfig, policy: SecuritySettings) -> int:
    """The cost of a new hash: the replicated `security.bcrypt_rounds`, unless this node's
    configuration sets `debug.bcrypt_rounds` (the tests do: docs/testing.md)."""
    return config.debug.bcrypt_rounds or policy.bcrypt_rounds


async def hash_password(password: str, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


async def check_password(password: str, hashed: str) -> bool:
    """False (never an exception) for a wrong password, including one over 72 bytes."""
    encoded = password.encode()
    if not encoded or len(encoded) > BCRYPT_MAX_BYTES:
        return False
    if not hashed.startswith("$2"):  # UNUSABLE_PASSWORD
        await asyncio.to_thread(bcrypt.checkpw, encoded, _STAND_IN)
        return False
    return await asyncio.to_thread(bcrypt.checkpw, encoded, hashed.encode())


def hash_passwords(passwords: list[str], rounds: int) -> list[str]:
    """bcrypt hashes, one after another (the import worker's job: runs in its process)."""
    return [bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds)).decode() for p in passwords]
