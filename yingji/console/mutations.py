"""How every console POST applies once, conditionally, and without hanging.

- ``Idempotency-Key`` (8–128 printable ASCII characters; generated when absent and sent back in
  the answer's ``Idempotency-Key`` header) is the Temporal update id, or the memo of a start: a
  repeat answers with the first outcome and records nothing.
- ``If-Match: "<n>"`` (the ``ETag`` of a view: its event number) makes the update conditional:
  if the workflow has moved on it is refused with 412, naming the current stage.
- An answer not ready within ``YINGJI_REQUEST_WAIT_SECONDS`` is a 202 with the request id and a
  URL to poll (``GET /api/requests/{workflow_id}/{request_id}``).
- The caller's person becomes the input's ``actor``: every event names them; the free-text
  name in the body is kept as 代填.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from models.common import BLANK_CLASS, CONTROL_CLASS
from models.common import Request as UpdateInput
from yingji.console.deps import Caller, S, Viewer, mask_phone
from yingji.core.errors import PATTERN_WORDS
from yingji.services import requests
from yingji.services import unit as units

T = TypeVar("T")
M = TypeVar("M", bound=UpdateInput)

_ETAG = re.compile(r'^"?(\d{1,18})"?$')
#: What ``If-Match`` may be: ``*``, or an ETag ("12"); a weak one (W/"12") never matches
#: (RFC 9110 §13.1.1): 412.
IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"?\d{1,18}"?)[ \t]*$'


#: A workflow id as the poll URL holds it: kind:key, no blanks, '/' or control character.
WORKFLOW_ID = f"^[a-z]+:[^{CONTROL_CLASS}{BLANK_CLASS}/]{{1,80}}$"
PATTERN_WORDS[WORKFLOW_ID] = "must be a workflow id such as plan:JD-1"
PATTERN_WORDS[requests.REQUEST_ID_PATTERN] = "8 to 128 printable ASCII characters, no blanks"
PATTERN_WORDS[IF_MATCH_PATTERN] = 'must be an ETag such as "12", or *'


class Mutation:
    """One POST: its request id, its condition, and where its answer's headers go."""

    def __init__(
        self, s: Any, response: Response, key: str, expect_seq: int | None, weak: bool = False
    ) -> None:
        self.s, self.response, self.key, self.expect_seq = s, response, key, expect_seq
        # a weak If-Match is refused when the route runs it, after the body has been checked
        self.weak = weak
        response.headers["Idempotency-Key"] = key

    def _holds(self) -> None:
        if self.weak:
            raise HTTPException(412, "If-Match: a weak ETag never matches (RFC 9110 §13.1.1)")

    def stamp(self, data: M, caller: Caller) -> M:
        """The input as the workflow gets it: the caller as actor, the If-Match condition."""
        self._holds()
        update: dict[str, Any] = {"actor": caller.person}
        if self.expect_seq is not None:
            update["expect_seq"] = self.expect_seq
        return data.model_copy(update=update)

    async def run(
        self, workflow_id: str, call: Awaitable[T], asking: tuple[str, Any] | None = None
    ) -> T:
        """``call``'s answer (with its ``ETag``), or 202 after the configured wait.

        ``asking`` (the action and its input) is remembered with the request's key: the same
        key sent with another request is refused (422) before anything is sent."""
        if self.weak and inspect.iscoroutine(call):
            call.close()  # never sent
        self._holds()
        wait = self.s.settings.request_wait_seconds
        if asking is None:
            answer = await requests.within(wait, workflow_id, self.key, call)
        else:
            action, data = asking
            answer = await requests.once(
                self.s.engine, self.key, workflow_id, action, data, call, wait
            )
        tag(self.response, answer)
        return answer


async def read(s: Any, workflow_id: str, call: Awaitable[T], response: Response) -> T:
    """A view, or 503 when no worker answers within ``YINGJI_REQUEST_WAIT_SECONDS``."""
    try:
        view = await requests.within(s.settings.request_wait_seconds, workflow_id, "-", call)
    except requests.StillRunning:
        raise HTTPException(
            503,
            f"{workflow_id}: no answer within {s.settings.request_wait_seconds:g} s; "
            "is a worker running?",
        ) from None
    tag(response, view)
    return view


