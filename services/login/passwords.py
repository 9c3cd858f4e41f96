"""Password policy (NIST SP 800-63B style) and bcrypt hashing off the event loop.

The policy: a minimum and a maximum length, no more than bcrypt's 72 bytes, not one of
the 30,000 most common passwords (zxcvbn's list), not the username; no composition rules.
"""

from __future__ import annotations

import asyncio
from functools import cache

import bcrypt
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cluster.settings import SecuritySettings

BCRYPT_MAX_BYTES = 72


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


async def hash_password(password: str, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


async def check_password(password: str, hashed: str) -> bool:
    """False (never an exception) for a wrong password, including one over 72 bytes."""
    encoded = password.encode()
    if not encoded or len(encoded) > BCRYPT_MAX_BYTES:
        return False
    return await asyncio.to_thread(bcrypt.checkpw, encoded, hashed.encode())
