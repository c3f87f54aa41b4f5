"""What every console route depends on: the caller's role, and the clients it works with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from yingji.core.settings import Settings

Role = Literal["viewer", "duty_officer", "admin"]
RANK = {"viewer": 0, "duty_officer": 1, "admin": 2}

_bearer = HTTPBearer(auto_error=False)


class Services:
    """What the routes need, created at start-up (or injected by tests)."""

    def __init__(self, settings: Settings, client: Client, engine: AsyncEngine) -> None:
        self.settings, self.client, self.engine = settings, client, engine


def _role(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Role:
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    role = request.app.state.services.settings.console_tokens.get(credentials.credentials)
    if role is None:
        raise HTTPException(401, "unknown token", {"WWW-Authenticate": "Bearer"})
    return role


def _at_least(needed: Role) -> Callable[..., Role]:
    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Role:
        role = _role(request, credentials)
        if RANK[role] < RANK[needed]:
            raise HTTPException(403, f"role {role} may not do this; it needs {needed}")
        return role

    return check


def _services(request: Request) -> Services:
    return request.app.state.services


Viewer = Annotated[Role, Depends(_at_least("viewer"))]
Officer = Annotated[Role, Depends(_at_least("duty_officer"))]
S = Annotated[Services, Depends(_services)]
#: Business codes as the models accept them: no blanks, colons, slashes or control characters.
Code = Annotated[str, PathParam(pattern=r"^[^\s:/\x00-\x1f]{1,64}$")]
Year = Annotated[int, PathParam(ge=2000, le=2100)]
Number = Annotated[int, PathParam(ge=1, le=99)]
