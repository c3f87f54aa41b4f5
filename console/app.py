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
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from console import overdue as overdue_store
from models.disaster import DisasterOpen, DisasterReportInput, DisasterView
from models.disaster import ReviewInput as DisasterReview
from models.drill import (
    ActionDoneInput,
    ConductInput,
    DrillCreate,
    DrillEvaluateInput,
    DrillView,
)
from models.plan import (
    ApproveInput,
    CloseInput,
    EvaluateInput,
    FileInput,
    IssueInput,
    PlanCreate,
    PlanView,
    ReviewInput,
    RevisionTrigger,
    SubmitDraft,
)
from models.summary import SummaryDocument
from models.typhoon import (
    CloseTyphoon,
    LevelChange,
    ReportReceipt,
    TyphoonBoard,
    TyphoonOpen,
    UnitReport,
)
from models.warning import AckInput, WarningIssue, WarningView
from yingji import disasters, drills, plans, summaries, typhoons, warnings
from yingji.db import make_engine
from yingji.logging import get_logger
from yingji.search import STAGE, UNIT, YEAR
from yingji.settings import Settings
from yingji.temporal import connect
from yingji.typhoon_store import ReportRejected

STATIC = PathlibPath(__file__).parent / "static"

Role = Literal["viewer", "duty_officer", "admin"]
RANK = {"viewer": 0, "duty_officer": 1, "admin": 2}

#: Workflow kind → Temporal workflow type, for listing.
KINDS = {
    "plan": "PlanLifecycle",
    "drill": "Drill",
    "programme": "DrillProgramme",
    "typhoon": "Typhoon",
    "warning": "WarningCall",
    "disaster": "DisasterProcess",
    "summary": "YearEndSummary",
}

log = get_logger("yingji.console")


_bearer = HTTPBearer(auto_error=False)


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
#: Business codes as the models accept them: no blanks, colons, slashes or control characters.
Code = Annotated[str, PathParam(pattern=r"^[^\s:/\x00-\x1f]{1,64}$")]
Year = Annotated[int, PathParam(ge=2000, le=2100)]
Number = Annotated[int, PathParam(ge=1, le=99)]
Officer = Annotated[Role, Depends(_at_least("duty_officer"))]
S = Annotated["Services", Depends(_services)]


class WarningRequest(BaseModel):
    """Issue a warning; the people to call come from the officer roster."""

    warning_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\s:/\x00-\x1f]+$")
    title: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=100)
    issued_by: str = Field(min_length=1, max_length=100)
    units: list[str] | None = Field(default=None, max_length=10_000)


