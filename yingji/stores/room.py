"""What the duty room's page and the reporter's page read, as the projections hold it.

Every function answers rows as plain dicts of the columns' values (dates and times as Python
objects: the console turns them into text); labels and masking are the console's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.typhoon import FIGURE_FIELDS

#: Kind → (table, key column, the columns of an event).
HISTORIES = {
    "plan": ("plan_event", "plan_code", "seq, at, kind, actor, stage_from, stage_to, version"),
    "drill": ("drill_event", "drill_code", "seq, at, kind, actor, stage"),
    "typhoon": ("typhoon_log", "event_id", "seq, at, kind"),
    "disaster": ("disaster_event", "disaster_code", "seq, at, kind"),
    "warning": ("warning_event", "warning_id", "seq, at, kind, person"),
}

_LIVE_PLANS = text(
    "SELECT code, name, stage, version, in_force_version, filing_overdue, "
    "evaluation_overdue, updated_at FROM plan "
    "WHERE stage NOT IN ('withdrawn', 'abolished') "
    "AND (stage <> 'in_force' OR filing_overdue OR evaluation_overdue) "
    "ORDER BY updated_at DESC LIMIT :n"
)
_LIVE_DRILLS = text(
    "SELECT code, name, drill_type, stage, scheduled_on, evaluation_overdue, "
    "overdue_actions FROM drill WHERE stage NOT IN ('closed', 'cancelled') "
    "ORDER BY scheduled_on, code LIMIT :n"
)
_LIVE_EVENTS = text(
    "SELECT * FROM typhoon_event WHERE status = 'open' ORDER BY opened_at DESC LIMIT :n"
)
_LIVE_WARNINGS = text(
    "SELECT warning_id, title, district, issued_at, targets, answered, not_reached, "
    "call_response_rate FROM warning WHERE NOT finished "
    "ORDER BY issued_at DESC LIMIT :n"
)
_LIVE_DISASTERS = text(
    "SELECT code, name, hazard, district, occurred_at, stable_on, reports, "
    "late_reports, overdue_slots FROM disaster WHERE NOT closed "
    "ORDER BY occurred_at DESC LIMIT :n"
)


def _dicts(result: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in result.mappings()]


async def live(engine: AsyncEngine, limit: int) -> dict[str, list[dict[str, Any]]]:
    """What is in hand, by kind (``plans``, ``drills``, ``typhoons``, ``warnings``,
    ``disasters``), at most ``limit`` of each: plans not yet in force (or overdue), drills not
    closed, open typhoons and other events, 叫应 still calling, disaster processes not closed."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for kind, sql in (
            ("plans", _LIVE_PLANS),
            ("drills", _LIVE_DRILLS),
            ("typhoons", _LIVE_EVENTS),
            ("warnings", _LIVE_WARNINGS),
            ("disasters", _LIVE_DISASTERS),
        ):
            found[kind] = _dicts(await conn.execute(sql, {"n": limit}))
    return found


async def typhoon_events(
    engine: AsyncEngine, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """Typhoons and other events (of ``status``, or all), newest first."""
    where = "WHERE status = :status" if status else ""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT * FROM typhoon_event {where} ORDER BY opened_at DESC LIMIT :n"),
            {"status": status, "n": limit},
        )
        return _dicts(rows)


async def history(engine: AsyncEngine, kind: str, key: str, limit: int) -> list[dict[str, Any]]:
    """A workflow's events as its projection recorded them, newest first (at most ``limit``).
    A 叫应 fanned out by 街镇 keeps no event log: its answers, then its issue, are its history."""
    table, column, columns = HISTORIES[kind]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT {columns}, detail FROM {table} WHERE {column} = :k "
                "ORDER BY seq DESC LIMIT :n"
            ),
            {"k": key, "n": limit},
        )
        events = _dicts(rows)
        if kind == "warning" and not events:
            events = await _fanout_history(conn, key, limit)
    return events


