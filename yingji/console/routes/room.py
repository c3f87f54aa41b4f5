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
from sqlalchemy import text

from models import disaster as disaster_models
from models import drill as drill_models
from models import fanout as fanout_models
from models import plan as plan_models
from models import typhoon as typhoon_models
from models import unit as unit_models
from models import warning as warning_models
from models.common import LabelledEnum
from models.typhoon import EVENT_ID, FIGURE_FIELDS
from yingji.console.deps import Caller, Code, Reporter, S, Viewer, mask_phone

router = APIRouter()

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
    async with s.engine.connect() as conn:
        plans = await conn.execute(
            text(
                "SELECT code, name, stage, version, in_force_version, filing_overdue, "
                "evaluation_overdue, updated_at FROM plan "
                "WHERE stage NOT IN ('withdrawn', 'abolished') "
                "AND (stage <> 'in_force' OR filing_overdue OR evaluation_overdue) "
                "ORDER BY updated_at DESC LIMIT :n"
            ),
            {"n": LIVE_MAX},
        )
        drills = await conn.execute(
            text(
                "SELECT code, name, drill_type, stage, scheduled_on, evaluation_overdue, "
                "overdue_actions FROM drill WHERE stage NOT IN ('closed', 'cancelled') "
                "ORDER BY scheduled_on, code LIMIT :n"
            ),
            {"n": LIVE_MAX},
        )
        events = await conn.execute(
            text(
                "SELECT * FROM typhoon_event WHERE status = 'open' ORDER BY opened_at DESC LIMIT :n"
            ),
            {"n": LIVE_MAX},
        )
        warnings = await conn.execute(
            text(
                "SELECT warning_id, title, district, issued_at, targets, answered, not_reached, "
                "call_response_rate FROM warning WHERE NOT finished "
                "ORDER BY issued_at DESC LIMIT :n"
            ),
            {"n": LIVE_MAX},
        )
        disasters = await conn.execute(
            text(
                "SELECT code, name, hazard, district, occurred_at, stable_on, reports, "
                "late_reports, overdue_slots FROM disaster WHERE NOT closed "
                "ORDER BY occurred_at DESC LIMIT :n"
            ),
            {"n": LIVE_MAX},
        )
        plan_rows = [_row(r) for r in plans.mappings()]
        drill_rows = [_row(r) for r in drills.mappings()]
        event_rows = [_event_line(r) for r in events.mappings()]
        warning_rows = [_row(r) for r in warnings.mappings()]
        disaster_rows = [_row(r) for r in disasters.mappings()]
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
    where = "WHERE status = :status" if status else ""
    async with s.engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT * FROM typhoon_event {where} ORDER BY opened_at DESC LIMIT :n"),
            {"status": status, "n": limit},
        )
        return [_event_line(r) for r in rows.mappings()]


#: Kind → (table, key column, the columns of an event).
HISTORIES = {
    "plan": ("plan_event", "plan_code", "seq, at, kind, actor, stage_from, stage_to, version"),
    "drill": ("drill_event", "drill_code", "seq, at, kind, actor, stage"),
    "typhoon": ("typhoon_log", "event_id", "seq, at, kind"),
    "disaster": ("disaster_event", "disaster_code", "seq, at, kind"),
    "warning": ("warning_event", "warning_id", "seq, at, kind, person"),
}


@router.get("/api/room/history")
async def room_history(
    _: Viewer,
    s: S,
    kind: Literal["plan", "drill", "typhoon", "warning", "disaster"],
    key: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[^\s/\x00-\x1f]+$")],
) -> list[dict[str, Any]]:
    """A workflow's events as its projection recorded them, newest first (at most 300). A 叫应
    fanned out by 街镇 keeps no event log: its answers are its history."""
    table, column, columns = HISTORIES[kind]
    async with s.engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT {columns}, detail FROM {table} WHERE {column} = :k "
                "ORDER BY seq DESC LIMIT :n"
            ),
            {"k": key, "n": HISTORY_MAX},
        )
        events = [_row(r) for r in rows.mappings()]
        if kind == "warning" and not events:
            events = await _fanout_history(conn, key)
    return events


