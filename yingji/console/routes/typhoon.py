"""Console routes: typhoon."""

from __future__ import annotations

from fastapi import APIRouter

from models.typhoon import (
    CloseTyphoon,
    LevelChange,
    ReportReceipt,
    TyphoonBoard,
    TyphoonOpen,
    UnitReport,
)
from yingji.console.deps import Number, Officer, S, Viewer, Year
from yingji.services import typhoon as typhoons

router = APIRouter()


@router.get("/api/typhoons/{year}/{number}")
async def typhoon_board(year: Year, number: Number, _: Viewer, s: S) -> TyphoonBoard:
    return await typhoons.board(s.client, f"{year}:{number}")


@router.post("/api/typhoons", status_code=201)
async def typhoon_open(data: TyphoonOpen, _: Officer, s: S) -> TyphoonBoard:
    await typhoons.open_typhoon(s.client, s.engine, s.settings, data)
    return await typhoons.board(s.client, data.event_id)


@router.post("/api/typhoons/{year}/{number}/level")
async def typhoon_level(
    year: Year, number: Number, data: LevelChange, _: Officer, s: S
) -> TyphoonBoard:
    return await typhoons.change_level(s.client, f"{year}:{number}", data)


@router.post("/api/typhoons/{year}/{number}/close")
async def typhoon_close(
    year: Year, number: Number, data: CloseTyphoon, _: Officer, s: S
) -> TyphoonBoard:
    return await typhoons.close(s.client, f"{year}:{number}", data)


@router.post("/api/typhoons/reports")
async def typhoon_report(data: UnitReport, _: Officer, s: S) -> ReportReceipt:
    return await typhoons.submit_report(s.engine, data)
