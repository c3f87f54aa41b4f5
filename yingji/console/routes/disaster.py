"""Console routes: disaster.

A reporter submits reports for a process of their units (the district, or every 街镇 the report
breaks down); an approver reviews them; a duty officer opens a process."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from models.disaster import DisasterOpen, DisasterReportInput, DisasterView, StableInput
from models.disaster import ReviewInput as DisasterReview
from yingji.console.deps import Approver, Code, Officer, Reporter, S, Viewer
from yingji.console.mutations import Mut, filled, read, require_units
from yingji.core.errors import DomainRefusal
from yingji.services import disaster as disasters

router = APIRouter()


@router.get("/api/disasters/{code}")
async def disaster_state(code: Code, _: Viewer, s: S, response: Response) -> DisasterView:
    call = disasters.show(s.client, code, s.engine)
    return await read(s, disasters.disaster_workflow_id(code), call, response)


@router.post("/api/disasters/{code}/reports")
async def disaster_report(
    code: Code, data: DisasterReportInput, who: Reporter, s: S, m: Mut
) -> DisasterView:
    if who.role == "reporter":
        current = await disasters.show(s.client, code)
        if current.district not in who.units:
            towns = [t.town for t in data.towns]
            if not towns:
                raise HTTPException(
                    403, f"{who.person} (reporter) may not report for {current.district}"
                )
            await require_units(s, who, *towns)
    call = disasters.submit(s.client, code, m.stamp(data, who), update_id=m.key)
    return await m.run(disasters.disaster_workflow_id(code), call, asking=("report", data))


@router.post("/api/disasters/{code}/reviews")
async def disaster_review(code: Code, data: DisasterReview, who: Approver, m: Mut) -> DisasterView:
    call = disasters.review(m.s.client, code, m.stamp(data, who), update_id=m.key)
    return await m.run(disasters.disaster_workflow_id(code), call, asking=("review", data))


@router.post("/api/disasters", status_code=201)
async def disaster_open(data: DisasterOpen, who: Officer, s: S, m: Mut) -> DisasterView:
    if data.historical:
        # a past process is loaded (`yingji load`), where its reports carry their own times
        raise DomainRefusal("historical: a past process is entered with `yingji load`")
    sent = data  # the key stands for what was sent, whoever sends it again
    data = data.model_copy(update={"opened_by": filled(who.person, data.opened_by)})
    wid = disasters.disaster_workflow_id(data.code)
    create = disasters.open_disaster(s.client, s.settings, data, request_id=m.key)
    await m.run(wid, create, asking=("open", sent))
    return await m.run(wid, disasters.show(s.client, data.code))


@router.post("/api/disasters/{code}/stable")
async def disaster_stable(code: Code, data: StableInput, who: Officer, m: Mut) -> DisasterView:
    """灾情稳定: no more 续报; the 核报 falls due."""
    call = disasters.declare_stable(m.s.client, code, m.stamp(data, who), update_id=m.key)
    return await m.run(disasters.disaster_workflow_id(code), call, asking=("stable", data))