async def _fanout_history(conn: Any, warning_id: str) -> list[dict[str, Any]]:
    issued = (
        (
            await conn.execute(
                text("SELECT issued_at, issued_by, title FROM warning WHERE warning_id = :w"),
                {"w": warning_id},
            )
        )
        .mappings()
        .first()
    )
    rows = await conn.execute(
        text(
            "SELECT c.acked_at AS at, c.status, c.unit_name, c.role, c.response_seconds, "
            "p.name AS person FROM warning_chain c LEFT JOIN warning_person p "
            "ON p.warning_id = c.warning_id AND p.person_id = c.acked_by "
            "WHERE c.warning_id = :w AND c.acked_at IS NOT NULL "
            "ORDER BY c.acked_at DESC LIMIT :n"
        ),
        {"w": warning_id, "n": HISTORY_MAX},
    )
    events = [
        {
            "at": _plain(r["at"]),
            "kind": r["status"],
            "person": r["person"],
            "detail": {
                "unit": r["unit_name"],
                "role": r["role"],
                "response_seconds": r["response_seconds"],
            },
        }
        for r in rows.mappings()
    ]
    if issued is not None:
        events.append(
            {
                "at": _plain(issued["issued_at"]),
                "kind": "issued",
                "person": issued["issued_by"],
                "detail": {"title": issued["title"]},
            }
        )
    return events


@router.get("/api/room/warnings/{warning_id}/chains")
async def room_warning_chains(warning_id: Code, who: Viewer, s: S) -> list[dict[str, Any]]:
    """A 叫应's call chains by 街镇 and unit: who is called, in order, the status in Chinese,
    the answer and 未送达 (phones masked below duty officer)."""
    async with s.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT chain_id, town_code, town_name, unit_code, unit_name, role, persons, "
                "status, current_person, attempt, acked_at, acked_by, response_seconds, "
                "undelivered FROM warning_chain WHERE warning_id = :w "
                "ORDER BY town_code, unit_code, role LIMIT :n"
            ),
            {"w": warning_id, "n": CHAINS_MAX},
        )
        chains = [_row(r) for r in rows.mappings()]
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
    officer or above has no units of their own: they name one with ``unit`` on the form."""
    async with s.engine.connect() as conn:
        mine = list(who.units)
        units = (
            [
                _row(r)
                for r in (
                    await conn.execute(
                        text(
                            "SELECT u.code, u.name, u.level, u.district, "
                            "p.name AS parent_name FROM admin_unit u "
                            "LEFT JOIN admin_unit p ON p.code = u.parent_code "
                            "WHERE u.code = ANY(:u) OR u.name = ANY(:u) ORDER BY u.code"
                        ),
                        {"u": mine},
                    )
                ).mappings()
            ]
            if mine
            else []
        )
        codes = [u["code"] for u in units]
        where = "e.status = 'open'" + (" AND e.event_id = :event" if event else "")
        events = [
            _event_line(r)
            for r in (
                await conn.execute(
                    text(f"SELECT e.* FROM typhoon_event e WHERE {where} ORDER BY opened_at DESC"),
                    {"event": event},
                )
            ).mappings()
        ]
        reporting = await conn.execute(
            text(
                "SELECT event_id, unit_code FROM typhoon_unit "
                "WHERE event_id = ANY(:e) AND unit_code = ANY(:u)"
            ),
            {"e": [e["event_id"] for e in events], "u": codes},
        )
        by_event: dict[str, list[str]] = {}
        for r in reporting:
            by_event.setdefault(r.event_id, []).append(r.unit_code)
        last = await conn.execute(
            text(
                f"""
                SELECT DISTINCT ON (event_id, unit_code) event_id, unit_code, report_id,
                    as_of, received_at, status, reported_by, {", ".join(FIGURE_FIELDS)}
                FROM typhoon_report WHERE event_id = ANY(:e) AND unit_code = ANY(:u)
                ORDER BY event_id, unit_code, as_of DESC, arrival DESC
                """
            ),
            {"e": list(by_event), "u": codes},
        )
        latest: dict[str, dict[str, Any]] = {}
        for r in last.mappings():
            row = _row(r)
            latest.setdefault(row.pop("event_id"), {})[row["unit_code"]] = row
    for e in events:
        e["units"] = by_event.get(e["event_id"], [])
        e["last"] = latest.get(e["event_id"], {})
    if event and not events:
        raise HTTPException(404, f"no open typhoon or event {event}")
    return {"person": who.person, "role": who.role, "units": units, "events": events}
