"""Console tokens in PostgreSQL (``console_token``): issue, list, revoke, look up.

Only a token's SHA-256 is stored. :func:`issue` returns the token itself, once; nothing can show
it again (a lost token is revoked and another issued). A reporter's units must be registered
(``yingji unit import``): each a unit's code or its unambiguous name, kept as written.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from yingji.core.errors import DomainRefusal, plain_reason
from yingji.core.tokens import PREFIX_LENGTH, TokenHolder, hash_token, new_token
from yingji.stores.unit import resolve_in


class TokenError(DomainRefusal):
    """A token refused or not found; nothing was written."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown to its holder once and never stored."""

    token: str
    sha256: str
    holder: TokenHolder
    created_at: datetime


@dataclass(frozen=True)
class StoredToken:
    """A stored token, without any secret: its hash, who it names, when, whether revoked."""

    sha256: str
    holder: TokenHolder
    created_at: datetime
    revoked_at: datetime | None

    @property
    def prefix(self) -> str:
        return self.sha256[:PREFIX_LENGTH]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def holder(person: str, role: str, units: list[str] | tuple[str, ...] = ()) -> TokenHolder:
    """Who a token names, checked; refused with one line naming the fields."""
    try:
        return TokenHolder.model_validate({"person": person, "role": role, "units": list(units)})
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            field = ".".join(str(p) for p in e["loc"]) or "units"
            problems.append(f"{field}: {plain_reason(e)}")  # type: ignore[arg-type]
        raise TokenError("; ".join(problems)) from exc


async def issue(
    engine: AsyncEngine, person: str, role: str, units: list[str] | tuple[str, ...] = ()
) -> IssuedToken:
    """A new token for ``person`` as ``role`` (a reporter: for ``units``)."""
    who = holder(person, role, units)
    token = new_token()
    digest = hash_token(token)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        if who.units:
            # A district's own name counts too: its reporter sends the district's disaster
            # reports (初报 by 街镇, 续报, 核报), which no 街镇 reporter may send.
            districts = set(
                (
                    await conn.execute(
                        text("SELECT DISTINCT district FROM admin_unit WHERE district = ANY(:u)"),
                        {"u": list(who.units)},
                    )
                ).scalars()
            )
            found = await resolve_in(conn, None, [u for u in who.units if u not in districts])
            problems = found.problems(None)
            if problems:
                raise TokenError("; ".join(problems))
            # Kept as codes: a name another district's unit takes later must not widen it.
            codes = [u if u in districts else found.codes[u.strip()] for u in who.units]
            who = who.model_copy(update={"units": tuple(dict.fromkeys(codes))})
        await conn.execute(
            text(
                "INSERT INTO console_token (sha256, person, role, units, created_at) "
                "VALUES (:h, :p, :r, CAST(:u AS jsonb), :at)"
            ),
            {"h": digest, "p": who.person, "r": who.role, "u": _json(who.units), "at": now},
        )
    return IssuedToken(token=token, sha256=digest, holder=who, created_at=now)


def _json(units: tuple[str, ...]) -> str:
    return json.dumps(list(units), ensure_ascii=False)


def _row(r: object) -> StoredToken:
    return StoredToken(
        sha256=r.sha256,  # type: ignore[attr-defined]
        holder=TokenHolder.model_construct(
            person=r.person,  # type: ignore[attr-defined]
            role=r.role,  # type: ignore[attr-defined]
            units=tuple(r.units or ()),  # type: ignore[attr-defined]
        ),
        created_at=r.created_at,  # type: ignore[attr-defined]
        revoked_at=r.revoked_at,  # type: ignore[attr-defined]
    )


_COLUMNS = "sha256, person, role, units, created_at, revoked_at"


async def list_tokens(engine: AsyncEngine, include_revoked: bool = True) -> list[StoredToken]:
    """Every token (by person, then creation), without any secret."""
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT {_COLUMNS} FROM console_token {where} ORDER BY person, created_at")
        )
        return [_row(r) for r in rows]


async def lookup(engine: AsyncEngine, digest: str) -> StoredToken | None:
    """The stored token with this SHA-256 (revoked or not), or None.

    The index finds the row by the hash; the hash is then compared in constant time as well.
    Timing can tell nothing about a token: the hash of a guess says nothing about its neighbours.
    """
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT {_COLUMNS} FROM console_token WHERE sha256 = :h"), {"h": digest}
            )
        ).first()
    if row is None or not hmac.compare_digest(row.sha256, digest):
        return None
    return _row(row)


async def count_active(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM console_token WHERE revoked_at IS NULL")
        )
        return int(found.scalar_one())


async def revoke(
    engine: AsyncEngine, *, person: str | None = None, prefix: str | None = None
) -> list[StoredToken]:
    """Revoke the active tokens of ``person``, or the one token whose hash starts with
    ``prefix`` (at least 8 hex characters; a prefix shared by several tokens revokes none).
    Returns what was revoked; nothing active matching is refused."""
    if (person is None) == (prefix is None):
        raise TokenError("revoke: name a person or a hash prefix, not both")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        if person is not None:
            rows = (
                await conn.execute(
                    text(
                        "UPDATE console_token SET revoked_at = :at "
                        "WHERE person = :p AND revoked_at IS NULL "
                        f"RETURNING {_COLUMNS}"
                    ),
                    {"at": now, "p": person.strip()},
                )
            ).all()
            if not rows:
                raise TokenError(f"person: {person} holds no active token")
            return [_row(r) for r in rows]
        assert prefix is not None
        wanted = prefix.strip().lower()
        if len(wanted) < PREFIX_LENGTH or any(c not in "0123456789abcdef" for c in wanted):
            raise TokenError(
                f"prefix: at least {PREFIX_LENGTH} hex characters of the hash (`token list`)"
            )
        matches = (
            await conn.execute(
                text(
                    "SELECT sha256 FROM console_token "
                    "WHERE left(sha256, :n) = :p AND revoked_at IS NULL"
                ),
                {"n": len(wanted), "p": wanted},
            )
        ).all()
        if not matches:
            raise TokenError(f"prefix: no active token's hash starts with {wanted}")
        if len(matches) > 1:
            raise TokenError(f"prefix: {len(matches)} tokens start with {wanted}; give more")
        rows = (
            await conn.execute(
                text(
                    "UPDATE console_token SET revoked_at = :at WHERE sha256 = :h "
                    f"RETURNING {_COLUMNS}"
                ),
                {"at": now, "h": matches[0].sha256},
            )
        ).all()
        return [_row(r) for r in rows]
