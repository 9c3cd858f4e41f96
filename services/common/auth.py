"""Who is calling: access tokens issued by the login service, verified on every node.

Access tokens are Ed25519-signed JWTs. Every node verifies them locally with the login
service's published keys (JWKS, fetched and cached; fetched again for an unknown `kid`,
at most once per `_REFETCH_SECONDS`: a token that comes sooner waits for that next fetch,
since its key may be a rotation's, seconds old), pins the algorithm, and validates `iss`, `aud`,
`exp`, `iat`, `nbf`, `sub`, `sid` and `role`. A verified token is cached until it expires,
so a request does not pay for a signature check each time; the session is checked
against the replicated revocation list on every request, so a revoked session stops
working on every node as soon as the revocation is applied there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from starlette.requests import Request

from cluster.settings import ROLES
from services.common.problems import Forbidden, ServiceUnavailable, Unauthorized
from services.common.registration import Standing

log = logging.getLogger("course_selection.auth")

ISSUER = "course-selection-login"
AUDIENCE = "course-selection"
ALGORITHM = "Ed25519"
ADMINS = ("admin", "super_admin")
_REFETCH_SECONDS = 5.0
_CACHE_LIMIT = 100_000

JwksSource = Callable[[], Awaitable[dict[str, Any]]]


class InvalidToken(Unauthorized):
    slug, title = "invalid-token", "Invalid access token"


class PasswordChangeRequired(Forbidden):
    slug, title = "password-change-required", "Password change required"


class TwoFactorSetupRequired(Forbidden):
    slug, title = "2fa-setup-required", "Two-factor authentication setup required"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    session_id: str
    expires_at: float
    must_change_password: bool
    must_setup_2fa: bool
    cohort: int | None = None
    program: str | None = None  # program, year and priority group: the registrar's rules' inputs
    year: int | None = None
    priority_group: str | None = None

    @property
    def standing(self) -> Standing:
        return Standing(self.cohort, self.program, self.year, self.priority_group)

    @property
    def is_admin(self) -> bool:
        return self.role in ADMINS


class TokenVerifier:
    def __init__(
        self,
        jwks: JwksSource,
        revoked: Callable[[str, float], bool],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._jwks = jwks
        self._revoked = revoked
        self._clock = clock
        self._sleep = sleep
        self._keys: KeySet | None = None
        self._fetched_at = -_REFETCH_SECONDS
        self._fetching: asyncio.Future[None] | None = None
        self._cache: dict[str, Principal] = {}
        self._registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
            role={"essential": True, "values": [str(r) for r in ROLES]},
        )

    async def verify(self, token: str) -> Principal:
        now = self._clock()
        principal = self._cache.get(token)
        if principal is None or principal.expires_at <= now:
            principal = await self._verify(token)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {t: p for t, p in self._cache.items() if p.expires_at > now}
            self._cache[token] = principal
        if self._revoked(principal.session_id, now):
            raise InvalidToken("this session has ended")
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError, UnicodeError):
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        keys = await self._key_set(str(header.get("kid", "")))
        try:
            claims = jwt.decode(token, keys, algorithms=[ALGORITHM]).claims
            self._registry.validate(claims)
            user_id = int(claims["sub"])
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise InvalidToken(_reason(exc)) from None
        return Principal(
            user_id=user_id,
            username=str(claims.get("name", "")),
            role=str(claims["role"]),
            session_id=str(claims["sid"]),
            expires_at=float(claims["exp"]),
            must_change_password=bool(claims.get("mcp", False)),
            must_setup_2fa=bool(claims.get("otp_setup", False)),
            cohort=int(claims["cohort"]) if isinstance(claims.get("cohort"), int) else None,
            program=str(claims["program"]) if isinstance(claims.get("program"), str) else None,
            year=int(claims["year"]) if isinstance(claims.get("year"), int) else None,
            priority_group=str(claims["pg"]) if isinstance(claims.get("pg"), str) else None,
        )

    async def _key_set(self, kid: str) -> KeySet:
        if not self._knows(kid):
            if self._fetching is None:  # one fetch for every caller, spaced _REFETCH_SECONDS apart
                delay = max(0.0, self._fetched_at + _REFETCH_SECONDS - self._clock())
                self._fetching = asyncio.ensure_future(self._fetch(delay))
            await asyncio.shield(self._fetching)
        if self._keys is None:
            raise ServiceUnavailable("cannot fetch the login service's keys", headers={"Retry-After": "1"})
        if not self._knows(kid):
            raise InvalidToken("unknown signing key")
        return self._keys

    def _knows(self, kid: str) -> bool:
        return self._keys is not None and any(k.kid == kid for k in self._keys.keys)

    async def _fetch(self, delay: float) -> None:
        try:
            if delay > 0:  # the last fetch was moments ago: wait for the next one rather than refuse
                await self._sleep(delay)
            self._fetched_at = self._clock()
            self._keys = KeySet.import_key_set(await self._jwks())  # type: ignore[arg-type]
        except Exception as exc:  # keep the keys we had; say why once
            log.warning("cannot fetch the signing keys", extra={"error": f"{type(exc).__name__}: {exc}"})
        finally:
            self._fetching = None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"token refused: {text}"


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "send an access token: Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    return token.strip()


async def authenticate(
    request: Request, *roles: str, allow_restricted: bool = False, allow_2fa_setup: bool = False
) -> Principal:
    """The caller, who must hold one of `roles` (any role if none given).

    A token flagged must-change-password is refused with 403 unless the endpoint allows
    restricted tokens (`/auth/me`, `/auth/password`, logout); one flagged must-set-up-2FA
    also reaches the 2FA setup endpoints (`allow_2fa_setup`).
    """
    return await principal_of(
        request.state.ctx.verifier,
        request.headers.get("authorization", ""),
        *roles,
        allow_restricted=allow_restricted,
        allow_2fa_setup=allow_2fa_setup,
    )


async def principal_of(
    verifier: TokenVerifier,
    authorization: str,
    *roles: str,
    allow_restricted: bool = False,
    allow_2fa_setup: bool = False,
) -> Principal:
    """`authenticate` for a raw `Authorization` header value (the hot path has no Request)."""
    principal = await verifier.verify(_bearer(authorization))
    if principal.must_change_password and not allow_restricted:
        raise PasswordChangeRequired("change your password first: POST /auth/password")
    if principal.must_setup_2fa and not (allow_restricted or allow_2fa_setup):
        raise TwoFactorSetupRequired("your role requires two-factor authentication: POST /auth/otp/setup")
    if roles and principal.role not in roles:
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
    return principal
