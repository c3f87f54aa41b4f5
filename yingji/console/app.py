"""The operations console's HTTP API (FastAPI): the same operations the CLI uses.

Every route needs a bearer token naming a person and a role (see :mod:`yingji.console.deps`):
tokens are kept as SHA-256 only, in settings (``YINGJI_CONSOLE_TOKENS``) or in the database
(``yingji token add``). Tokens never appear in a URL, a log or the metrics: the page logs in
through a form and keeps the token in sessionStorage.

Every response carries the security headers (:data:`SECURITY_HEADERS`; ``Cache-Control:
no-store`` on the API, the schema and the metrics). ``/docs`` is Swagger UI from the installed
``swagger-ui-bundle`` (no CDN): its page and assets hold no data and need no token, the schema
it loads (``/openapi.json``) needs a viewer's, which the page asks for. ``/metrics`` needs a
viewer's too. Either can be turned off (``console_docs``, ``console_metrics``: 404).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path as PathlibPath
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from models.shelter import SHELTER_FILE_MAX
from yingji.console import links, mutations, problems
from yingji.console.deps import Services, Viewer
from yingji.console.limits import BodyLimit
from yingji.console.routes import (
    disaster,
    drill,
    plan,
    responsible,
    room,
    summary,
    token,
    typhoon,
    unit,
    warning,
    workflow,
)
from yingji.core.db import make_engine
from yingji.core.logging import get_logger
from yingji.core.settings import Settings
from yingji.core.temporal import connect
from yingji.services import unit as unit_service

STATIC = PathlibPath(__file__).parent / "static"
#: Swagger UI's files served under /docs/static (from the swagger-ui-bundle package).
SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")

#: On every response. Scripts, styles and data come from this origin only (the page and
#: Swagger UI load nothing inline and nothing from a CDN); no page may frame these.
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
}
#: Never kept by a browser or a proxy: the answers hold data.
NO_STORE = ("/api/", "/openapi.json", "/metrics")

log = get_logger("yingji.console")

#: One router per capability, each in ``yingji/console/routes/<kind>.py`` (its name is the
#: operations' tag in /docs).
ROUTERS = [
    r
    for r in (
        workflow,
        plan,
        drill,
        typhoon,
        warning,
        disaster,
        summary,
        unit,
        responsible,
        token,
        room,
    )
]


class SecurityHeaders:
    """ASGI middleware, outermost: every response gets :data:`SECURITY_HEADERS`, those of the
    API, the schema and the metrics ``Cache-Control: no-store`` too (a 413 or a 401 included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(NO_STORE)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not (no_store and k.lower() == b"cache-control")
                ]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if no_store:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def warn_without_tokens(services: Services) -> None:
    """At start-up: a warning when no token is configured, in settings or in the database
    (every request would then be refused)."""
    from yingji.stores import token as tokens

    if services.settings.console_tokens:
        return
    try:
        stored = await tokens.count_active(services.engine)
    except Exception as exc:  # a warning only; a request will say more
        log.warning(
            "console: no token in settings, and the database's tokens cannot be read yet "
            "(a first start, before the worker has migrated it?); requests are refused (401) "
            "until `yingji token add` has made one",
            error=type(exc).__name__,
        )
        return
    if stored == 0:
        log.warning(
            "console: no token is configured (none in YINGJI_CONSOLE_TOKENS, none in the "
            "database): every request is refused (401); create one with `yingji token add`"
        )


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
            await warn_without_tokens(app.state.services)
            yield
            return
        own_engine = engine is None
        app.state.services = Services(
            settings,
            client or await connect(settings),
            engine or make_engine(database_url or settings.database_url.get_secret_value()),  # type: ignore[union-attr]
        )
        await warn_without_tokens(app.state.services)
        yield
        if own_engine:
            await app.state.services.engine.dispose()

    app = FastAPI(
        title="Yingji 应急 console API",
        version="0.1.0",
        description="Plans, drills, typhoon tallies, 叫应, disaster reports and year-end "
        "summaries of an emergency management bureau.",
        lifespan=lifespan,
        # served below: behind a token, or off
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    if client is not None and engine is not None:
        app.state.services = Services(settings, client, engine)
    # a body over the limit is refused before auth and parsing (the routes read neither first)
    app.add_middleware(
        BodyLimit,
        limit=settings.console_max_body_bytes,
        overrides={  # the CSV imports, as their routes bound them
            "/api/units": max(settings.console_max_body_bytes, unit_service.MAX_BYTES),
            "/api/responsible": max(settings.console_max_body_bytes, unit_service.MAX_BYTES),
            "/api/shelters": max(settings.console_max_body_bytes, SHELTER_FILE_MAX),
        },
        read_seconds=settings.console_body_read_seconds,
    )
    app.add_middleware(SecurityHeaders)  # added last: outermost, so on every response

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

    problems.install(app)

    for module in ROUTERS:
        app.include_router(module.router, tags=[module.__name__.rsplit(".", 1)[-1]])
    mutations.install(app)

    @app.get("/", include_in_schema=False)
    async def duty_room() -> FileResponse:
        """The duty room's page (Chinese): a login form, then the API with the token as a
        bearer header (kept in sessionStorage, never in the URL)."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/reporter", include_in_schema=False)
    async def reporter_page() -> FileResponse:
        """The reporter's page (phone-sized, Chinese): the same login, their units' reports."""
        return FileResponse(STATIC / "reporter.html", media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """No icon: an empty answer, not a 404 in every browser's console."""
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    if settings.console_docs == "token":
        _add_docs(app)

    if settings.console_metrics == "token":

        @app.get("/metrics", include_in_schema=False)
        async def metrics(_: Viewer) -> PlainTextResponse:
            return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the installed package; the schema behind a viewer's token."""
    from swagger_ui_bundle import swagger_ui_path

    bundle = PathlibPath(swagger_ui_path)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Viewer) -> JSONResponse:
        return JSONResponse(app.openapi())

    def documented() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = links.document(problems.document(generated))
        return app.openapi_schema

    app.openapi = documented  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        """The page holds no data: it asks for a token and loads the schema with it."""
        return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8")

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def swagger_file(name: str) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise HTTPException(404, "not found")
        return FileResponse(bundle / name)
