"""Console routes: typhoon (and 暴雨/寒潮 events), and the register of shelters.

A reporter sends unit reports, shelter occupancy and instruction feedback for their own units;
a duty officer opens, changes the level of and closes an event, instructs the 街镇, opens
reporting rounds and opens and closes shelters; an admin imports the shelter register."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam

from models.shelter import SHELTER_FILE_MAX, ShelterImportResult, ShelterView
from models.typhoon import (
    CloseTyphoon,
    FeedbackInput,
    InstructionInput,
    LevelChange,
    OccupancyReport,
    ReportReceipt,
    RoundInput,
    ShelterChange,
    TyphoonBoard,
    TyphoonOpen,
    UnitReport,
)
from models.unit import DISTRICT_MAX
from yingji.console.deps import QUERY_TEXT, Admin, Officer, Reporter, S, Viewer, Year
from yingji.console.mutations import Mut, filled, read, require_units
from yingji.core.errors import DomainRefusal
from yingji.services import shelter as shelters
from yingji.services import typhoon as typhoons

router = APIRouter()

#: A typhoon's number (13) or another hazard's event code (RS0721).
Number = Annotated[
    str, PathParam(pattern=r"^([0-9]{1,2}|[A-Za-z][A-Za-z0-9-]{0,10})$", max_length=11)
]


def _event(year: int, number: str) -> str:
    return f"{year}:{int(number)}" if number.isdigit() else f"{year}:{number}"


@router.get("/api/typhoons/{year}/{number}", response_model=TyphoonBoard)
async def typhoon_board(
    year: Year, number: Number, _: Viewer, s: S, response: Response
) -> TyphoonBoard | Response:
    """The board, from PostgreSQL as the projection holds it (a closed event too, with no
    worker running); an open event's reporting rounds as its workflow last checked them. Its
    ``ETag`` is the event number projected. An event none of whose events is projected yet is
    asked of its workflow."""
    event = _event(year, number)
    served = await typhoons.projected_board(s.client, s.engine, event)
    if served is not None:  # encoded once for every viewer of this version
        return Response(
            served.json,
            media_type="application/json",
            headers={"ETag": f'"{served.board.last_seq}"'},
        )
    call = typhoons.board(s.client, event)
    return await read(s, typhoons.typhoon_workflow_id(event), call, response)


@router.post("/api/typhoons", status_code=201)
async def typhoon_open(data: TyphoonOpen, who: Officer, s: S, m: Mut) -> TyphoonBoard:
    sent = data  # the key stands for what was sent, whoever sends it again
    data = data.model_copy(update={"opened_by": filled(who.person, data.opened_by)})
    wid = typhoons.typhoon_workflow_id(data.event_id)
    call = typhoons.open_typhoon(s.client, s.engine, s.settings, data, request_id=m.key)
    await m.run(wid, call, asking=("open", sent))
    return await m.run(wid, typhoons.board(s.client, data.event_id))


@router.post("/api/typhoons/{year}/{number}/level")
async def typhoon_level(
    year: Year, number: Number, data: LevelChange, who: Officer, m: Mut
) -> TyphoonBoard:
    event = _event(year, number)
    call = typhoons.change_level(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("level", data))


@router.post("/api/typhoons/{year}/{number}/close")
async def typhoon_close(
    year: Year, number: Number, data: CloseTyphoon, who: Officer, m: Mut
) -> TyphoonBoard:
    event = _event(year, number)
    call = typhoons.close(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("close", data))


@router.post("/api/typhoons/{year}/{number}/instructions")
async def typhoon_instruct(
    year: Year, number: Number, data: InstructionInput, who: Officer, m: Mut
) -> TyphoonBoard:
    """An instruction to every 街镇, with its feedback deadline."""
    event = _event(year, number)
    call = typhoons.instruct(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("instruct", data))


@router.post("/api/typhoons/{year}/{number}/feedback")
async def typhoon_feedback(
    year: Year, number: Number, data: FeedbackInput, who: Reporter, s: S, m: Mut
) -> TyphoonBoard:
    """A 街镇's feedback on an instruction (a reporter: for its own 街镇)."""
    await require_units(s, who, data.town)
    event = _event(year, number)
    call = typhoons.feedback(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("feedback", data))


@router.post("/api/typhoons/{year}/{number}/rounds")
async def typhoon_round(
    year: Year, number: Number, data: RoundInput, who: Officer, m: Mut
) -> TyphoonBoard:
    """A reporting round now (on demand)."""
    event = _event(year, number)
    call = typhoons.start_round(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("round", data))


