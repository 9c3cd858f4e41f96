"""The token verifier: keys fetched once for concurrent first requests, tokens cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from services.common.auth import InvalidToken, TokenVerifier
from services.common.problems import ServiceUnavailable
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


async def test_a_key_rotated_after_the_last_fetch_waits_for_the_next_fetch_not_a_refusal() -> None:
    old = OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
    new = OKPKey.generate_key("Ed25519", parameters={"kid": "k2"})
    published = [old]
    now = [1000.0]
    slept: list[float] = []
    fetches = 0

    async def jwks() -> dict[str, Any]:
        nonlocal fetches
        fetches += 1
        return {"keys": [k.as_dict(private=False) for k in published]}

    async def sleep(seconds: float) -> None:  # the injected clock moves instead of the real one
        slept.append(seconds)
        now[0] += seconds

    verifier = TokenVerifier(jwks, lambda sid, at: False, clock=lambda: now[0], sleep=sleep)
    await verifier.verify(forge(old, sid="s1", iat=int(now[0]), exp=int(now[0]) + 600))
    published.append(new)  # rotated one second after this node fetched the keys
    now[0] += 1.0
    fresh = [forge(new, sid=f"s{i}", iat=int(now[0]), exp=int(now[0]) + 600) for i in range(2, 12)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in fresh))  # they wait, and are known
    assert [p.session_id for p in principals] == [f"s{i}" for i in range(2, 12)]
    assert slept == [4.0]  # one wait, to the first moment a fetch is allowed
    assert fetches == 2  # and one fetch for all ten
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "k9"})
    with pytest.raises(InvalidToken, match="unknown signing key"):  # fetched after a wait, and still unknown
        await verifier.verify(forge(stranger, sid="s3", iat=int(now[0]), exp=int(now[0]) + 600))
    assert slept == [4.0, 5.0]
    assert fetches == 3
    now[0] += 60.0
    with pytest.raises(InvalidToken, match="unknown signing key"):  # long after: fetched at once
        await verifier.verify(forge(stranger, sid="s4", iat=int(now[0]), exp=int(now[0]) + 600))
    assert slept == [4.0, 5.0]
    assert fetches == 4


async def test_no_keys_at_all_is_unavailable_not_a_refusal() -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})

    async def unreachable() -> dict[str, Any]:
        raise ConnectionError("login is down")

    verifier = TokenVerifier(unreachable, lambda sid, at: False)
    with pytest.raises(ServiceUnavailable) as down:
        await verifier.verify(forge(key, sid="s1"))
    assert down.value.headers["Retry-After"] == "1"
