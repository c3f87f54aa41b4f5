"""Console routes: warning."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field

from models.common import Model
from models.warning import AckInput, WarningIssue, WarningView
from yingji.console.deps import Caller, Code, Officer, S, Viewer, mask_phone
from yingji.console.mutations import Mut, filled, tag
from yingji.services import warning as warnings

router = APIRouter()


class WarningRequest(Model):
    """Issue a warning; the people to call come from the officer roster. Text is refused as
    every boundary model refuses it (no NUL, no lone surrogate)."""

    warning_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\s:/\x00-\x1f]+$")
    title: str = Field(min_length=1, max_length=200)
    district: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: the configured district"
    )
    issued_by: str = Field(min_length=1, max_length=100)
    units: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=10_000, description="units to call, by code or name"
    )


def _for(who: Caller, view: WarningView) -> WarningView:
    """Phone numbers only for those who call people: masked below duty officer."""
    if who.at_least("duty_officer"):
        return view
    calls = [c.model_copy(update={"phone": mask_phone(c.phone)}) for c in view.calls]
    return view.model_copy(update={"calls": calls})


@router.get("/api/warnings/{warning_id}")
async def warning_board(warning_id: Code, who: Viewer, s: S, response: Response) -> WarningView:
    view = await warnings.show(s.client, warning_id)
    tag(response, view)
    return _for(who, view)


@router.post("/api/warnings", status_code=201)
async def warning_issue(data: WarningRequest, who: Officer, s: S, m: Mut) -> WarningView:
    """Issue a warning: call the A officer of each unit (default: every 街镇)."""
    district = data.district or s.settings.district
    targets = await warnings.targets_from_roster(s.engine, district, data.units)
    issue = WarningIssue(
        warning_id=data.warning_id,
        title=data.title,
        district=district,
        issued_by=filled(who.person, data.issued_by),
        targets=targets,
    )
    wid = warnings.warning_workflow_id(data.warning_id)
    await m.run(wid, warnings.issue_warning(s.client, s.settings, issue, request_id=m.key))
    return await m.run(wid, warnings.show(s.client, data.warning_id))


@router.post("/api/warnings/{warning_id}/ack")
async def warning_ack(warning_id: Code, data: AckInput, who: Officer, m: Mut) -> WarningView:
    call = warnings.acknowledge(m.s.client, warning_id, m.stamp(data, who), update_id=m.key)
    return await m.run(warnings.warning_workflow_id(warning_id), call)
