"""Console routes: disaster."""

from __future__ import annotations

from fastapi import APIRouter

from models.disaster import DisasterOpen, DisasterReportInput, DisasterView
from models.disaster import ReviewInput as DisasterReview
from yingji.console.deps import Code, Officer, S, Viewer
from yingji.services import disaster as disasters

router = APIRouter()


@router.get("/api/disasters/{code}")
async def disaster_state(code: Code, _: Viewer, s: S) -> DisasterView:
    return await disasters.show(s.client, code)


@router.post("/api/disasters/{code}/reports")
async def disaster_report(code: Code, data: DisasterReportInput, _: Officer, s: S) -> DisasterView:
    return await disasters.submit(s.client, code, data)


@router.post("/api/disasters/{code}/reviews")
async def disaster_review(code: Code, data: DisasterReview, _: Officer, s: S) -> DisasterView:
    return await disasters.review(s.client, code, data)


@router.post("/api/disasters", status_code=201)
async def disaster_open(data: DisasterOpen, _: Officer, s: S) -> DisasterView:
    await disasters.open_disaster(s.client, s.settings, data)
    return await disasters.show(s.client, data.code)