class Services:
    """What the routes need, created at start-up (or injected by tests)."""

    def __init__(self, settings: Settings, client: Client, engine: AsyncEngine) -> None:
        self.settings, self.client, self.engine = settings, client, engine


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

    @app.exception_handler(warnings.NoOneToCall)
    async def no_one(_: Request, exc: warnings.NoOneToCall) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ReportRejected)
    async def rejected(_: Request, exc: ReportRejected) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse({"detail": exc.errors(include_url=False)}, status_code=422)

    # -- reading ----------------------------------------------------------------------------

    @app.get("/api/workflows")
    async def list_workflows(
        _: Viewer,
        s: S,
        kind: Literal[tuple(KINDS)] | None = None,  # type: ignore[valid-type]
        status: Literal["running", "closed"] | None = None,
        unit: Annotated[str | None, Query(pattern=r"^[^'\\\x00-\x1f]{1,100}$")] = None,
        year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        stage: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Live and finished workflows, by kind and status, and by the registered search
        attributes YingjiUnit (unit or district), YingjiYear and YingjiStage."""
        clauses = []
        if kind:
            clauses.append(f"WorkflowType = '{KINDS[kind]}'")
        if status:
            clauses.append(
                "ExecutionStatus = 'Running'"
                if status == "running"
                else "ExecutionStatus != 'Running'"
            )
        if unit:
            clauses.append(f"YingjiUnit = '{unit}'")
        if year:
            clauses.append(f"YingjiYear = {year}")
        if stage:
            clauses.append(f"YingjiStage = '{stage}'")
        out = []
        async for w in s.client.list_workflows(" AND ".join(clauses) or None, limit=limit):
            attrs = w.typed_search_attributes
            out.append(
                {
                    "id": w.id,
                    "type": w.workflow_type,
                    "status": w.status.name.lower() if w.status else None,
                    "started": w.start_time,
                    "closed": w.close_time,
                    "unit": attrs.get(UNIT),
                    "year": attrs.get(YEAR),
                    "stage": attrs.get(STAGE),
                }
            )
        return out

    @app.get("/api/overdue")
    async def overdue(_: Viewer, s: S) -> list[dict[str, Any]]:
        """Every deadline that has passed, across plans, drills and corrective actions."""
        return await overdue_store.overdue(s.engine)

    @app.get("/api/plans")
    async def plan_register(_: Viewer, s: S, stage: str | None = None) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in await plans.list_plans(s.engine, stage=stage)]

    @app.get("/api/plans/{code}")
    async def plan_state(code: Code, _: Viewer, s: S) -> PlanView:
        return await plans.show(s.client, code)

    @app.get("/api/drills")
    async def drill_calendar(
        _: Viewer, s: S, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
    ) -> list[dict[str, Any]]:
        return [d.model_dump(mode="json") for d in await drills.list_drills(s.engine, year=year)]

    @app.get("/api/drills/{code}")
    async def drill_state(code: Code, _: Viewer, s: S) -> DrillView:
        return await drills.show(s.client, code)

    @app.get("/api/typhoons/{year}/{number}")
    async def typhoon_board(year: Year, number: Number, _: Viewer, s: S) -> TyphoonBoard:
        return await typhoons.board(s.client, f"{year}:{number}")

    @app.get("/api/warnings/{warning_id}")
    async def warning_board(warning_id: Code, _: Viewer, s: S) -> WarningView:
        return await warnings.show(s.client, warning_id)

    @app.get("/api/disasters/{code}")
    async def disaster_state(code: Code, _: Viewer, s: S) -> DisasterView:
        return await disasters.show(s.client, code)

    @app.get("/api/summaries/{year}")
    async def summary(year: Year, _: Viewer, s: S) -> SummaryDocument:
        doc = await summaries.latest(s.engine, s.settings, year)
        if doc is None:
            raise HTTPException(404, f"no summary for {year} yet")
        return doc

    @app.get("/api/summaries/{year}/export")
    async def summary_export(
        year: Year, _: Viewer, s: S, format: Literal["md", "json", "docx"] = "md"
    ) -> Response:
        doc = await summary(year, _, s)
        media = {
            "md": "text/markdown; charset=utf-8",
            "json": "application/json",
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
        return Response(
            summaries.export(doc, format),
            media_type=media[format],
            headers={"Content-Disposition": f'attachment; filename="summary-{year}.{format}"'},
        )

    # -- starting and feeding (duty officers and admins) -----------------------------------------

    @app.post("/api/plans", status_code=201)
    async def plan_create(data: PlanCreate, _: Officer, s: S) -> PlanView:
        await plans.create_plan(s.client, s.settings, data)
        return await plans.show(s.client, data.code)

    async def _plan_act(s: Services, code: str, action: str, data: Any) -> PlanView:
        return await plans.act(s.client, code, action, data)

    @app.post("/api/plans/{code}/submit")
    async def plan_submit(code: Code, data: SubmitDraft, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "submit", data)

    @app.post("/api/plans/{code}/review")
    async def plan_review(code: Code, data: ReviewInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "review", data)

    @app.post("/api/plans/{code}/approve")
    async def plan_approve(code: Code, data: ApproveInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "approve", data)

    @app.post("/api/plans/{code}/issue")
    async def plan_issue(code: Code, data: IssueInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "issue", data)

    @app.post("/api/plans/{code}/file")
    async def plan_file(code: Code, data: FileInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "file", data)

    @app.post("/api/plans/{code}/evaluate")
    async def plan_evaluate(code: Code, data: EvaluateInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "evaluate", data)

    @app.post("/api/plans/{code}/withdraw")
    async def plan_withdraw(code: Code, data: CloseInput, _: Officer, s: S) -> PlanView:
        return await _plan_act(s, code, "withdraw", data)

    @app.post("/api/plans/{code}/revision-triggers", status_code=202)
    async def plan_trigger(code: Code, data: RevisionTrigger, _: Officer, s: S) -> PlanView:
        await plans.show(s.client, code)  # 404 for an unknown plan, before signalling
        await plans.trigger_revision(s.client, code, data)
        return await plans.show(s.client, code)

    @app.post("/api/typhoons", status_code=201)
    async def typhoon_open(data: TyphoonOpen, _: Officer, s: S) -> TyphoonBoard:
        await typhoons.open_typhoon(s.client, s.engine, s.settings, data)
        return await typhoons.board(s.client, data.event_id)

    @app.post("/api/typhoons/{year}/{number}/level")
    async def typhoon_level(
        year: Year, number: Number, data: LevelChange, _: Officer, s: S
    ) -> TyphoonBoard:
        return await typhoons.change_level(s.client, f"{year}:{number}", data)

    @app.post("/api/typhoons/{year}/{number}/close")
    async def typhoon_close(
        year: Year, number: Number, data: CloseTyphoon, _: Officer, s: S
    ) -> TyphoonBoard:
        return await typhoons.close(s.client, f"{year}:{number}", data)

    @app.post("/api/drills", status_code=201)
    async def drill_plan(data: DrillCreate, _: Officer, s: S) -> DrillView:
        await drills.create_drill(s.client, s.settings, data)
        return await drills.show(s.client, data.code)

    @app.post("/api/drills/{code}/conduct")
    async def drill_conduct(code: Code, data: ConductInput, _: Officer, s: S) -> DrillView:
        return await drills.act(s.client, code, "conduct", data)

    @app.post("/api/drills/{code}/evaluate")
    async def drill_evaluate(code: Code, data: DrillEvaluateInput, _: Officer, s: S) -> DrillView:
        return await drills.act(s.client, code, "evaluate", data)

    @app.post("/api/drills/{code}/actions/done")
    async def drill_action_done(code: Code, data: ActionDoneInput, _: Officer, s: S) -> DrillView:
        return await drills.act(s.client, code, "action-done", data)

    @app.post("/api/disasters/{code}/reports")
    async def disaster_report(
        code: Code, data: DisasterReportInput, _: Officer, s: S
    ) -> DisasterView:
        return await disasters.submit(s.client, code, data)

    @app.post("/api/disasters/{code}/reviews")
    async def disaster_review(code: Code, data: DisasterReview, _: Officer, s: S) -> DisasterView:
        return await disasters.review(s.client, code, data)

    @app.post("/api/warnings", status_code=201)
    async def warning_issue(data: WarningRequest, _: Officer, s: S) -> WarningView:
        """Issue a warning: call the A officer of each unit (default: every 街镇)."""
        targets = await warnings.targets_from_roster(s.engine, data.district, data.units)
        issue = WarningIssue(
            warning_id=data.warning_id,
            title=data.title,
            district=data.district,
            issued_by=data.issued_by,
            targets=targets,
        )
        await warnings.issue_warning(s.client, s.settings, issue)
        return await warnings.show(s.client, data.warning_id)

    @app.post("/api/disasters", status_code=201)
    async def disaster_open(data: DisasterOpen, _: Officer, s: S) -> DisasterView:
        await disasters.open_disaster(s.client, s.settings, data)
        return await disasters.show(s.client, data.code)

    @app.post("/api/typhoons/reports")
    async def typhoon_report(data: UnitReport, _: Officer, s: S) -> ReportReceipt:
        return await typhoons.submit_report(s.engine, data)

    @app.post("/api/warnings/{warning_id}/ack")
    async def warning_ack(warning_id: Code, data: AckInput, _: Officer, s: S) -> WarningView:
        return await warnings.acknowledge(s.client, warning_id, data)

    @app.get("/", include_in_schema=False)
    async def duty_room() -> FileResponse:
        """The duty room's page (Chinese); it asks the API with the token given as ?token=."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
