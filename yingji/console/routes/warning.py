"""Console routes: warning (叫应).

A warning issued here calls the register of responsible people, fanned out by 街镇
(``WarningFanout``); a warning issued before the fan-out, or loaded from a past year, is the
older ``WarningCall``: its board and answers are still served."""

from __future__ import annotations

from typing import Annotated, ClassVar

from fastapi import APIRouter, Response
from pydantic import Field

from models.common import CODE_PATTERN, Model, Request
from models.fanout import AckResult, CallLevel, CallSource, FanoutAck, FanoutIssue, FanoutView
from models.warning import AckInput, WarningView
from yingji.console.deps import Caller, Code, Officer, S, Viewer, mask_phone
from yingji.console.mutations import Mut, filled, read
from yingji.services import fanout
from yingji.services import warning as warnings

router = APIRouter()


class WarningRequest(Model):
    """Issue a warning to every responsible person of ``level`` (``units`` narrows it). Text is
    refused as every boundary model refuses it (no NUL, no lone surrogate)."""

    is_input: ClassVar[bool] = True

    warning_id: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    district: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: the configured district"
    )
    issued_by: str = Field(min_length=1, max_length=100)
    level: CallLevel = CallLevel.TOWN
    who: CallSource = CallSource.RESPONSIBLE
    units: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=10_000, description="units to call, by code or name"
    )


class AckRequest(Request):
    person: str = Field(min_length=1, max_length=200, description="person id, phone or name")
    via: str = Field(default="phone", min_length=1, max_length=32)


def _for(who: Caller, view: WarningView) -> WarningView:
    """Phone numbers only for those who call people: masked below duty officer."""
    if who.at_least("duty_officer"):
        return view
    calls = [c.model_copy(update={"phone": mask_phone(c.phone)}) for c in view.calls]
    return view.model_copy(update={"calls": calls})


@router.get("/api/warnings/{warning_id}")
async def warning_board(
    warning_id: Code, who: Viewer, s: S, response: Response
) -> FanoutView | WarningView:
    """A warning's board: each 街镇's progress, the 叫应率, the response times, who has nobody
    to call (a ``WarningCall`` of before: each call, phones masked below duty officer)."""
    wid = warnings.warning_workflow_id(warning_id)
    if await fanout.kind(s.client, warning_id) == warnings.WORKFLOW_TYPE:
        return _for(
            who, await read(s, wid, warnings.show(s.client, warning_id, s.engine), response)
        )
    return await read(s, wid, fanout.show(s.client, warning_id, s.engine), response)


@router.post("/api/warnings", status_code=201)
async def warning_issue(data: WarningRequest, who: Officer, s: S, m: Mut) -> FanoutView:
    """Issue a warning: call every responsible person of the level, by 街镇."""
    issue = FanoutIssue(
        warning_id=data.warning_id,
        title=data.title,
        district=data.district or s.settings.district,
        issued_by=filled(who.person, data.issued_by),
        level=data.level,
        who=data.who,
        units=data.units,
        actor=who.person,
    )
    wid = warnings.warning_workflow_id(data.warning_id)
    start = fanout.issue(s.client, s.settings, issue, request_id=m.key, engine=s.engine)
    await m.run(wid, start, asking=("issue", data))  # what was sent, whoever sends it again
    return await m.run(wid, fanout.laid_out(s.client, data.warning_id))


@router.post("/api/warnings/{warning_id}/ack")
async def warning_ack(
    warning_id: Code, data: AckRequest, who: Officer, s: S, m: Mut
) -> AckResult | WarningView:
    """An answer, by person id, phone, or a name only one person of the warning has."""
    wid = warnings.warning_workflow_id(warning_id)
    here = await fanout.answered_here(s.engine, warning_id)  # no need of Temporal
    if not here and await fanout.kind(s.client, warning_id) == warnings.WORKFLOW_TYPE:
        old = m.stamp(AckInput(person=data.person, via=data.via), who)
        call = warnings.acknowledge(s.client, warning_id, old, update_id=m.key)
        return await m.run(wid, call, asking=("ack", data))
    ack = m.stamp(FanoutAck(person=data.person, via=data.via), who)
    call = fanout.acknowledge(s.client, s.engine, warning_id, ack, m.key)
    return await m.run(wid, call, asking=("ack", data))
