"""What every console route depends on: who the caller is, and the clients it works with.

A bearer token names a person with a role (and, for a reporter, the units they may report for).
Roles rank viewer < reporter < duty_officer < approver < admin; a route asks for the least role
that may use it and gets the :class:`Caller`.

A token is known by its SHA-256 only: a token of fewer than 32 characters is refused at once;
otherwise its hash is looked up in settings (``console_tokens``, compared in constant time) and
then in the ``console_token`` table. A token found there is trusted for
``console_token_cache_seconds`` (at most 30) before it is looked up again, so a revoked token
stops working within that time; an unknown token is looked up every time.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from models.common import CODE_PATTERN, CONTROL_CLASS, FIRST_YEAR, LAST_YEAR
from yingji.core.errors import PATTERN_WORDS
from yingji.core.settings import Settings
from yingji.core.tokens import CONSOLE_ROLES, MIN_TOKEN_LENGTH, TokenHolder, hash_token

Role = Literal["viewer", "reporter", "duty_officer", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "reporter", "duty_officer", "approver", "admin")
assert ROLES == CONSOLE_ROLES  # the settings and the table know the same roles
RANK = {role: rank for rank, role in enumerate(ROLES)}

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Caller:
    """The person behind a token. ``units`` bounds a reporter (codes or names of the units
    they may report for); for every other role it is empty and means no bound."""

    person: str
    role: Role
    units: frozenset[str] = field(default_factory=frozenset)

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def may_report_for(self, *names: str) -> bool:
        """A reporter only for their units; a duty officer or above for any."""
        if self.role != "reporter":
            return self.at_least("duty_officer")
        return all(n in self.units for n in names)

    def require_units(self, *names: str) -> None:
        if not self.may_report_for(*names):
            raise HTTPException(
                403, f"{self.person} ({self.role}) may not report for {', '.join(names)}"
            )

    @property
    def sees_phones(self) -> bool:
        """Phone numbers in full for a duty officer and above; masked for viewers and
        reporters (see :func:`mask_phone`)."""
        return self.at_least("duty_officer")

    def phone(self, phone: str | None) -> str | None:
        """``phone`` as this caller may see it."""
        if phone is None or self.sees_phones:
            return phone
        return mask_phone(phone)

    def person_id(self, person_id: str | None) -> str | None:
        """A responsible person's id (``unit:role:phone``) as this caller may see it: its
        phone masked like any other."""
        if person_id is None or self.sees_phones or ":" not in person_id:
            return person_id
        head, _, phone = person_id.rpartition(":")
        return f"{head}:{mask_phone(phone)}"

    @classmethod
    def of(cls, holder: TokenHolder) -> Caller:
        return cls(person=holder.person, role=holder.role, units=frozenset(holder.units))


def mask_phone(phone: str) -> str:
    """A phone number with its middle hidden: ``13812345678`` → ``138****5678``; a number of
    fewer than 8 characters is hidden whole."""
    text = phone.strip()
    if len(text) < 8:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


class Services:
    """What the routes need, created at start-up (or injected by tests)."""

    def __init__(self, settings: Settings, client: Client, engine: AsyncEngine) -> None:
        self.settings, self.client, self.engine = settings, client, engine
        self.token_cache = TokenCache(settings.console_token_cache_seconds)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, detail, {"WWW-Authenticate": "Bearer"})


class TokenCache:
    """Callers found in the database, each trusted for ``seconds`` (a revoke takes effect
    within that time). Bounded: when full it starts again empty."""

    LIMIT = 10_000

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[float, Caller]] = {}

    def get(self, digest: str) -> Caller | None:
        hit = self._found.get(digest)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del self._found[digest]
            return None
        return hit[1]

    def put(self, digest: str, caller: Caller) -> None:
        if self.seconds <= 0:
            return
        if len(self._found) >= self.LIMIT:
            self._found.clear()
        self._found[digest] = (time.monotonic() + self.seconds, caller)


def _configured(settings: Settings, digest: str) -> Caller | None:
    """The caller configured for this hash: every entry is compared, in constant time."""
    found = None
    for configured, holder in settings.console_tokens.items():
        if hmac.compare_digest(configured, digest):
            found = holder
    return Caller.of(found) if found is not None else None


async def caller_for(services: Services, token: str) -> Caller:
    """The caller a presented token names; 401 for a short, unknown or revoked token, 503
    when the database cannot be asked."""
    from yingji.stores import token as tokens

    if len(token) < MIN_TOKEN_LENGTH:
        raise _refuse(f"invalid token: tokens have at least {MIN_TOKEN_LENGTH} characters")
    digest = hash_token(token)
    configured = _configured(services.settings, digest)
    if configured is not None:
        return configured
    cache = services.token_cache
    cached = cache.get(digest)
    if cached is not None:
        return cached
    try:
        stored = await tokens.lookup(services.engine, digest)
    except (SQLAlchemyError, OSError) as exc:
        raise HTTPException(503, "the token cannot be checked now (database unavailable)") from exc
    if stored is None:
        raise _refuse("unknown token")
    if not stored.active:
        raise _refuse("token revoked")
    caller = Caller.of(stored.holder)
    cache.put(digest, caller)
    return caller


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise _refuse("a bearer token is required")
    return await caller_for(request.app.state.services, credentials.credentials)


def _at_least(needed: Role) -> Callable[..., object]:
    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        caller = await _caller(request, credentials)
        if not caller.at_least(needed):
            raise HTTPException(403, f"role {caller.role} may not do this; it needs {needed}")
        return caller

    check.__name__ = f"at_least_{needed}"
    return check


def _services(request: Request) -> Services:
    return request.app.state.services


Viewer = Annotated[Caller, Depends(_at_least("viewer"))]
Reporter = Annotated[Caller, Depends(_at_least("reporter"))]
Officer = Annotated[Caller, Depends(_at_least("duty_officer"))]
Approver = Annotated[Caller, Depends(_at_least("approver"))]
Admin = Annotated[Caller, Depends(_at_least("admin"))]
S = Annotated[Services, Depends(_services)]
#: Business codes as the models accept them: no blanks, colons, slashes or control characters.
Code = Annotated[str, PathParam(min_length=1, max_length=64, pattern=CODE_PATTERN)]
Year = Annotated[int, PathParam(ge=FIRST_YEAR, le=LAST_YEAR)]
Number = Annotated[int, PathParam(ge=1, le=99)]
#: Text in a query string: the console refuses any control character there, tab and line
#: breaks included (see ``yingji.console.limits``).
QUERY_TEXT = f"^[^{CONTROL_CLASS}\\t\\n\\r]+$"
PATTERN_WORDS[QUERY_TEXT] = "must not be empty, and may not contain control characters"
