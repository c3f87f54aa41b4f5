"""Console routes: typhoon.

A reporter sends unit reports for their own units; a duty officer opens, changes the level of
and closes an event."""

from __future__ import annotations

from fastapi import APIRouter, Response

from models.typhoon import (
    CloseTyphoon,
    LevelChange,
    ReportReceipt,
    TyphoonBoard,
    TyphoonOpen,
    UnitReport,
)
from yingji.console.deps import Number, Officer, Reporter, S, Viewer, Year
from yingji.console.mutations import Mut, filled, read, require_units
from yingji.services import typhoon as typhoons

router = APIRouter()


@router.get("/api/typhoons/{year}/{number}")
async def typhoon_board(
    year: Year, number: Number, _: Viewer, s: S, response: Response
) -> TyphoonBoard:
    event = f"{year}:{number}"
    call = typhoons.board(s.client, event)
    return await read(s, typhoons.typhoon_workflow_id(event), call, response)


@router.post("/api/typhoons", status_code=201)
async def typhoon_open(data: TyphoonOpen, who: Officer, s: S, m: Mut) -> TyphoonBoard:
    data = data.model_copy(update={"opened_by": filled(who.person, data.opened_by)})
    wid = typhoons.typhoon_workflow_id(data.event_id)
    call = typhoons.open_typhoon(s.client, s.engine, s.settings, data, request_id=m.key)
    await m.run(wid, call, asking=("open", data))
    return await m.run(wid, typhoons.board(s.client, data.event_id))


@router.post("/api/typhoons/{year}/{number}/level")
async def typhoon_level(
    year: Year, number: Number, data: LevelChange, who: Officer, m: Mut
) -> TyphoonBoard:
    event = f"{year}:{number}"
    call = typhoons.change_level(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("level", data))


@router.post("/api/typhoons/{year}/{number}/close")
async def typhoon_close(
    year: Year, number: Number, data: CloseTyphoon, who: Officer, m: Mut
) -> TyphoonBoard:
    event = f"{year}:{number}"
    call = typhoons.close(m.s.client, event, m.stamp(data, who), update_id=m.key)
    return await m.run(typhoons.typhoon_workflow_id(event), call, asking=("close", data))


@router.post("/api/typhoons/reports")
async def typhoon_report(data: UnitReport, who: Reporter, s: S, m: Mut) -> ReportReceipt:
    """A unit's report; its ``report_id`` is its idempotency key. ``reported_by`` becomes the
    caller, with the name they gave kept as 代填."""
    await require_units(s, who, data.unit)
    data = data.model_copy(update={"reported_by": filled(who.person, data.reported_by)})
    return await m.run(
        typhoons.typhoon_workflow_id(data.event_id), typhoons.submit_report(s.engine, data)
    )
