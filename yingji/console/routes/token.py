"""Console routes: who the caller is, and (for an admin) the tokens kept in the database.

``GET /api/me`` names the caller of any token (the duty room's page shows it). ``GET
/api/tokens`` lists the stored tokens for an admin: person, role, units, when created and
revoked, and the first characters of the hash, never a token. Tokens are issued and revoked
with ``yingji token add`` / ``revoke``, where a new token is shown once.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from yingji.console.deps import Admin, S, Viewer

router = APIRouter()


class Me(BaseModel):
    person: str
    role: str
    units: list[str]
    sees_phones: bool


class TokenListed(BaseModel):
    prefix: str
    person: str
    role: str
    units: list[str]
    created_at: datetime
    revoked_at: datetime | None


@router.get("/api/me")
async def me(caller: Viewer) -> Me:
    return Me(
        person=caller.person,
        role=caller.role,
        units=sorted(caller.units),
        sees_phones=caller.sees_phones,
    )


@router.get("/api/tokens")
async def token_list(_: Admin, s: S) -> list[TokenListed]:
    from yingji.stores import token as tokens

    return [
        TokenListed(
            prefix=t.prefix,
            person=t.holder.person,
            role=t.holder.role,
            units=list(t.holder.units),
            created_at=t.created_at,
            revoked_at=t.revoked_at,
        )
        for t in await tokens.list_tokens(s.engine)
    ]
