"""Requests that apply once and never hang: what the console and the CLI share.

Every mutation carries a request id (the console's ``Idempotency-Key``, the CLI's
``--request-id``). For an update it is the Temporal update id, so a repeat is answered with the
first outcome and records nothing (the workflows also remember ids across continue-as-new). For a
start it is kept in the workflow's memo: a repeated start of the same workflow with the same id
answers as the first did; another start of the same business key is still refused.

A caller waits at most ``wait`` seconds (``YINGJI_REQUEST_WAIT_SECONDS``). A request still
running then is not lost: sending it again with the same id, or asking :func:`outcome`, gives its
answer once it has one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from yingji.core.errors import DomainRefusal
from yingji.core.tables import RequestKey

T = TypeVar("T")

#: The memo key that holds the request id of a workflow's start.
MEMO_KEY = "request_id"
#: Request ids as the console and the CLI accept them (printable ASCII, no blanks).
REQUEST_ID_PATTERN = r"^[\x21-\x7e]{8,128}$"


class KeyReused(DomainRefusal):
    """A request id sent again with another request."""


#: Fields of an input that say who sent it or on what condition, not what it asks.
_NOT_ASKED = {"actor", "expect_stage", "expect_seq"}


def fingerprint(target: str, data: Any) -> str:
    """What a request asks: its target (workflow and action) and its input."""
    asked = (
        data.model_dump(mode="json", exclude=_NOT_ASKED) if hasattr(data, "model_dump") else data
    )
    text = json.dumps([target, asked], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def claim(engine: AsyncEngine, key: str, target: str, data: Any) -> None:
    """Remember what ``key`` asks; refuse it if it was used before for another request."""
    mark = fingerprint(target, data)
    async with engine.begin() as conn:
        await conn.execute(
            insert(RequestKey.__table__)
            .values(key=key, fingerprint=mark, target=target[:300], created_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        known = (
            await conn.execute(
                text("SELECT fingerprint, target FROM request_key WHERE key = :k"), {"k": key}
            )
        ).one()
    if known.fingerprint != mark:
        raise KeyReused(
            f"request id {key} was already used for another request ({known.target}); "
            "a repeat must be the same request — use a new id for a new one"
        )


async def once(
    engine: AsyncEngine,
    key: str,
    workflow_id: str,
    action: str,
    data: Any,
    call: Awaitable[T],
    wait: float,
) -> T:
    """Send ``call`` (an update or a start made with ``key``) as the request ``action`` with
    ``data``: refused if ``key`` asked something else before (``call`` is then never started),
    answered within ``wait`` seconds or :class:`StillRunning`."""
    try:
        await claim(engine, key, f"{workflow_id} {action}", data)
    except KeyReused:
        if asyncio.iscoroutine(call):
            call.close()  # never started
        raise
    return await within(wait, workflow_id, key, call)


def new_request_id() -> str:
    return uuid.uuid4().hex


class StillRunning(Exception):
    """The request was sent but has no answer yet (say, no worker is running)."""

    def __init__(self, workflow_id: str, request_id: str, waited: float) -> None:
        super().__init__(
            f"{workflow_id}: request {request_id} has no answer after {waited:g} s (is a "
            "worker running?). Temporal holds it while its server runs (at most 10 waiting per "
            "workflow) and applies it once a worker takes it; poll for its outcome, and if the "
            "poll says it is unknown, send it again with the same request id — it never "
            "applies twice"
        )
        self.workflow_id, self.request_id, self.waited = workflow_id, request_id, waited


async def within(wait: float, workflow_id: str, request_id: str, call: Awaitable[T]) -> T:
    """``call``'s answer, or :class:`StillRunning` after ``wait`` seconds (the call is then
    abandoned: Temporal keeps the request, and its answer is had by sending it again)."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=wait)
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        # the SDK turns the cancelled wait into its own error; none of it is news here
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    raise StillRunning(workflow_id, request_id, wait)


async def start_once(
    client: Client, workflow: str, arg: Any, *, id: str, request_id: str | None, **options: Any
) -> WorkflowHandle[Any, Any]:
    """Start ``workflow``; if it was already started by this very request, answer its handle."""
    memo = {MEMO_KEY: request_id} if request_id else None
    try:
        return await client.start_workflow(workflow, arg, id=id, memo=memo, **options)
    except WorkflowAlreadyStartedError:
        if request_id is None:
            raise
        handle = client.get_workflow_handle(id, result_type=options.get("result_type"))
        described = await handle.describe()
        if await described.memo_value(MEMO_KEY, None) != request_id:
            raise
        return handle


async def outcome(
    client: Client, workflow_id: str, request_id: str, wait: float, view_query: str = "view"
) -> Any:
    """The answer of an update sent earlier with ``request_id`` (as JSON-ready data).

    Raises :class:`StillRunning` while it runs, and ``LookupError`` when Temporal does not know
    it: never received, or answered in an earlier run of a workflow that has since continued as
    new (sending it again with the same id then answers without applying it twice)."""
    handle = client.get_workflow_handle(workflow_id)
    update = handle.get_update_handle(request_id)
    try:
        return await within(wait, workflow_id, request_id, update.result())
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    # Not an update: perhaps the start of the workflow (its memo keeps the request id).
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        if await described.memo_value(MEMO_KEY, None) == request_id:
            return await within(wait, workflow_id, request_id, handle.query(view_query))
    raise LookupError(
        f"{workflow_id}: no request {request_id} in its current run; send it again with "
        "the same id (it will not apply twice)"
    )
