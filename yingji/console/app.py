"""The operations console's HTTP API (FastAPI): the same operations the CLI uses.

Roles come from bearer tokens configured in settings (``YINGJI_CONSOLE_TOKENS``, a JSON object
token → viewer | duty_officer | admin): every route needs a token; every mutating route needs a
duty officer or admin. Tokens never appear in logs or metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path as PathlibPath

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from yingji.console.deps import Services
from yingji.console.limits import BodyLimit
from yingji.console.routes import disaster, drill, plan, summary, typhoon, unit, warning, workflow
from yingji.core.db import make_engine
from yingji.core.errors import DomainRefusal
from yingji.core.logging import get_logger
from yingji.core.settings import Settings
from yingji.core.temporal import connect
from yingji.services import unit as unit_service

STATIC = PathlibPath(__file__).parent / "static"

log = get_logger("yingji.console")

#: One router per capability, each in ``yingji/console/routes/<kind>.py``.
ROUTERS = [r.router for r in (workflow, plan, drill, typhoon, warning, disaster, summary, unit)]


def create_app(
    settings: Settings,
    client: Client | None = None,
    engine: AsyncEngine | None = None,
    database_url: str | None = None,
) -> FastAPI:
    registry = CollectorRegistry()
    requests = Counter(
        "yingji_console_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "yingji_console_request_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if client is not None and engine is not None:  # injected: nothing to open or close
            yield
            return
        own_engine = engine is None
        app.state.services = Services(
            settings,
            client or await connect(settings),
            engine or make_engine(database_url or settings.database_url.get_secret_value()),  # type: ignore[union-attr]
        )
        yield
        if own_engine:
            await app.state.services.engine.dispose()

    app = FastAPI(
        title="Yingji 应急 console API",
        version="0.1.0",
        description="Plans, drills, typhoon tallies, 叫应, disaster reports and year-end "
        "summaries of an emergency management bureau.",
        lifespan=lifespan,
    )

    if client is not None and engine is not None:
        app.state.services = Services(settings, client, engine)
    # a body over the limit is refused before auth and parsing (the routes read neither first)
    app.add_middleware(
        BodyLimit,
        limit=settings.console_max_body_bytes,
        overrides={"/api/units": max(settings.console_max_body_bytes, unit_service.MAX_BYTES)},
    )

    @app.middleware("http")
    async def metrics_and_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        requests.labels(request.method, path, str(response.status_code)).inc()
        latency.labels(request.method, path).observe(time.perf_counter() - start)
        log.info("request", method=request.method, route=path, status=response.status_code)
        return response

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return JSONResponse({"detail": "not found, or no longer open"}, status_code=404)
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return JSONResponse({"detail": f"invalid: {exc.message}"}, status_code=422)
        return JSONResponse({"detail": f"Temporal: {exc.message}"}, status_code=503)

    @app.exception_handler(UnicodeError)
    async def bad_text(_: Request, exc: UnicodeError) -> JSONResponse:
        return JSONResponse(
            {"detail": "text must be valid Unicode (no lone surrogates)"}, status_code=422
        )

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_failed(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        message = getattr(exc.cause, "message", None) or str(exc.cause or exc)
        return JSONResponse({"detail": message}, status_code=409)

    @app.exception_handler(WorkflowAlreadyStartedError)
    async def already(_: Request, exc: WorkflowAlreadyStartedError) -> JSONResponse:
        return JSONResponse({"detail": f"{exc.workflow_id} already exists"}, status_code=409)

    @app.exception_handler(DomainRefusal)
    async def refused(_: Request, exc: DomainRefusal) -> JSONResponse:
        """A report, roster or unit refused, nobody to call, a bureau not configured."""
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse({"detail": exc.errors(include_url=False)}, status_code=422)

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def duty_room() -> FileResponse:
        """The duty room's page (Chinese); it asks the API with the token given as ?token=."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