@router.get("/api/typhoons/{year}/{number}/rounds")
async def typhoon_round_units(
    year: Year,
    number: Number,
    _: Viewer,
    s: S,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=100_000)] = None,
) -> dict[str, Any]:
    """A round (the latest by default), live: each reporting unit reported, late or missing."""
    found, units = await typhoons.round_units(s.engine, _event(year, number), round_no)
    return {"round": found, "units": units}


@router.post("/api/typhoons/{year}/{number}/shelters/open")
async def typhoon_shelters_open(
    year: Year, number: Number, data: ShelterChange, who: Officer, s: S, m: Mut
) -> TyphoonBoard:
    """Open registered shelters (codes or names) for the event."""
    event = _event(year, number)
    coded = await _coded(s, event, data)
    call = typhoons.open_shelters(s.client, s.engine, event, m.stamp(coded, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("shelters-open", coded))


@router.post("/api/typhoons/{year}/{number}/shelters/close")
async def typhoon_shelters_close(
    year: Year, number: Number, data: ShelterChange, who: Officer, s: S, m: Mut
) -> TyphoonBoard:
    event = _event(year, number)
    coded = await _coded(s, event, data)
    call = typhoons.close_shelters(s.client, s.engine, event, m.stamp(coded, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("shelters-close", coded))


async def _coded(s: Any, event: str, data: ShelterChange) -> ShelterChange:
    try:
        return await typhoons.shelter_codes(s.engine, event, data)
    except DomainRefusal:
        raise
    except ValueError as exc:  # names no shelter, or several
        raise DomainRefusal(str(exc)) from exc


@router.get("/api/typhoons/{year}/{number}/shelters")
async def typhoon_shelters(year: Year, number: Number, _: Viewer, s: S) -> list[dict[str, Any]]:
    """Every shelter the event opened: capacity, latest occupancy, opened, closed."""
    return await typhoons.event_shelters(s.engine, _event(year, number))


@router.post("/api/typhoons/reports")
async def typhoon_report(data: UnitReport, who: Reporter, s: S, m: Mut) -> ReportReceipt:
    """A unit's report; its ``report_id`` is its idempotency key. ``reported_by`` becomes the
    caller, with the name they gave kept as 代填."""
    await require_units(s, who, data.unit)
    data = data.model_copy(update={"reported_by": filled(who.person, data.reported_by)})
    return await m.run(
        typhoons.typhoon_workflow_id(data.event_id), typhoons.submit_report(s.engine, data)
    )


@router.post("/api/typhoons/occupancy")
async def typhoon_occupancy(data: OccupancyReport, who: Reporter, s: S, m: Mut) -> ReportReceipt:
    """A shelter's occupancy now; ``report_id`` is its key. A reporter reports for the shelters
    of its own units."""
    if who.role == "reporter":
        unit = await typhoons.shelter_unit(s.engine, data.event_id, data.shelter)
        await require_units(s, who, unit or data.shelter)
    data = data.model_copy(update={"reported_by": filled(who.person, data.reported_by)})
    return await m.run(
        typhoons.typhoon_workflow_id(data.event_id), typhoons.submit_occupancy(s.engine, data)
    )


@router.get("/api/shelters")
async def shelter_list(
    _: Viewer,
    s: S,
    district: Annotated[
        str | None, Query(min_length=1, max_length=DISTRICT_MAX, pattern=QUERY_TEXT)
    ] = None,
    unit: Annotated[str | None, Query(min_length=1, max_length=100, pattern=QUERY_TEXT)] = None,
) -> list[ShelterView]:
    """The register of shelters (应急避难场所), by 街镇 and unit."""
    try:
        return await shelters.list_shelters(s.engine, district or s.settings.bureau_district, unit)
    except shelters.ShelterError:
        raise  # 409 (or 404), each bad line as one of its errors


SHELTER_CSV = {
    "requestBody": {
        "required": True,
        "description": "the CSV file: code,name,unit,type,capacity,address",
        "content": {
            "text/csv": {
                "schema": {"type": "string", "maxLength": SHELTER_FILE_MAX},
                "example": "code,name,unit,type,capacity,address\n"
                "ZB-BN-01,甲镇文体中心,甲镇,室内,500,甲镇文化路1号\n",
            }
        },
    }
}


@router.post("/api/shelters", openapi_extra=SHELTER_CSV)
async def shelter_import(request: Request, _: Admin, s: S) -> ShelterImportResult:
    """Import shelters from a CSV body: upsert by code, all or nothing (422 names every bad
    line)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > SHELTER_FILE_MAX:
            raise HTTPException(413, f"the file is larger than {SHELTER_FILE_MAX:,} bytes")
    try:
        return await shelters.import_csv(s.engine, bytes(body), s.settings.bureau_district)
    except shelters.ShelterError:
        raise  # 409 (or 404), each bad line as one of its errors
