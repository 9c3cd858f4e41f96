"""Short-lived internal tokens for service-to-service calls.

HS256 JWTs with their own audience, signed with a key derived from the cluster secret:
only nodes that hold the secret can mint one, and a user's access token (another
issuer, audience and algorithm) is never accepted in its place. A minted token is reused
for a third of its life; a verified one is cached until it expires.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from cluster.errors import InvalidInternalTokenError

AUDIENCE = "course-selection-internal"
HEADER = "X-Internal-Token"
_ALGORITHMS = ["HS256"]
_CACHE_LIMIT = 4096


class InternalTokens:
    def __init__(
        self, cluster_secret: str, issuer: str, ttl_seconds: int = 60, clock: Callable[[], float] = time.time
    ) -> None:
        digest = hashlib.sha256(b"course-selection internal tokens\x00" + cluster_secret.encode()).digest()
        self._key = OctKey.import_key(digest)
        self.issuer = issuer
        self.ttl = ttl_seconds
        self._clock = clock
        self._minted: tuple[str, float] = ("", 0.0)
        self._verified: dict[str, tuple[dict[str, Any], float]] = {}
        self._registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            aud={"essential": True, "value": AUDIENCE},
            iss={"essential": True},
            exp={"essential": True},
        )

    def mint(self) -> str:
        token, refresh_at = self._minted
        now = self._clock()
        if now < refresh_at:
            return token
        claims = {"iss": self.issuer, "aud": AUDIENCE, "iat": int(now), "exp": int(now) + self.ttl}
        token = jwt.encode({"alg": "HS256"}, claims, self._key, algorithms=_ALGORITHMS)
        self._minted = (token, now + self.ttl / 3)
        return token

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises InvalidInternalTokenError for anything not minted by a peer."""
        now = self._clock()
        cached = self._verified.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            claims = dict(jwt.decode(token, self._key, algorithms=_ALGORITHMS).claims)
            self._registry.validate(claims)
        except (JoseError, ValueError) as exc:
            raise InvalidInternalTokenError(f"invalid internal token: {type(exc).__name__}") from None
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified = {t: v for t, v in self._verified.items() if now < v[1]}
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
        self._verified[token] = (claims, float(claims["exp"]))
        return claims