async def _fanout_history(
    conn: AsyncConnection, warning_id: str, limit: int
) -> list[dict[str, Any]]:
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
        {"w": warning_id, "n": limit},
    )
    events = [
        {
            "at": r["at"],
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
                "at": issued["issued_at"],
                "kind": "issued",
                "person": issued["issued_by"],
                "detail": {"title": issued["title"]},
            }
        )
    return events


async def warning_chains(engine: AsyncEngine, warning_id: str, limit: int) -> list[dict[str, Any]]:
    """A 叫应's call chains by 街镇 and unit (at most ``limit``)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT chain_id, town_code, town_name, unit_code, unit_name, role, persons, "
                "status, current_person, attempt, acked_at, acked_by, response_seconds, "
                "undelivered FROM warning_chain WHERE warning_id = :w "
                "ORDER BY town_code, unit_code, role LIMIT :n"
            ),
            {"w": warning_id, "n": limit},
        )
        return _dicts(rows)


async def reporter(
    engine: AsyncEngine, units: list[str], event: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[str]], dict[str, Any]]:
    """A reporter's units (by code or name, as the register names them), the open events (or
    the open ``event``), which of the units report to each event, and each unit's last report
    to each event (``{event_id: {unit_code: row}}``)."""
    async with engine.connect() as conn:
        found = (
            _dicts(
                await conn.execute(
                    text(
                        "SELECT u.code, u.name, u.level, u.district, "
                        "p.name AS parent_name FROM admin_unit u "
                        "LEFT JOIN admin_unit p ON p.code = u.parent_code "
                        "WHERE u.code = ANY(:u) OR u.name = ANY(:u) ORDER BY u.code"
                    ),
                    {"u": units},
                )
            )
            if units
            else []
        )
        codes = [u["code"] for u in found]
        where = "e.status = 'open'" + (" AND e.event_id = :event" if event else "")
        events = _dicts(
            await conn.execute(
                text(f"SELECT e.* FROM typhoon_event e WHERE {where} ORDER BY opened_at DESC"),
                {"event": event},
            )
        )
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
            row = dict(r)
            latest.setdefault(row.pop("event_id"), {})[row["unit_code"]] = row
    return found, events, by_event, latest


_REPORTER_SHELTERS = text(
    """
    SELECT t.event_id, t.shelter_code AS code, coalesce(s.name, t.shelter_code) AS name,
        s.unit_code, u.name AS unit_name, t.capacity, t.opened_at,
        r.occupancy, r.as_of, r.reported_by, r.status
    FROM typhoon_shelter t
    JOIN shelter s ON s.code = t.shelter_code
    LEFT JOIN admin_unit u ON u.code = s.unit_code
    LEFT JOIN LATERAL (
        SELECT occupancy, as_of, reported_by, status FROM shelter_report r
        WHERE r.event_id = t.event_id AND r.shelter_code = t.shelter_code
        ORDER BY r.as_of DESC, r.arrival DESC LIMIT 1
    ) r ON true
    WHERE t.event_id = ANY(:e) AND t.closed_at IS NULL AND s.unit_code = ANY(:u)
    ORDER BY t.event_id, s.unit_code, t.shelter_code
    """
)


async def reporter_shelters(
    engine: AsyncEngine, units: list[str], events: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The shelters of ``units`` (unit codes) open in each of ``events``
    (``{event_id: [row]}``): the shelter's code, name, unit, capacity as opened and its last
    occupancy report, read from the intake itself (the report just sent, not the projection a
    batch behind it): ``occupancy``, ``as_of``, ``reported_by`` and ``status``, None when none.

    Only the shelters whose unit in the register is one of ``units``: those its reporter may
    report for (as ``require_units`` lets them), never another unit's."""
    if not units or not events:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(_REPORTER_SHELTERS, {"e": events, "u": units})
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows.mappings():
            row = dict(r)
            found.setdefault(row.pop("event_id"), []).append(row)
    return found
