from __future__ import annotations

import base64
import json

import pytest

from cluster.errors import InvalidInternalTokenError
from cluster.internal_auth import InternalTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_peer_token_verifies() -> None:
    clock = Clock()
    minted = InternalTokens("s" * 43, "node-a", clock=clock).mint()
    claims = InternalTokens("s" * 43, "node-b", clock=clock).verify(minted)
    assert claims["iss"] == "node-a"


def test_a_minted_token_is_reused_then_renewed() -> None:
    clock = Clock()
    tokens = InternalTokens("s" * 43, "a", ttl_seconds=60, clock=clock)
    first = tokens.mint()
    clock.now += 10
    assert tokens.mint() == first
    clock.now += 15
    assert tokens.mint() != first


def test_expired_tokens_are_refused_even_from_the_cache() -> None:
    clock = Clock()
    tokens = InternalTokens("s" * 43, "a", ttl_seconds=60, clock=clock)
    token = tokens.mint()
    tokens.verify(token)
    clock.now += 61
    with pytest.raises(InvalidInternalTokenError):
        tokens.verify(token)


def test_another_clusters_secret_is_refused() -> None:
    token = InternalTokens("x" * 43, "a").mint()
    with pytest.raises(InvalidInternalTokenError):
        InternalTokens("y" * 43, "b").verify(token)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"iss": "x", "aud": "course-selection-internal"}) + ".",
    ],
)
def test_garbage_and_unsigned_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidInternalTokenError):
        InternalTokens("s" * 43, "a").verify(token)


def test_wrong_audience_is_refused() -> None:
    from joserfc import jwt

    tokens = InternalTokens("s" * 43, "a")
    forged = jwt.encode({"alg": "HS256"}, {"iss": "a", "aud": "users", "exp": 4_000_000_000}, tokens._key)
    with pytest.raises(InvalidInternalTokenError):
        tokens.verify(forged)