def filled(person: str, given: str, limit: int = 100) -> str:
    """A name field as stored when the caller filled it in for someone else:
    ``person（代填：given）``, within the field's bound (the given name cut short if need be)."""
    if given == person:
        return person
    room = limit - len(person) - len("（代填：）")
    return f"{person}（代填：{given[:room]}）" if room > 0 else person[:limit]


def tag(response: Response, view: Any) -> None:
    """A view's ``ETag``: its event number, which every change moves on."""
    seq = getattr(view, "last_seq", None)
    if isinstance(seq, int):
        response.headers["ETag"] = f'"{seq}"'


def _mutation(
    s: S,
    response: Response,
    # typed str, not str | None: absent is the default, and the schema then says "a string"
    idempotency_key: Annotated[
        str,  # noqa: RUF013
        Header(
            alias="Idempotency-Key",
            pattern=requests.REQUEST_ID_PATTERN,
            description="makes a retried request apply once (8–128 printable ASCII)",
        ),
    ] = None,
    if_match: Annotated[
        str,  # noqa: RUF013
        Header(
            alias="If-Match",
            pattern=IF_MATCH_PATTERN,
            description='the ETag of the view the request was made from, e.g. "12"',
        ),
    ] = None,
) -> Mutation:
    expect = None
    weak = if_match is not None and if_match.strip().startswith("W/")
    if if_match is not None and not weak and if_match.strip() != "*":
        found = _ETAG.match(if_match.strip())
        if found is None:
            raise HTTPException(400, f'If-Match: expected an ETag such as "12", got {if_match!r}')
        expect = int(found.group(1))
    return Mutation(s, response, idempotency_key or requests.new_request_id(), expect, weak)


Mut = Annotated[Mutation, Depends(_mutation)]


async def require_units(s: Any, caller: Caller, *names: str) -> None:
    """A reporter reports only for the units of their token (by code or name)."""
    if caller.role != "reporter":
        if not caller.at_least("duty_officer"):
            raise HTTPException(403, f"role {caller.role} may not report")
        return
    allowed: set[str] = set()
    for unit in caller.units:
        allowed.add(unit)
        try:
            allowed.add(await units.resolve(s.engine, None, unit))
        except units.UnitError:  # a unit since removed from the register: its name counts
            pass
    for name in names:
        try:
            code = await units.resolve(s.engine, None, name)
        except units.UnitError:
            code = name
        if name not in allowed and code not in allowed:
            raise HTTPException(403, f"{caller.person} (reporter) may not report for {name}")


router = APIRouter()


@router.get("/api/requests/{workflow_id}/{request_id}")
async def request_outcome(
    workflow_id: Annotated[str, PathParam(pattern=WORKFLOW_ID)],
    request_id: Annotated[str, PathParam(pattern=requests.REQUEST_ID_PATTERN)],
    who: Viewer,
    s: S,
    response: Response,
) -> Any:
    """The answer of a request that was answered 202: 202 again while it runs, 404 when Temporal
    does not know it (send it again with the same Idempotency-Key: it will not apply twice)."""
    try:
        answer = await requests.outcome(
            s.client,
            workflow_id,
            request_id,
            min(s.settings.request_wait_seconds, 5.0),
            view_query="board" if workflow_id.startswith(("typhoon:", "event:")) else "view",
        )
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    if isinstance(answer, dict) and isinstance(answer.get("last_seq"), int):
        response.headers["ETag"] = f'"{answer["last_seq"]}"'
    return answer if who.sees_phones else _masked(answer)


def _masked(value: Any) -> Any:
    """An answer as a viewer or reporter sees it: every ``phone`` masked."""
    if isinstance(value, dict):
        return {
            k: mask_phone(v) if k == "phone" and isinstance(v, str) else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def install(app: FastAPI) -> None:
    """The 202 answer of a request still running, and the poll route."""

    @app.exception_handler(requests.StillRunning)
    async def still_running(request: Request, exc: requests.StillRunning) -> JSONResponse:
        poll = f"/api/requests/{quote(exc.workflow_id, safe=':')}/{quote(exc.request_id)}"
        return JSONResponse(
            {"detail": str(exc), "request_id": exc.request_id, "poll": poll},
            status_code=202,
            headers={"Location": poll, "Idempotency-Key": exc.request_id},
        )

    app.include_router(router)
