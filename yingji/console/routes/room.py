"""Console routes: what the duty room's page and the reporter's page read (read-only).

Everything here comes from PostgreSQL, as the projections hold it: the live items of every kind
with their stage in Chinese, a workflow's history of events, a 叫应's call chains, a reporter's
units with the live events they report to and each unit's last figures, and the Chinese label of
every enum value (the page's forms and tables use them; nothing is translated twice).
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from models import disaster as disaster_models
from models import drill as drill_models
from models import fanout as fanout_models
from models import plan as plan_models
from models import typhoon as typhoon_models
from models import unit as unit_models
from models import warning as warning_models
from models.common import BLANK_CLASS, CONTROL_CLASS, LabelledEnum
from models.typhoon import EVENT_ID
from yingji.console.deps import Caller, Code, Reporter, S, Viewer, mask_phone
from yingji.core.errors import PATTERN_WORDS
from yingji.stores import room as room_store

router = APIRouter()

#: A workflow's business key (a plan code, YEAR:NUMBER, …): no blanks, '/' or control character.
KEY_QUERY = f"^[^{CONTROL_CLASS}{BLANK_CLASS}/]+$"
PATTERN_WORDS[KEY_QUERY] = "may not contain blanks, control characters or '/'"

#: At most this many items of one kind in the live list, and events in one history.
LIVE_MAX = 200
HISTORY_MAX = 300
CHAINS_MAX = 2000

#: The modules whose labelled enums the pages may show.
LABELLED = (
    plan_models,
    drill_models,
    typhoon_models,
    disaster_models,
    fanout_models,
    warning_models,
    unit_models,
)


def _labels() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for module in LABELLED:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, LabelledEnum) and cls is not LabelledEnum:
                labels = getattr(cls, "__labels__", None)
                if labels:
                    found[name] = dict(labels)
    return found


def _label(enum: type[LabelledEnum], value: Any) -> str:
    try:
        return enum(value).label
    except ValueError:
        return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(mapping: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in dict(mapping).items()}


@router.get("/api/room/labels")
async def room_labels(_: Viewer) -> dict[str, dict[str, str]]:
    """Every enum the pages show, value → its Chinese label (``PlanStage``, ``DrillType`` …)."""
    return _labels()


@router.get("/api/room/live")
async def room_live(_: Viewer, s: S) -> dict[str, Any]:
    """What is in hand, by kind, newest first (at most 200 of each), each with its stage in
    Chinese: plans not yet in force (or overdue), drills not closed, open typhoons and other
    events, 叫应 still calling, disaster processes not closed."""
    found = await room_store.live(s.engine, LIVE_MAX)
    plan_rows = [_row(r) for r in found["plans"]]
    drill_rows = [_row(r) for r in found["drills"]]
    event_rows = [_event_line(r) for r in found["typhoons"]]
    warning_rows = [_row(r) for r in found["warnings"]]
    disaster_rows = [_row(r) for r in found["disasters"]]
    for p in plan_rows:
        p["stage_label"] = _label(plan_models.PlanStage, p["stage"])
        p["versions"] = _versions(p)
    for d in drill_rows:
        d["stage_label"] = _label(drill_models.DrillStage, d["stage"])
        d["type_label"] = _label(drill_models.DrillType, d["drill_type"])
    for d in disaster_rows:
        d["stage_label"] = "灾情稳定，待核报" if d["stable_on"] else "报送中"
    return {
        "bureau": s.settings.bureau_name,
        "district": s.settings.bureau_district,
        "plans": plan_rows,
        "drills": drill_rows,
        "typhoons": event_rows,
        "warnings": warning_rows,
        "disasters": disaster_rows,
    }


def _versions(plan: dict[str, Any]) -> str:
    """``v1 施行中，v2 编制中`` while a revision is drafted; else ``v2 施行中``."""
    stage = _label(plan_models.PlanStage, plan["stage"])
    version, in_force = plan["version"], plan.get("in_force_version")
    if in_force and in_force != version:
        return f"v{in_force} 施行中，v{version} {stage}"
    return f"v{version} {stage}"


def _event_line(r: Any) -> dict[str, Any]:
    """A typhoon (or another hazard's event) with its level, warning and status in Chinese."""
    row = _row(r)
    hazard = row.get("hazard") or "typhoon"
    return {
        "event_id": row["event_id"],
        "name": row["name"],
        "year": row["year"],
        "number": row.get("number") or None,
        "code": row.get("code"),
        "district": row["district"],
        "hazard": hazard,
        "hazard_label": _label(typhoon_models.Hazard, hazard),
        "status": row["status"],
        "status_label": _label(typhoon_models.TyphoonStatus, row["status"]),
        "level": row["level"],
        "level_label": _label(typhoon_models.ResponseLevel, row["level"]),
        "warning": row["warning"],
        "warning_label": _label(typhoon_models.WarningColour, row["warning"]),
        "opened_at": row["opened_at"],
        "closed_at": row.get("closed_at"),
    }


@router.get("/api/room/typhoons")
async def room_typhoons(
    _: Viewer,
    s: S,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Typhoons and other events, newest first, with level, warning and status in Chinese."""
    return [_event_line(r) for r in await room_store.typhoon_events(s.engine, status, limit)]


@router.get("/api/room/history")
async def room_history(
    _: Viewer,
    s: S,
    kind: Literal["plan", "drill", "typhoon", "warning", "disaster"],
    key: Annotated[str, Query(min_length=1, max_length=64, pattern=KEY_QUERY)],
) -> list[dict[str, Any]]:
    """A workflow's events as its projection recorded them, newest first (at most 300). A 叫应
    fanned out by 街镇 keeps no event log: its answers are its history."""
    return [_row(e) for e in await room_store.history(s.engine, kind, key, HISTORY_MAX)]


@router.get("/api/room/warnings/{warning_id}/chains")
async def room_warning_chains(warning_id: Code, who: Viewer, s: S) -> list[dict[str, Any]]:
    """A 叫应's call chains by 街镇 and unit: who is called, in order, the status in Chinese,
    the answer and 未送达 (phones masked below duty officer)."""
    chains = [_row(r) for r in await room_store.warning_chains(s.engine, warning_id, CHAINS_MAX)]
    for c in chains:
        c["status_label"] = _label(fanout_models.ChainStatus, c["status"])
        c["persons"] = [_person(who, p) for p in c["persons"] or []]
        c["current_person"] = who.person_id(c["current_person"])
        c["acked_by"] = who.person_id(c["acked_by"])
    return chains


def _person(who: Caller, person: dict[str, Any]) -> dict[str, Any]:
    phone = person.get("phone")
    return {
        **person,
        "phone": phone if who.sees_phones or not phone else mask_phone(phone),
        "person_id": who.person_id(person.get("person_id")),
    }


@router.get("/api/room/reporter")
async def room_reporter(
    who: Reporter,
    s: S,
    event: Annotated[str | None, Query(pattern=EVENT_ID)] = None,
) -> dict[str, Any]:
    """A reporter's units (as the register names them), the open events they report to, and
    each unit's last report to each (its figures, when, and how it was received). A duty
    officer or above has no units of their own: they name one with ``unit`` on the form.

    Each event's ``shelters``: the shelters of the caller's units open in it (another unit's
    never), each with its capacity and its last occupancy report (``occupancy``, ``as_of``,
    ``reported_by``, ``status``; null before the first)."""
    found, lines, by_event, last = await room_store.reporter(s.engine, list(who.units), event)
    units = [_row(u) for u in found]
    events = [_event_line(r) for r in lines]
    latest = {
        event_id: {unit: _row(row) for unit, row in rows.items()} for event_id, rows in last.items()
    }
    shelters = await room_store.reporter_shelters(
        s.engine, [u["code"] for u in found], [e["event_id"] for e in events]
    )
    for e in events:
        e["units"] = by_event.get(e["event_id"], [])
        e["last"] = latest.get(e["event_id"], {})
        e["shelters"] = [_row(r) for r in shelters.get(e["event_id"], [])]
    if event and not events:
        raise HTTPException(404, f"no open typhoon or event {event}")
    return {"person": who.person, "role": who.role, "units": units, "events": events}
