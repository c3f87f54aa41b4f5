"""Request bodies have a size limit, enforced before anything else reads them.

The limit is checked on ``Content-Length`` before the application (and so before the bearer
token, before parsing) sees the request, and again on the bytes actually received, so a body
sent without a length, or with a false one, is cut off at the limit instead of being read into
memory whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yingji.console.problems import MEDIA_TYPE, problem_bytes


class _TooSlow(HTTPException):
    """The client stopped sending the body it announced (an HTTPException, as :class:`_TooLarge`
    is, so that the framework answers it as it is)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the body did not arrive: nothing for {seconds:g} s")


class _TooLarge(HTTPException):
    """Raised while the body is read: an HTTPException, so the framework answers it as it is
    (FastAPI turns any other error met while parsing a body into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (``overrides`` by path)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        overrides: Mapping[str, int] | None = None,
        read_seconds: float = 30.0,
    ):
        self.app, self.limit, self.overrides = app, limit, dict(overrides or {})
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _unreadable_query(scope.get("query_string", b"")):
            await _answer(send, 422, "the query string holds a NUL or control character")
            return
        limit = self.overrides.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        received = 0
        started = False
        body_done = False

        async def limited() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body: waiting for a disconnect, with no time limit
                return await receive()
            try:  # each part of the body must come within read_seconds (no slowloris)
                message = await asyncio.wait_for(receive(), self.read_seconds)
            except TimeoutError:
                raise _TooSlow(self.read_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
                body_done = not message.get("more_body", False)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)
        except _TooSlow as slow:
            if not started:
                await _answer(send, 408, str(slow.detail))

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        await _answer(send, 413, f"the request body is larger than {limit:,} bytes")


def _unreadable_query(raw: bytes) -> bool:
    """A query with a NUL or another C0 control character, raw or percent-encoded (PostgreSQL
    refuses a NUL; nothing the console reads from a query needs one)."""
    text = unquote_to_bytes(raw.replace(b"+", b" "))
    return any(b < 0x20 or b == 0x7F for b in text)


async def _answer(send: Send, status: int, detail: str) -> None:
    body = problem_bytes(status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
