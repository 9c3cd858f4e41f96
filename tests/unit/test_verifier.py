"""The token verifier: keys fetched once for concurrent first requests, tokens cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from services.common.auth import InvalidToken, TokenVerifier
from tests.api.login_kit import forge


async def test_concurrent_first_requests_share_one_key_fetch() -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
    fetches = 0

    async def slow_jwks() -> dict[str, Any]:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.05)  # the login node takes a moment to answer
        return {"keys": [key.as_dict(private=False)]}

    verifier = TokenVerifier(slow_jwks, lambda sid, now: False)
    tokens = [forge(key, sub=str(i), sid=f"s{i}") for i in range(50)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [p.user_id for p in principals] == list(range(50))
    assert fetches == 1


async def test_a_revoked_session_is_refused_even_from_the_cache() -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
    revoked: set[str] = set()

    async def jwks() -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False)]}

    verifier = TokenVerifier(jwks, lambda sid, now: sid in revoked)
    token = forge(key, sid="s1")
    assert (await verifier.verify(token)).session_id == "s1"
    revoked.add("s1")
    with pytest.raises(InvalidToken, match="ended"):
        await verifier.verify(token)
