"""Typhoon tallies in PostgreSQL: the report intake, the batch apply, the board projection.

The intake validates and stores each report once (keyed by event and report id) in a transaction
that holds a share lock on the event row, so a report is either in before the event closes or
rejected. The apply claims every unapplied report with the batch number the workflow chose,
recomputes the latest report of each unit it touched (by as-of time, then arrival), and sums.
Claiming by batch number rather than by a sequence cursor cannot miss a row that commits late,
and rerunning a batch (an activity retry) recomputes the same totals.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.common import CHINA_TZ
from models.drill import Notification
from models.typhoon import (
    FIGURE_FIELDS,
    ROUND_UNITS_NAMED,
    ROUNDS_KEPT,
    ActionKind,
    ActionRecord,
    ApplyResult,
    Hazard,
    InstructionLine,
    LevelRecord,
    Mismatch,
    OccupancyReport,
    OpenShelter,
    ReportReceipt,
    RoundCheck,
    RoundOpen,
    RoundRecord,
    RoundStatus,
    RoundUnit,
    ShelterLine,
    ShelterOccupancy,
    Totals,
    TownTotals,
    TyphoonBoard,
    TyphoonOpen,
    TyphoonProjection,
    UnitReport,
)
from yingji.core.errors import DomainRefusal
from yingji.core.tables import (
    AdminUnit,
    NotificationRow,
    ShelterReportRow,
    TyphoonLog,
    TyphoonReportRow,
)
from yingji.stores import officer as officer_store
from yingji.stores.projection import insert_once
from yingji.stores.unit import UnitError, resolve_in

_FIGS = ", ".join(FIGURE_FIELDS)
_SUMS = ", ".join(f"coalesce(sum({f}), 0) AS {f}" for f in FIGURE_FIELDS) + (
    ", coalesce(sum(greatest(relocated - returned, 0)), 0) AS staying"
)
#: Figures that only grow (紧急避险转移, 安置, 集中, 分散, 返回); the shelters open and the people
#: in them now rise and fall.
CUMULATIVE = ("pre_evacuated", "relocated", "centralized", "dispersed", "returned")


#: The peak of 在住 (sheltered now) as a fact: at each report time, the district's sum of each
#: unit's latest report as of that time (by as-of time, then arrival), a corrected report left
#: out; the maximum, at the earliest time it was reached. It depends on the reports only, not on
#: how they fell into apply batches, and a correction lowers it.
PEAK = """
    WITH effective AS (
        SELECT r.unit_code, r.as_of, r.arrival, r.sheltered_now
        FROM typhoon_report r
        WHERE r.event_id = :e AND r.applied_batch IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM typhoon_report c
              WHERE c.event_id = r.event_id AND c.corrects = r.report_id
                AND c.applied_batch IS NOT NULL)
    ), steps AS (
        SELECT as_of, sheltered_now - coalesce(lag(sheltered_now) OVER (
            PARTITION BY unit_code ORDER BY as_of, arrival), 0) AS delta
        FROM effective
    ), over_time AS (
        SELECT as_of, sum(sum(delta)) OVER (ORDER BY as_of) AS total
        FROM steps GROUP BY as_of
    )
    SELECT total, as_of FROM over_time WHERE total > 0 ORDER BY total DESC, as_of LIMIT 1
"""


def _local(at: Any) -> Any:
    """A time as the bureau reads it (Asia/Shanghai, +08:00)."""
    return at.astimezone(CHINA_TZ).isoformat() if isinstance(at, datetime) else at


#: The longest shelter code the tables hold.
SHELTER_CODE_MAX = 32


class ReportRejected(DomainRefusal):
    """A report that is not stored; the message names the field and the reason."""


class EventUnknown(ReportRejected):
    """The event a report or a step names is not open (or does not exist): the console's 404."""

    status = 404


# -- registration --


async def add_units(engine: AsyncEngine, units: list[dict[str, Any]]) -> int:
    """Add administrative units (code, name, level, parent_code, district); existing codes are
    kept as they are. Unchecked and fast (for the loader, benchmarks and tests): people import
    the register through ``yingji.stores.unit``, which checks every line. A unit that would take
    the name of another under the same parent is refused, not dropped."""
    if not units:
        return 0
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(AdminUnit.__table__)
                .values(units)
                .on_conflict_do_nothing(index_elements=["code"])
            )
    except IntegrityError as exc:
        if "ck_admin_unit_level" in str(exc.orig):
            raise UnitError(["units: a level is not one of city, district, town, village"]) from exc
        raise UnitError(
            ["units: a unit has the name of another registered under the same parent"]
        ) from exc
    return result.rowcount


async def register(engine: AsyncEngine, data: TyphoonOpen, workflow_id: str) -> tuple[int, int]:
    """Create the event row and its reporting units (idempotent). Returns (units, towns).

    The reporting units are the district's 村居, and the 街镇 that have no 村居 registered; a
    村居 counts towards the 街镇 above it (towards itself if it has none).
    """
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, district,
                    status, level, warning, opened_at, hazard, code)
                VALUES (:e, :w, :y, :n, :name, :d, 'open', :level, :warning,
                    coalesce(CAST(:opened_at AS timestamptz), now()), :hazard, :code)
                ON CONFLICT (event_id) DO NOTHING
                """
            ),
            {
                "e": data.event_id,
                "w": workflow_id,
                "y": data.year,
                "n": data.number or 0,  # another hazard's event has a code, not a number
                "hazard": data.hazard.value,
                "code": data.code,
                "name": data.name,
                "d": data.district,
                "level": data.level.value,
                "warning": data.warning.value,
                "opened_at": data.at,  # a past event keeps its time; a live one opens now
            },
        )
        # A repeated open of the same event (a retry) goes on; one that names another district,
        # or is another workflow's, is refused before it registers a single unit.
        owner = (
            await conn.execute(
                text("SELECT district, workflow_id FROM typhoon_event WHERE event_id = :e"),
                {"e": data.event_id},
            )
        ).one()
        if (owner.district, owner.workflow_id) != (data.district, workflow_id):
            raise ReportRejected(
                f"event_id: {data.hazard.label} {data.event_id} is already open for "
                f"{owner.district}; nothing was changed"
            )
        await conn.execute(
            text(
                """
                INSERT INTO typhoon_unit (event_id, unit_code, town_code)
                SELECT :e, u.code,
                    CASE WHEN u.level = 'village' AND p.level = 'town' THEN p.code ELSE u.code END
                FROM admin_unit u LEFT JOIN admin_unit p ON p.code = u.parent_code
                WHERE u.district = :d
                  AND (u.level = 'village'
                       OR u.level = 'town' AND NOT EXISTS (
                           SELECT 1 FROM admin_unit v WHERE v.parent_code = u.code))
                ON CONFLICT DO NOTHING
                """
            ),
            {"e": data.event_id, "d": data.district},
        )
        counts = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT town_code) FROM typhoon_unit "
                    "WHERE event_id = :e"
                ),
                {"e": data.event_id},
            )
        ).one()
    return int(counts[0]), int(counts[1])


# -- intake --


def _row(report: UnitReport, town: str, status: str) -> dict[str, Any]:
    return {
        "event_id": report.event_id,
        "report_id": report.report_id,
        "unit_code": report.unit,
        "town_code": town,
        "as_of": report.as_of,
        **report.figures.model_dump(),
        "reported_by": report.reported_by,
        "corrects": report.corrects,
        "reason": report.reason,
        "status": status,
        "received_at": datetime.now(UTC),
    }


_COMPARED = ("unit_code", "as_of", *FIGURE_FIELDS, "corrects", "reason")


_FAST_INTAKE = text(
    f"""
    WITH ev AS (
        SELECT status FROM typhoon_event WHERE event_id = :event_id FOR SHARE
    ), unit AS (
        SELECT town_code FROM typhoon_unit WHERE event_id = :event_id AND unit_code = :unit_code
    ), prev AS (
        SELECT as_of AS latest, {", ".join(CUMULATIVE)} FROM typhoon_report
        WHERE event_id = :event_id AND unit_code = :unit_code
        ORDER BY as_of DESC, arrival DESC LIMIT 1
    ), cap AS (
        SELECT count(*) AS n, coalesce(sum(capacity), 0) AS capacity FROM typhoon_shelter
        WHERE event_id = :event_id AND unit_code = :unit_code AND closed_at IS NULL
    ), ins AS (
        INSERT INTO typhoon_report (event_id, report_id, unit_code, town_code, as_of, {_FIGS},
            reported_by, status, received_at)
        SELECT :event_id, :report_id, :unit_code, unit.town_code, :as_of,
            {", ".join(":" + f for f in FIGURE_FIELDS)}, :reported_by,
            CASE WHEN prev.latest > :as_of THEN 'late' ELSE 'accepted' END, now()
        FROM ev CROSS JOIN unit CROSS JOIN cap LEFT JOIN prev ON true
        WHERE ev.status = 'open'
          -- checked by the careful path, which explains: a figure below the unit's latest
          -- (a report that becomes its latest), more in shelters than its open ones hold
          AND (prev.latest IS NULL OR prev.latest > :as_of OR (
              {" AND ".join(f":{f} >= prev.{f}" for f in CUMULATIVE)}))
          AND (cap.n = 0 OR CAST(:sheltered_now AS integer) <= cap.capacity)
        ON CONFLICT DO NOTHING
        RETURNING status
    )
    SELECT (SELECT status FROM ins) AS inserted, (SELECT latest FROM prev) AS latest
    """
)


async def submit(engine: AsyncEngine, report: UnitReport) -> ReportReceipt:
    """Store one report, once. Raises ``ReportRejected`` for anything it will not store.

    The unit may be named by its code or by its name (unique in the district): the report is
    stored under the code, so a report sent as ``南翔镇`` and one sent as ``JD-04`` are the same
    unit's.

    The common case (a new, plain report for an open event and a unit named by its code) is one
    statement in one round trip; anything else — a unit named by its name, a correction, a
    reused id, a closed event, an unknown unit — takes the careful path below, which explains
    itself.
    """
    if not report.corrects and not report.reason:
        params = {
            "event_id": report.event_id,
            "report_id": report.report_id,
            "unit_code": report.unit,
            "as_of": report.as_of,
            "reported_by": report.reported_by,
            **report.figures.model_dump(),
        }
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(_FAST_INTAKE, params)).one()
        if row.inserted is not None:
            return _receipt(report, row.inserted, row.latest)
    return await _submit_carefully(engine, report)


def _receipt(report: UnitReport, status: str, latest: Any) -> ReportReceipt:
    messages = {
        "accepted": "accepted",
        "late": f"accepted late: the unit already has figures as of {_local(latest)}; "
        "kept on record",
        "correction": f"correction of {report.corrects} accepted",
    }
    return ReportReceipt(report_id=report.report_id, status=status, message=messages[status])


async def _submit_carefully(engine: AsyncEngine, report: UnitReport) -> ReportReceipt:
    async with engine.begin() as conn:
        event = (
            await conn.execute(
                text(
                    "SELECT status, name, district FROM typhoon_event WHERE event_id = :e FOR SHARE"
                ),
                {"e": report.event_id},
            )
        ).first()
        if event is None:
            raise EventUnknown(f"event_id: no typhoon {report.event_id} is open")
        if event.status != "open":
            # A report it already holds, sent again (a phone retrying after the close), is a
            # duplicate as before the close, not refused.
            existing = await _existing(conn, report)
            if existing is not None:
                if report.unit != existing["unit_code"]:
                    named = await resolve_in(conn, event.district, [report.unit])
                    code = named.codes.get(report.unit)
                    if code is not None:
                        report = report.model_copy(update={"unit": code})
                return _duplicate(report, existing)
            raise ReportRejected(
                f"event_id: typhoon {report.event_id} ({event.name}) is closed; "
                "reports are no longer accepted"
            )
        town = await _town_of(conn, report.event_id, report.unit)
        if town is None:
            named = await resolve_in(conn, event.district, [report.unit])
            code = named.codes.get(report.unit)
            if report.unit in named.ambiguous:
                raise ReportRejected(named.ambiguous[report.unit])
            if code is not None and code != report.unit:
                report = report.model_copy(update={"unit": code})
                town = await _town_of(conn, report.event_id, code)
            if town is None:
                raise await _unknown_unit(conn, report, event.district)

        existing = await _existing(conn, report)
        if existing is not None:
            return _duplicate(report, existing)

        latest = (
            await conn.execute(
                text(
                    "SELECT max(as_of) FROM typhoon_report WHERE event_id = :e AND unit_code = :u"
                ),
                {"e": report.event_id, "u": report.unit},
            )
        ).scalar()
        status = "accepted"
        if report.corrects:
            await _check_correction(conn, report)
            status = "correction"
        elif latest is not None and report.as_of < latest:
            status = "late"
        elif not report.reason:
            await _check_growth(conn, report)
        await _check_capacity(conn, report)
        stmt = insert(TyphoonReportRow.__table__).values(_row(report, town, status))
        result = await conn.execute(stmt.on_conflict_do_nothing().returning(text("arrival")))
        if result.first() is None:  # a concurrent twin won the race
            existing = await _existing(conn, report)
            assert existing is not None
            return _duplicate(report, existing)
    return _receipt(report, status, latest)


async def _town_of(conn: AsyncConnection, event_id: str, unit: str) -> str | None:
    return (
        await conn.execute(
            text("SELECT town_code FROM typhoon_unit WHERE event_id = :e AND unit_code = :u"),
            {"e": event_id, "u": unit},
        )
    ).scalar()


async def _existing(conn: AsyncConnection, report: UnitReport) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                text(
                    f"SELECT {', '.join(_COMPARED)} FROM typhoon_report "
                    "WHERE event_id = :e AND report_id = :r"
                ),
                {"e": report.event_id, "r": report.report_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _duplicate(report: UnitReport, existing: dict[str, Any]) -> ReportReceipt:
    sent = {
        "unit_code": report.unit,
        "as_of": report.as_of,
        **report.figures.model_dump(),
        "corrects": report.corrects,
        "reason": report.reason,
    }
    differing = [k for k in _COMPARED if existing[k] != sent[k]]
    if differing:
        raise ReportRejected(
            f"report_id: {report.report_id} was already used for a different report "
            f"(differs in {', '.join(differing)}); use a new report id, or send a correction"
        )
    return ReportReceipt(
        report_id=report.report_id, status="duplicate", message="duplicate: already recorded"
    )


async def _unknown_unit(conn: AsyncConnection, report: UnitReport, district: str) -> ReportRejected:
    villages = (
        await conn.execute(
            text("SELECT count(*) FROM admin_unit WHERE parent_code = :u"), {"u": report.unit}
        )
    ).scalar()
    if villages:
        return ReportRejected(
            f"unit: '{report.unit}' reports through its {villages} 村居; "
            "send each 村居's figures instead"
        )
    unknown = ReportRejected(
        f"unit: '{report.unit}' is not a reporting unit of {district} for this typhoon"
    )
    unknown.status = 404
    return unknown


async def _check_growth(conn: AsyncConnection, report: UnitReport) -> None:
    """Cumulative figures only grow: a report that becomes the unit's latest may not have a
    figure below the latest one, unless it is a correction or gives a reason."""
    prev = (
        (
            await conn.execute(
                text(
                    f"SELECT report_id, as_of, {', '.join(CUMULATIVE)} FROM typhoon_report "
                    "WHERE event_id = :e AND unit_code = :u ORDER BY as_of DESC, arrival DESC "
                    "LIMIT 1"
                ),
                {"e": report.event_id, "u": report.unit},
            )
        )
        .mappings()
        .first()
    )
    if prev is None:
        return
    for f in CUMULATIVE:
        mine = getattr(report.figures, f)
        if mine < prev[f]:
            raise ReportRejected(
                f"figures.{f}: {mine} is below the unit's latest {prev[f]} (report "
                f"{prev['report_id']}, as of {prev['as_of'].isoformat()}); cumulative figures "
                "only grow: send a correction (corrects, reason) or give a reason"
            )


async def _check_capacity(conn: AsyncConnection, report: UnitReport) -> None:
    """The people a unit has in shelters now fit in the shelters open for it, if it has any."""
    cap = (
        await conn.execute(
            text(
                "SELECT count(*) AS n, coalesce(sum(capacity), 0) AS capacity "
                "FROM typhoon_shelter WHERE event_id = :e AND unit_code = :u AND closed_at IS NULL"
            ),
            {"e": report.event_id, "u": report.unit},
        )
    ).one()
    if cap.n and report.figures.sheltered_now > cap.capacity:
        raise ReportRejected(
            f"figures.sheltered_now: {report.figures.sheltered_now} in shelters, but the "
            f"{cap.n} shelter(s) open for {report.unit} hold {cap.capacity}"
        )


async def _check_correction(conn: AsyncConnection, report: UnitReport) -> None:
    target = (
        await conn.execute(
            text(
                "SELECT unit_code, as_of FROM typhoon_report WHERE event_id = :e AND report_id = :r"
            ),
            {"e": report.event_id, "r": report.corrects},
        )
    ).first()
    if target is None:
        raise ReportRejected(f"corrects: no report {report.corrects} to correct")
    if target.unit_code != report.unit:
        raise ReportRejected(
            f"corrects: report {report.corrects} is from {target.unit_code}, not {report.unit}"
        )
    if report.as_of < target.as_of:
        raise ReportRejected(
            f"as_of: a correction cannot be older than the report it corrects ({target.as_of})"
        )


# -- apply --


async def apply_batch(engine: AsyncEngine, event_id: str, batch: int) -> ApplyResult:
    params = {"e": event_id, "b": batch}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE typhoon_report SET applied_batch = :b "
                "WHERE event_id = :e AND applied_batch IS NULL"
            ),
            params,
        )
        applied = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM typhoon_report WHERE event_id = :e AND applied_batch = :b"
                ),
                params,
            )
        ).scalar()
        towns: list[TownTotals] = []
        if applied:
            await conn.execute(
                text(
                    f"""
                    INSERT INTO typhoon_unit_latest (event_id, unit_code, town_code, report_id,
                        as_of, {_FIGS})
                    SELECT DISTINCT ON (r.unit_code) r.event_id, r.unit_code, r.town_code,
                        r.report_id, r.as_of, {", ".join("r." + f for f in FIGURE_FIELDS)}
                    FROM typhoon_report r
                    WHERE r.event_id = :e AND r.applied_batch IS NOT NULL
                      AND r.unit_code IN (
                          SELECT unit_code FROM typhoon_report
                          WHERE event_id = :e AND applied_batch = :b)
                    ORDER BY r.unit_code, r.as_of DESC, r.arrival DESC
                    ON CONFLICT (event_id, unit_code) DO UPDATE SET
                        report_id = excluded.report_id, as_of = excluded.as_of,
                        {", ".join(f"{f} = excluded.{f}" for f in FIGURE_FIELDS)}
                    """
                ),
                params,
            )
            rows = (
                (
                    await conn.execute(
                        text(
                            f"""
                        SELECT l.town_code, min(a.name) AS town_name, {_SUMS},
                            count(*) AS units_reported
                        FROM typhoon_unit_latest l LEFT JOIN admin_unit a ON a.code = l.town_code
                        WHERE l.event_id = :e AND l.town_code IN (
                            SELECT town_code FROM typhoon_report
                            WHERE event_id = :e AND applied_batch = :b)
                        GROUP BY l.town_code ORDER BY l.town_code
                        """
                        ),
                        params,
                    )
                )
                .mappings()
                .all()
            )
            towns = [
                TownTotals(
                    town=r["town_code"], name=r["town_name"] or "", totals=Totals.of(dict(r))
                )
                for r in rows
            ]
        district_row = (
            (
                await conn.execute(
                    text(
                        f"SELECT {_SUMS}, count(*) AS units_reported "
                        "FROM typhoon_unit_latest WHERE event_id = :e"
                    ),
                    params,
                )
            )
            .mappings()
            .one()
        )
        district = Totals.of(dict(district_row))
        shelter_reports, shelters = await _apply_shelters(conn, params)
        peak = (await conn.execute(text(PEAK), params)).one_or_none()
        peak_sheltered, peak_at = (int(peak.total), peak.as_of) if peak else (0, None)
        # Upsert the totals row (never the event row: see TyphoonTotals).
        values = {**params, **district.model_dump(), "peak": peak_sheltered, "peak_at": peak_at}
        cols = (*FIGURE_FIELDS, "units_reported")
        await conn.execute(
            text(
                f"""
                INSERT INTO typhoon_totals AS t (event_id, {", ".join(cols)}, peak_sheltered,
                    peak_at, batches_applied)
                VALUES (:e, {", ".join(":" + c for c in cols)}, :peak, :peak_at, :b)
                ON CONFLICT (event_id) DO UPDATE SET
                    {", ".join(f"{c} = excluded.{c}" for c in cols)},
                    peak_at = excluded.peak_at,
                    peak_sheltered = excluded.peak_sheltered,
                    batches_applied = greatest(t.batches_applied, excluded.batches_applied)
                """
            ),
            values,
        )
    return ApplyResult(
        batch=batch,
        reports_applied=int(applied or 0),
        towns=towns,
        district=district,
        peak_sheltered=peak_sheltered,
        peak_at=peak_at,
        shelter_reports_applied=shelter_reports,
        shelters=shelters,
    )


async def _apply_shelters(
    conn: AsyncConnection, params: dict[str, Any]
) -> tuple[int, list[ShelterOccupancy]]:
    """The batch's shelter occupancy reports: claimed with the same batch number, each touched
    shelter's latest recomputed (by as-of time, then arrival)."""
    await conn.execute(
        text(
            "UPDATE shelter_report SET applied_batch = :b "
            "WHERE event_id = :e AND applied_batch IS NULL"
        ),
        params,
    )
    applied = (
        await conn.execute(
            text("SELECT count(*) FROM shelter_report WHERE event_id = :e AND applied_batch = :b"),
            params,
        )
    ).scalar()
    if not applied:
        return 0, []
    rows = await conn.execute(
        text(
            """
            INSERT INTO shelter_latest (event_id, shelter_code, report_id, as_of, occupancy)
            SELECT DISTINCT ON (r.shelter_code) r.event_id, r.shelter_code, r.report_id, r.as_of,
                r.occupancy
            FROM shelter_report r
            WHERE r.event_id = :e AND r.applied_batch IS NOT NULL
              AND r.shelter_code IN (
                  SELECT shelter_code FROM shelter_report
                  WHERE event_id = :e AND applied_batch = :b)
            ORDER BY r.shelter_code, r.as_of DESC, r.arrival DESC
            ON CONFLICT (event_id, shelter_code) DO UPDATE SET
                report_id = excluded.report_id, as_of = excluded.as_of,
                occupancy = excluded.occupancy
            RETURNING shelter_code, occupancy, as_of
            """
        ),
        params,
    )
    changed = sorted(
        (ShelterOccupancy(code=r.shelter_code, occupancy=r.occupancy, as_of=r.as_of) for r in rows),
        key=lambda x: x.code,
    )
    return int(applied), changed


async def close_intake(engine: AsyncEngine, event_id: str) -> bool:
    """Stop accepting reports: waits for in-flight intakes holding the share lock."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE typhoon_event SET status = 'closed', "
                "closed_at = coalesce(closed_at, now()) WHERE event_id = :e"
            ),
            {"e": event_id},
        )
        # The event's shelters close with it.
        await conn.execute(
            text(
                "UPDATE typhoon_shelter SET closed_at = now() "
                "WHERE event_id = :e AND closed_at IS NULL"
            ),
            {"e": event_id},
        )
    return result.rowcount == 1


async def project(engine: AsyncEngine, data: TyphoonProjection) -> int:
    """Level, warning and status onto the event row (newer snapshots only); the log, once."""
    b = data.board
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                UPDATE typhoon_event SET level = :level, warning = :warning, status = :status,
                    closed_at = :closed_at, last_seq = :seq
                WHERE event_id = :e AND last_seq < :seq
                """
            ),
            {
                "e": b.event_id,
                "level": b.level.value,
                "warning": b.warning.value,
                "status": b.status.value,
                "closed_at": b.closed_at,
                "seq": b.last_seq,
            },
        )
        written = await insert_once(
            conn,
            TyphoonLog.__table__,
            [
                {
                    "event_id": b.event_id,
                    "seq": e.seq,
                    "at": e.at,
                    "kind": e.kind,
                    "detail": _with_final_rounds(e.kind, e.detail, b),
                }
                for e in data.events
            ],
        )
        for i in data.instructions:
            await conn.execute(
                text(
                    """
                    INSERT INTO typhoon_instruction (event_id, instruction_id, text, issued_at,
                        due_at, towns, answered, overdue)
                    VALUES (:e, :i, :t, :issued, :due, :towns, :answered, CAST(:overdue AS jsonb))
                    ON CONFLICT (event_id, instruction_id) DO UPDATE SET
                        answered = excluded.answered, overdue = excluded.overdue
                    """
                ),
                {
                    "e": b.event_id,
                    "i": i.id,
                    "t": i.text,
                    "issued": i.issued_at,
                    "due": i.due_at,
                    "towns": i.towns,
                    "answered": i.answered,
                    "overdue": json.dumps(i.overdue, ensure_ascii=False),
                },
            )
    return written


#: The key of the close's log detail that keeps the rounds as the workflow ended them.
FINAL_ROUNDS = "final_rounds"


def _with_final_rounds(kind: str, detail: dict[str, Any], board: TyphoonBoard) -> dict[str, Any]:
    """The close's detail, with the rounds as the closed workflow keeps them for ever (its
    lists of late and missing units as of its last check of each). The intake cannot tell them
    again: a report that came after that check would move its unit from missing to late, and a
    check's units without an officer are not in the log. The board projected with the close is
    the final one (nothing changes a closed event)."""
    if kind != "closed" or board.status.value != "closed":
        return detail
    return {**detail, FINAL_ROUNDS: [r.model_dump(mode="json") for r in board.rounds]}


# -- reading --


async def season(
    engine: AsyncEngine, year: int, district: str, hazard: str = "typhoon"
) -> list[dict[str, Any]]:
    """The year's typhoons (or events of another hazard) in a district with their current (or
    final) totals."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"""
                SELECT e.event_id, e.number, e.code, e.hazard, e.name, e.status,
                    {", ".join(f"coalesce(t.{f}, 0) AS {f}" for f in FIGURE_FIELDS)},
                    coalesce(t.peak_sheltered, 0) AS peak_sheltered
                FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id
                WHERE e.year = :y AND e.district = :d AND e.hazard = :h
                ORDER BY e.number, e.code
                """
            ),
            {"y": year, "d": district, "h": hazard},
        )
        return [dict(r) for r in rows.mappings()]


async def unit_figures(engine: AsyncEngine, event_id: str, town: str | None = None) -> list[dict]:
    """Each reporting unit's effective figures (for the board's drill-down); ``town`` is a
    街镇's code or its name."""
    if town:
        async with engine.connect() as conn:
            district = (
                await conn.execute(
                    text("SELECT district FROM typhoon_event WHERE event_id = :e"), {"e": event_id}
                )
            ).scalar()
            town = (await resolve_in(conn, district, [town])).codes.get(town.strip(), town)
    query = f"""
        SELECT u.unit_code, u.town_code, l.report_id, l.as_of,
            {", ".join("l." + f for f in FIGURE_FIELDS)}
        FROM typhoon_unit u
        LEFT JOIN typhoon_unit_latest l ON l.event_id = u.event_id AND l.unit_code = u.unit_code
        WHERE u.event_id = :e {"AND u.town_code = :t" if town else ""}
        ORDER BY u.town_code, u.unit_code
    """
    async with engine.connect() as conn:
        rows = await conn.execute(text(query), {"e": event_id, "t": town})
        return [dict(r) for r in rows.mappings()]


# -- the response: towns, shelters, rounds ---------------------------------------------------


async def towns(engine: AsyncEngine, event_id: str) -> list[tuple[str, str]]:
    """The event's 街镇 (code, name), those its instructions go to."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT DISTINCT u.town_code, coalesce(a.name, u.town_code) AS name
                FROM typhoon_unit u LEFT JOIN admin_unit a ON a.code = u.town_code
                WHERE u.event_id = :e ORDER BY u.town_code LIMIT 1000
                """
            ),
            {"e": event_id},
        )
        return [(r.town_code, r.name) for r in rows]


async def open_shelters(
    engine: AsyncEngine, event_id: str, codes: list[str], at: datetime
) -> tuple[list[OpenShelter], str | None]:
    """Open registered shelters of the event's district (idempotent: a retry opens nothing
    twice; a closed one opens again). Returns them, or why none was opened."""
    async with engine.begin() as conn:
        district = (
            await conn.execute(
                text("SELECT district FROM typhoon_event WHERE event_id = :e"), {"e": event_id}
            )
        ).scalar()
        found = (
            await conn.execute(
                text(
                    """
                    SELECT s.code, s.name, s.unit_code, s.capacity,
                        CASE WHEN u.level = 'village' AND u.parent_code IS NOT NULL
                             THEN u.parent_code ELSE s.unit_code END AS town_code
                    FROM shelter s LEFT JOIN admin_unit u ON u.code = s.unit_code
                    WHERE s.code = ANY(:c) AND s.district = :d
                    """
                ),
                {"c": codes, "d": district},
            )
        ).all()
        missing = sorted(set(codes) - {r.code for r in found})
        if missing:
            return [], (
                f"shelters: {', '.join(missing)} not registered shelter(s) of {district}; "
                "nothing was opened"
            )
        await conn.execute(
            text(
                """
                INSERT INTO typhoon_shelter AS t (event_id, shelter_code, unit_code, town_code,
                    capacity, opened_at)
                SELECT CAST(:e AS varchar), c, u, tw, cap, CAST(:at AS timestamptz)
                FROM unnest(CAST(:c AS text[]), CAST(:u AS text[]), CAST(:tw AS text[]),
                    CAST(:cap AS int[])) AS x(c, u, tw, cap)
                ON CONFLICT (event_id, shelter_code) DO UPDATE SET
                    closed_at = NULL, opened_at = excluded.opened_at, capacity = excluded.capacity
                """
            ),
            {
                "e": event_id,
                "at": at,
                "c": [r.code for r in found],
                "u": [r.unit_code for r in found],
                "tw": [r.town_code for r in found],
                "cap": [r.capacity for r in found],
            },
        )
        latest = {
            r.shelter_code: r
            for r in await conn.execute(
                text(
                    "SELECT shelter_code, occupancy, as_of FROM shelter_latest "
                    "WHERE event_id = :e AND shelter_code = ANY(:c)"
                ),
                {"e": event_id, "c": codes},
            )
        }
    opened = [
        OpenShelter(
            code=r.code,
            name=r.name,
            town=r.town_code,
            capacity=r.capacity,
            opened_at=at,
            occupancy=latest[r.code].occupancy if r.code in latest else 0,
            as_of=latest[r.code].as_of if r.code in latest else None,
        )
        for r in sorted(found, key=lambda r: r.code)
    ]
    return opened, None


async def close_shelters(engine: AsyncEngine, event_id: str, codes: list[str], at: datetime) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE typhoon_shelter SET closed_at = :at WHERE event_id = :e "
                "AND shelter_code = ANY(:c) AND closed_at IS NULL"
            ),
            {"e": event_id, "c": codes, "at": at},
        )
    return result.rowcount


async def resolve_event_shelters(engine: AsyncEngine, event_id: str, texts: list[str]) -> list[str]:
    """The shelter codes that ``texts`` (codes or names) name in the event's district."""
    from yingji.stores.shelter import ShelterError, resolve_shelters

    async with engine.connect() as conn:
        district = (
            await conn.execute(
                text("SELECT district FROM typhoon_event WHERE event_id = :e"), {"e": event_id}
            )
        ).scalar()
        if district is None:
            raise EventUnknown(f"event_id: no typhoon or event {event_id}")
        found, problems = await resolve_shelters(conn, district, texts)
    if problems:
        raise ShelterError(problems)
    return [found[t.strip()] for t in dict.fromkeys(texts)]


_FAST_OCCUPANCY = text(
    """
    WITH ev AS (
        SELECT status FROM typhoon_event WHERE event_id = :e FOR SHARE
    ), sh AS (
        SELECT 1 FROM typhoon_shelter
        WHERE event_id = :e AND shelter_code = :s AND closed_at IS NULL
    ), prev AS (
        SELECT max(as_of) AS latest FROM shelter_report WHERE event_id = :e AND shelter_code = :s
    ), ins AS (
        INSERT INTO shelter_report (event_id, report_id, shelter_code, as_of, occupancy,
            reported_by, status, received_at)
        SELECT :e, :r, :s, :as_of, :occupancy, :by,
            CASE WHEN prev.latest > :as_of THEN 'late' ELSE 'accepted' END, now()
        FROM ev, sh, prev
        WHERE ev.status = 'open'
        ON CONFLICT DO NOTHING
        RETURNING status
    )
    SELECT (SELECT status FROM ins) AS inserted, (SELECT latest FROM prev) AS latest
    """
)


async def submit_occupancy(engine: AsyncEngine, report: OccupancyReport) -> ReportReceipt:
    """Store one shelter occupancy report, once (keyed by event and report id), as the unit
    intake does: a later report supersedes, a late one is kept on record, a repeat is a
    duplicate, the same id with other figures is refused. Only an open shelter reports."""
    # the fast path takes a shelter's code (at most 32 characters); a name goes the careful way
    if not report.corrects and not report.reason and len(report.shelter) <= SHELTER_CODE_MAX:
        params = {
            "e": report.event_id,
            "r": report.report_id,
            "s": report.shelter,
            "as_of": report.as_of,
            "occupancy": report.occupancy,
            "by": report.reported_by,
        }
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(_FAST_OCCUPANCY, params)).one()
        if row.inserted is not None:
            return _occupancy_receipt(report, row.inserted, row.latest)
    return await _occupancy_carefully(engine, report)


def _occupancy_receipt(report: OccupancyReport, status: str, latest: Any) -> ReportReceipt:
    messages = {
        "accepted": "accepted",
        "late": f"accepted late: the shelter already has occupancy as of {_local(latest)}; "
        "kept on record",
        "correction": f"correction of {report.corrects} accepted",
    }
    return ReportReceipt(report_id=report.report_id, status=status, message=messages[status])


_OCCUPANCY_COMPARED = ("shelter_code", "as_of", "occupancy", "corrects", "reason")


async def _occupancy_carefully(engine: AsyncEngine, report: OccupancyReport) -> ReportReceipt:
    from yingji.stores.shelter import resolve_shelters

    async with engine.begin() as conn:
        event = (
            await conn.execute(
                text(
                    "SELECT status, name, district FROM typhoon_event WHERE event_id = :e FOR SHARE"
                ),
                {"e": report.event_id},
            )
        ).first()
        if event is None:
            raise EventUnknown(f"event_id: no typhoon {report.event_id} is open")
        if event.status != "open":
            raise ReportRejected(
                f"event_id: typhoon {report.event_id} ({event.name}) is closed; "
                "reports are no longer accepted"
            )
        found, problems = await resolve_shelters(conn, event.district, [report.shelter])
        if problems:
            raise ReportRejected(problems[0].replace("shelters:", "shelter:", 1))
        report = report.model_copy(update={"shelter": found[report.shelter.strip()]})
        existing = (
            (
                await conn.execute(
                    text(
                        f"SELECT {', '.join(_OCCUPANCY_COMPARED)} FROM shelter_report "
                        "WHERE event_id = :e AND report_id = :r"
                    ),
                    {"e": report.event_id, "r": report.report_id},
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:
            sent = {
                "shelter_code": report.shelter,
                "as_of": report.as_of,
                "occupancy": report.occupancy,
                "corrects": report.corrects,
                "reason": report.reason,
            }
            differing = [k for k in _OCCUPANCY_COMPARED if existing[k] != sent[k]]
            if differing:
                raise ReportRejected(
                    f"report_id: {report.report_id} was already used for a different report "
                    f"(differs in {', '.join(differing)}); use a new report id, or send a "
                    "correction"
                )
            return ReportReceipt(
                report_id=report.report_id,
                status="duplicate",
                message="duplicate: already recorded",
            )
        is_open = (
            await conn.execute(
                text(
                    "SELECT closed_at IS NULL FROM typhoon_shelter "
                    "WHERE event_id = :e AND shelter_code = :s"
                ),
                {"e": report.event_id, "s": report.shelter},
            )
        ).scalar()
        if not is_open:
            raise ReportRejected(
                f"shelter: {report.shelter} is not open for {report.event_id} ({event.name}); "
                "the duty officer opens it first"
            )
        latest = (
            await conn.execute(
                text(
                    "SELECT max(as_of) FROM shelter_report "
                    "WHERE event_id = :e AND shelter_code = :s"
                ),
                {"e": report.event_id, "s": report.shelter},
            )
        ).scalar()
        status = "accepted"
        if report.corrects:
            target = (
                await conn.execute(
                    text(
                        "SELECT shelter_code, as_of FROM shelter_report "
                        "WHERE event_id = :e AND report_id = :r"
                    ),
                    {"e": report.event_id, "r": report.corrects},
                )
            ).first()
            if target is None:
                raise ReportRejected(f"corrects: no report {report.corrects} to correct")
            if target.shelter_code != report.shelter:
                raise ReportRejected(
                    f"corrects: report {report.corrects} is from {target.shelter_code}, "
                    f"not {report.shelter}"
                )
            if report.as_of < target.as_of:
                raise ReportRejected(
                    "as_of: a correction cannot be older than the report it corrects "
                    f"({target.as_of})"
                )
            status = "correction"
        elif latest is not None and report.as_of < latest:
            status = "late"
        result = await conn.execute(
            insert(ShelterReportRow.__table__)
            .values(
                event_id=report.event_id,
                report_id=report.report_id,
                shelter_code=report.shelter,
                as_of=report.as_of,
                occupancy=report.occupancy,
                reported_by=report.reported_by,
                corrects=report.corrects,
                reason=report.reason,
                status=status,
                received_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing()
            .returning(text("arrival"))
        )
        if result.first() is None:
            raise ReportRejected(
                f"report_id: {report.report_id} arrived twice at once; send it again"
            )
    return _occupancy_receipt(report, status, latest)


async def event_shelters(engine: AsyncEngine, event_id: str) -> list[dict[str, Any]]:
    """Every shelter the event opened, with its capacity and latest occupancy."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT t.shelter_code AS code, s.name, t.unit_code, u.name AS unit_name,
                    t.town_code, tw.name AS town_name, t.capacity,
                    coalesce(l.occupancy, 0) AS occupancy, l.as_of, t.opened_at, t.closed_at
                FROM typhoon_shelter t
                LEFT JOIN shelter s ON s.code = t.shelter_code
                LEFT JOIN admin_unit u ON u.code = t.unit_code
                LEFT JOIN admin_unit tw ON tw.code = t.town_code
                LEFT JOIN shelter_latest l
                    ON l.event_id = t.event_id AND l.shelter_code = t.shelter_code
                WHERE t.event_id = :e
                ORDER BY t.closed_at IS NOT NULL, t.town_code, t.shelter_code
                """
            ),
            {"e": event_id},
        )
        return [dict(r) for r in rows.mappings()]


# -- reporting rounds --


async def open_round(engine: AsyncEngine, data: RoundOpen) -> int:
    """Record a round once, with the intake's arrival number at its opening (reports after it
    count for the round). Returns how many reporting units the event has."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO typhoon_round (event_id, round_no, opened_at, due_at, opened_by,
                    open_arrival)
                SELECT CAST(:e AS varchar), CAST(:k AS integer), CAST(:opened AS timestamptz),
                    CAST(:due AS timestamptz), CAST(:by AS varchar), coalesce(
                    (SELECT max(arrival) FROM typhoon_report WHERE event_id = :e), 0)
                ON CONFLICT DO NOTHING
                """
            ),
            {
                "e": data.event_id,
                "k": data.no,
                "opened": data.opened_at,
                "due": data.due_at,
                "by": data.by,
            },
        )
        units = (
            await conn.execute(
                text("SELECT count(*) FROM typhoon_unit WHERE event_id = :e"),
                {"e": data.event_id},
            )
        ).scalar()
    return int(units or 0)


_ROUND_UNITS = text(
    """
    WITH r AS (
        SELECT open_arrival, due_arrival, (
            SELECT min(n.open_arrival) FROM typhoon_round n
            WHERE n.event_id = :e AND n.round_no > :k) AS next_arrival
        FROM typhoon_round WHERE event_id = :e AND round_no = :k
    ), first AS (
        SELECT t.unit_code, min(t.arrival) AS arrival
        FROM typhoon_report t, r
        WHERE t.event_id = :e AND t.arrival > r.open_arrival
          AND (r.next_arrival IS NULL OR t.arrival <= r.next_arrival)
        GROUP BY t.unit_code
    )
    SELECT u.unit_code, coalesce(a.name, u.unit_code) AS name, u.town_code,
        coalesce(tw.name, u.town_code) AS town_name, a.parent_code,
        CASE WHEN f.arrival IS NULL THEN 'missing'
             WHEN r.due_arrival IS NOT NULL AND f.arrival > r.due_arrival THEN 'late'
             ELSE 'reported' END AS status
    FROM typhoon_unit u CROSS JOIN r
    LEFT JOIN first f ON f.unit_code = u.unit_code
    LEFT JOIN admin_unit a ON a.code = u.unit_code
    LEFT JOIN admin_unit tw ON tw.code = u.town_code
    WHERE u.event_id = :e
    ORDER BY u.town_code, u.unit_code
    """
)


async def round_units(engine: AsyncEngine, event_id: str, no: int) -> list[dict[str, Any]]:
    """Each reporting unit of a round: ``reported`` (by its deadline, or while it is not yet
    due), ``late`` (after it), or ``missing`` (未报)."""
    async with engine.connect() as conn:
        return [
            dict(r) for r in (await conn.execute(_ROUND_UNITS, {"e": event_id, "k": no})).mappings()
        ]


async def latest_round(engine: AsyncEngine, event_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    text(
                        "SELECT round_no, opened_at, due_at, opened_by FROM typhoon_round "
                        "WHERE event_id = :e ORDER BY round_no DESC LIMIT 1"
                    ),
                    {"e": event_id},
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None


async def check_round(
    engine: AsyncEngine, data: RoundCheck
) -> tuple[RoundStatus, list[Notification]]:
    """A round's status; at ``due`` the deadline's arrival number is fixed (once). At ``remind``
    each missing unit's A officer (else B) is told, at ``escalate`` its B officer and the A
    officer of the unit above it: the notifications to send (keyed per round, unit, person)."""
    params = {"e": data.event_id, "k": data.no}
    if data.stage == "due":
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    """
                    UPDATE typhoon_round SET due_arrival = coalesce(due_arrival, (
                        SELECT coalesce(max(arrival), 0) FROM typhoon_report WHERE event_id = :e))
                    WHERE event_id = :e AND round_no = :k
                    """
                ),
                params,
            )
    units = await round_units(engine, data.event_id, data.no)
    late_minutes = max(int((data.now - data.due_at).total_seconds() // 60), 0)
    missing = [u for u in units if u["status"] == "missing"]
    status = RoundStatus(
        units=len(units),
        reported=sum(1 for u in units if u["status"] != "missing"),
        late=[
            RoundUnit(code=u["unit_code"], name=u["name"], town=u["town_name"])
            for u in units
            if u["status"] == "late"
        ][:ROUND_UNITS_NAMED],
        missing=[
            RoundUnit(
                code=u["unit_code"], name=u["name"], town=u["town_name"], late_minutes=late_minutes
            )
            for u in missing
        ][:ROUND_UNITS_NAMED],
        missing_count=len(missing),
    )
    if data.stage not in ("remind", "escalate") or not missing:
        return status, []
    parents = {u["unit_code"]: u["parent_code"] for u in missing}
    people = await officer_store.contacts(
        engine, sorted({*parents, *(p for p in parents.values() if p)})
    )
    notes: list[Notification] = []
    nobody: list[str] = []
    due = data.due_at.astimezone(CHINA_TZ)
    for u in missing:
        code, name = u["unit_code"], u["name"]
        where = name if u["town_name"] in (name, "") else f"{u['town_name']}{name}"
        mine = people.get(code, {})
        if data.stage == "remind":
            who = [mine.get("A") or mine.get("B")]
            subject = f"【催报】{data.name}第{data.no}轮转移安置数据未报"
            body = (
                f"{where}：第{data.no}轮数据应于{due:%m月%d日%H:%M}前报送，"
                f"已逾期{late_minutes}分钟，请立即报送。"
            )
        else:
            above = people.get(parents[code] or "", {})
            who = [mine.get("B"), above.get("A")]
            subject = f"【督办】{data.name}第{data.no}轮{where}逾期未报"
            body = (
                f"{where}第{data.no}轮转移安置数据应于{due:%m月%d日%H:%M}前报送，"
                f"已逾期{late_minutes}分钟仍未报送，请督促报送。"
            )
        found = [w for w in who if w]
        if not found:
            nobody.append(where)
        for w in found:
            notes.append(
                Notification(
                    key=f"{data.workflow_id}:round:{data.no}:{data.stage}:{code}:{w['phone']}",
                    recipient=w["name"],
                    address=w["phone"],
                    subject=subject,
                    body=body,
                    source=data.workflow_id,
                )
            )
    status.no_officer = nobody[:ROUND_UNITS_NAMED]
    return status, notes


async def queue_notifications(engine: AsyncEngine, notes: list[Notification]) -> list[str]:
    """Write the notifications to the outbox once each; the keys not yet delivered."""
    if not notes:
        return []
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(NotificationRow.__table__)
            .values([{**n.model_dump(), "created_at": now} for n in notes])
            .on_conflict_do_nothing()
        )
        pending = (
            await conn.execute(
                text("SELECT key FROM notification WHERE key = ANY(:k) AND delivered_at IS NULL"),
                {"k": [n.key for n in notes]},
            )
        ).scalars()
        return list(pending)


async def mark_delivered(engine: AsyncEngine, keys: list[str]) -> None:
    if keys:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE notification SET delivered_at = now() WHERE key = ANY(:k)"),
                {"k": keys},
            )


async def shelter_unit(engine: AsyncEngine, code: str) -> str | None:
    async with engine.connect() as conn:
        return (
            await conn.execute(text("SELECT unit_code FROM shelter WHERE code = :c"), {"c": code})
        ).scalar()


async def list_events(
    engine: AsyncEngine, district: str, live: bool, limit: int
) -> list[dict[str, Any]]:
    """Typhoons and other events of ``district``, newest first, with their live totals."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT e.event_id, e.name, e.hazard, e.district, e.status, e.level, e.warning, "
                "e.opened_at, e.closed_at, coalesce(t.relocated, 0) AS relocated, "
                "coalesce(t.pre_evacuated, 0) AS pre_evacuated, "
                "coalesce(t.units_reported, 0) AS units_reported "
                "FROM typhoon_event e LEFT JOIN typhoon_totals t USING (event_id) "
                "WHERE e.district = :d AND (NOT CAST(:live AS boolean) OR e.status = 'open') "
                "ORDER BY e.opened_at DESC, e.event_id LIMIT :n"
            ),
            {"d": district, "live": live, "n": limit},
        )
        return [dict(r) for r in rows.mappings()]


# -- the board, read from the projection (the console) -----------------------------------------

#: Rounds whose lists of units the workflow keeps named (its latest three, as
#: ``workflows/typhoon.py`` keeps them).
ROUNDS_NAMED = 3

#: The event log's kinds the board is folded from.
_BOARD_KINDS = (
    "opened",
    "level_changed",
    "call_started",
    "actions_started",
    "instructed",
    "feedback",
    "instruction_overdue",
    "instruction_answered",
    "shelters_opened",
    "shelters_closed",
    "round_opened",
    "round_due",
    "round_remind",
    "round_escalate",
    "round_closed",
    "closed",
)

_BOARD_HEAD = text(
    f"""
    SELECT e.event_id, e.year, e.number, e.name, e.district, e.status, e.level, e.warning,
        e.closed_at, e.last_seq, e.hazard, e.code,
        {", ".join(f"t.{f}" for f in FIGURE_FIELDS)}, t.units_reported,
        coalesce(t.peak_sheltered, 0) AS peak_sheltered, t.peak_at,
        coalesce(t.batches_applied, 0) AS batches_applied
    FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id
    WHERE e.event_id = :e
    """
)


BoardKey = tuple[int, str, datetime | None, int]


async def board_key(engine: AsyncEngine, event_id: str) -> BoardKey | None:
    """What moves whenever the projected board can change: the event number the projection
    has reached, the status and closing time (the intake's close sets them first), and the
    batch the apply has reached (towns, totals, peak, shelters' occupancy). None: no event."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT e.last_seq, e.status, e.closed_at, "
                    "coalesce(t.batches_applied, 0) AS batches "
                    "FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id "
                    "WHERE e.event_id = :e"
                ),
                {"e": event_id},
            )
        ).first()
    return None if row is None else (int(row[0]), row[1], row[2], int(row[3]))


async def projected_board(
    engine: AsyncEngine, event_id: str
) -> tuple[BoardKey, TyphoonBoard] | None:
    """The board (``TyphoonBoard``, as the workflow's ``board`` query answers it) built from
    the projection alone, in one consistent snapshot, with its :func:`board_key`.

    The event row gives the level, warning and status; the apply's tables the towns, totals,
    peak, shelters' occupancy and counts; the event log (``typhoon_log``) is folded for the
    levels, 叫应, actions, instructions and their feedback, and which shelters are open. Rounds
    come from ``typhoon_round`` and the log, their units recomputed from the intake (the
    workflow keeps its lists as of its last check); once it has closed, as the close kept them
    (:data:`FINAL_ROUNDS`, the workflow's own). ``next_round_at`` is not projected (None).

    None when there is no such event, or when nothing of it is projected yet (event 0): then
    only the workflow can answer."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        head = (await conn.execute(_BOARD_HEAD, {"e": event_id})).mappings().first()
        if head is None or not head["last_seq"]:
            return None
        key: BoardKey = (
            int(head["last_seq"]),
            head["status"],
            head["closed_at"],
            int(head["batches_applied"]),
        )
        log = (
            await conn.execute(
                text(
                    "SELECT seq, at, kind, detail FROM typhoon_log "
                    "WHERE event_id = :e AND kind = ANY(:k) ORDER BY seq"
                ),
                {"e": event_id, "k": list(_BOARD_KINDS)},
            )
        ).all()
        town_rows = (
            await conn.execute(
                text(
                    f"""
                    SELECT l.town_code, min(a.name) AS town_name, {_SUMS},
                        count(*) AS units_reported
                    FROM typhoon_unit_latest l LEFT JOIN admin_unit a ON a.code = l.town_code
                    WHERE l.event_id = :e GROUP BY l.town_code
                    """
                ),
                {"e": event_id},
            )
        ).mappings()
        towns = {r["town_code"]: (r["town_name"] or "", Totals.of(dict(r))) for r in town_rows}
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM typhoon_report WHERE event_id = :e "
                    "AND applied_batch IS NOT NULL) AS reports, "
                    "(SELECT count(*) FROM shelter_report WHERE event_id = :e "
                    "AND applied_batch IS NOT NULL) AS shelter_reports, "
                    "(SELECT count(*) FROM typhoon_unit WHERE event_id = :e) AS units"
                ),
                {"e": event_id},
            )
        ).one()
        shelter_rows = (
            await conn.execute(
                text(
                    """
                    SELECT t.shelter_code AS code, coalesce(s.name, t.shelter_code) AS name,
                        t.town_code, t.capacity, t.closed_at,
                        coalesce(l.occupancy, 0) AS occupancy, l.as_of
                    FROM typhoon_shelter t
                    LEFT JOIN shelter s ON s.code = t.shelter_code
                    LEFT JOIN shelter_latest l
                        ON l.event_id = t.event_id AND l.shelter_code = t.shelter_code
                    WHERE t.event_id = :e
                    """
                ),
                {"e": event_id},
            )
        ).all()
        instructed = any(r.kind == "instructed" for r in log)
        event_towns: list[tuple[str, str]] = []
        if instructed:
            event_towns = [
                (r.town_code, r.name)
                for r in await conn.execute(
                    text(
                        """
                        SELECT DISTINCT u.town_code, coalesce(a.name, u.town_code) AS name
                        FROM typhoon_unit u LEFT JOIN admin_unit a ON a.code = u.town_code
                        WHERE u.event_id = :e ORDER BY u.town_code LIMIT 1000
                        """
                    ),
                    {"e": event_id},
                )
            ]
        round_rows = (
            (
                await conn.execute(
                    text(
                        "SELECT round_no, opened_at, due_at, opened_by FROM typhoon_round "
                        "WHERE event_id = :e ORDER BY round_no DESC LIMIT :n"
                    ),
                    {"e": event_id, "n": ROUNDS_KEPT},
                )
            )
            .mappings()
            .all()
        )
        board = _fold_board(head, log, towns, counts, shelter_rows, event_towns)
        final = next((r.detail for r in log if r.kind == "closed"), None) or {}
        if FINAL_ROUNDS in final:
            # Closed: the rounds as the workflow ended them, kept with its close.
            board.rounds = [RoundRecord.model_validate(r) for r in final[FINAL_ROUNDS]]
        else:  # open (or closed before the close kept them): told by the log and the intake
            board.rounds = await _projected_rounds(
                conn,
                event_id,
                list(reversed(round_rows)),
                log,
                int(counts.units),
                live=head["status"] == "open",
            )
    return key, board


def _fold_board(
    head: Any,
    log: list[Any],
    towns: dict[str, tuple[str, Totals]],
    counts: Any,
    shelter_rows: list[Any],
    event_towns: list[tuple[str, str]],
) -> TyphoonBoard:
    # The 街镇 names the workflow knows: those the apply found in the register, and every
    # town of the event once an instruction went out (its code when the register has no name).
    names = {code: name for code, (name, _) in towns.items() if name}
    names.update(dict(event_towns))
    town_codes = [code for code, _ in event_towns]
    levels: list[LevelRecord] = []
    warnings: list[str] = []
    actions: list[ActionRecord] = []
    instructions: dict[str, dict[str, Any]] = {}
    opened = closed = 0
    # When a level's actions started: the opening's time, or a level change's; after a change
    # that started a 叫应, the 叫应's (the workflow times them once it has started it; so a
    # change given an explicit ``at`` that starts a 叫应 is timed at the 叫应 here).
    actions_at: datetime | None = None
    level_kind = ""
    for r in log:
        d = r.detail or {}
        if r.kind in ("opened", "level_changed"):
            actions_at, level_kind = r.at, r.kind
            levels.append(
                LevelRecord(
                    at=r.at,
                    level=d["level"],
                    warning=d["warning"],
                    by=d.get("by", ""),
                    note=d.get("note", "") if r.kind == "level_changed" else "",
                )
            )
        elif r.kind == "call_started":
            warnings = [*warnings, d["warning"]][-100:]
            if level_kind == "level_changed":
                actions_at = r.at
        elif r.kind == "actions_started":
            started = []
            for a in d.get("actions", []):
                kind = ActionKind(a["kind"])
                ref = a.get("ref", "")
                started.append(
                    ActionRecord(
                        at=actions_at or r.at,
                        level=d["level"],
                        kind=kind,
                        text=a.get("text", ""),
                        ref=ref,
                        done=kind is not ActionKind.SHELTERS and bool(ref),
                    )
                )
            actions = [*actions, *started][-100:]
        elif r.kind == "instructed":
            instructions[d["instruction"]] = {
                "id": d["instruction"],
                "text": d["text"],
                "level": levels[-1].level if levels else None,
                "issued_at": r.at,
                "due_at": datetime.fromisoformat(d["due_at"]),
                "by": d.get("by", ""),
                "towns": int(d.get("towns", len(town_codes))),
                "feedback": {},
                "checked": False,
            }
        elif r.kind == "feedback" and d.get("instruction") in instructions:
            instructions[d["instruction"]]["feedback"][d["town"]] = bool(d.get("late"))
        elif r.kind in ("instruction_overdue", "instruction_answered"):
            if d.get("instruction") in instructions:
                instructions[d["instruction"]]["checked"] = True
        elif r.kind == "shelters_opened":
            opened += int(d.get("count", 0))
            for a in actions:
                if a.kind is ActionKind.SHELTERS:
                    a.done = True
        elif r.kind == "shelters_closed":
            closed += int(d.get("count", 0))
    lines = []
    for i in instructions.values():
        answered = i.pop("feedback")
        checked = i.pop("checked")
        pending = [names.get(t, t) for t in town_codes if t not in answered]
        lines.append(
            InstructionLine(
                **i,
                answered=len(answered),
                late=[names.get(t, t) for t, late in answered.items() if late],
                pending=pending,
                overdue=pending if checked else [],
            )
        )
    shelters = _open_shelters(shelter_rows, head["status"], opened - closed)
    district = Totals.of(
        {
            f: sum(getattr(t, f) for _, t in towns.values())
            for f in (*FIGURE_FIELDS, "units_reported", "staying")
        }
    )
    occupancy: dict[str, int] = {}
    for sh in shelters:
        occupancy[sh.town_code] = occupancy.get(sh.town_code, 0) + sh.occupancy
    mismatches = []
    for town, occupied in sorted(occupancy.items()):
        reported = towns[town][1].sheltered_now if town in towns else 0
        if reported != occupied:
            mismatches.append(
                Mismatch(
                    town=town,
                    name=names.get(town, ""),
                    sheltered_now=reported,
                    occupancy=occupied,
                )
            )
    hazard = Hazard(head["hazard"] or "typhoon")
    return TyphoonBoard(
        event_id=head["event_id"],
        year=head["year"],
        number=head["number"] if hazard is Hazard.TYPHOON else None,
        name=head["name"],
        district=head["district"],
        status=head["status"],
        level=head["level"],
        warning=head["warning"],
        levels=levels,
        towns=[
            TownTotals(town=code, name=names.get(code, ""), totals=totals)
            for code, (_, totals) in sorted(towns.items())
        ],
        district_totals=district,
        peak_sheltered=head["peak_sheltered"],
        peak_at=head["peak_at"],
        batches_applied=head["batches_applied"],
        reports_applied=int(counts.reports),
        closed_at=head["closed_at"],
        last_seq=head["last_seq"],
        warnings=warnings,
        hazard=hazard,
        code=head["code"],
        actions=actions,
        instructions=lines,
        shelters=[
            ShelterLine(
                code=sh.code,
                name=sh.name,
                town=names.get(sh.town_code, sh.town_code),
                capacity=sh.capacity,
                occupancy=sh.occupancy,
                as_of=sh.as_of,
                over_capacity=sh.occupancy > sh.capacity,
            )
            for sh in shelters
        ],
        shelter_capacity=sum(sh.capacity for sh in shelters),
        shelter_occupancy=sum(sh.occupancy for sh in shelters),
        shelter_reports_applied=int(counts.shelter_reports),
        mismatches=mismatches,
    )


def _open_shelters(rows: list[Any], status: str, open_at_close: int) -> list[Any]:
    """The shelters the board lists: those open now; for a closed event, those that were open
    when it closed (the intake's close closed them together, at one time: the latest)."""
    if status != "closed":
        found = [r for r in rows if r.closed_at is None]
    elif open_at_close <= 0:
        found = []
    else:
        shut = sorted((r for r in rows if r.closed_at is not None), key=lambda r: r.closed_at)
        last = [r for r in shut if r.closed_at == shut[-1].closed_at] if shut else []
        found = last if len(last) == open_at_close else shut[-open_at_close:]
    return sorted(found, key=lambda r: (r.town_code, r.code))


def round_is_live(rec: RoundRecord, latest: int) -> bool:
    """Whether an open event's round can still change with the intake, so that the board
    shows its counts live rather than as the workflow last checked them: the latest round (its
    window is open until the next one opens, late reports still count), or one the workflow has
    not checked yet (its counts are still those of its opening). A round checked when the next
    one opened (``round_closed``) is final: the intake can no longer change it."""
    return rec.no >= latest or rec.stage == "open"


def lateness(due_at: datetime, checked_at: datetime | None) -> int:
    """A missing unit's lateness in minutes as of the round's last check (0 before it)."""
    if checked_at is None:
        return 0
    return max(int((checked_at - due_at).total_seconds() // 60), 0)


def live_round_counts(
    units: list[Any], due_at: datetime, checked_at: datetime | None
) -> dict[str, Any]:
    """A round's counts and lists from its units as :data:`_ROUND_UNITS` finds them (as the
    workflow's check computes them): reported counts the late too; a missing unit's lateness
    is as of the round's last check (0 before its deadline was checked)."""
    late_minutes = lateness(due_at, checked_at)
    late = [
        RoundUnit(code=u["unit_code"], name=u["name"], town=u["town_name"])
        for u in units
        if u["status"] == "late"
    ]
    missing = [
        RoundUnit(
            code=u["unit_code"], name=u["name"], town=u["town_name"], late_minutes=late_minutes
        )
        for u in units
        if u["status"] == "missing"
    ]
    return {
        "units": len(units),
        "reported": len(units) - len(missing),
        "missing_count": len(missing),
        "late": late[:ROUND_UNITS_NAMED],
        "missing": missing[:ROUND_UNITS_NAMED],
    }


async def _projected_rounds(
    conn: AsyncConnection,
    event_id: str,
    rows: list[Any],
    log: list[Any],
    units: int,
    live: bool = False,
) -> list[RoundRecord]:
    """The latest rounds as the log tells them (stage, counts, notifications); the units of the
    latest three recomputed from the intake, as of now. ``live`` (an open event): a round that
    can still change (:func:`round_is_live`) has its counts from the intake too, as
    :func:`round_units` tells them, not as the workflow last checked them."""
    if not rows:
        return []
    rounds = {
        r["round_no"]: RoundRecord(
            no=r["round_no"],
            opened_at=r["opened_at"],
            due_at=r["due_at"],
            by=r["opened_by"],
            units=units,
            missing_count=units,
        )
        for r in rows
    }
    stages = {"round_due": "due", "round_remind": "reminded", "round_escalate": "escalated"}
    for r in log:
        d = r.detail or {}
        rec = rounds.get(d.get("round")) if r.kind.startswith("round_") else None
        if rec is None or r.kind == "round_opened":
            continue
        rec.units = units
        rec.reported = int(d.get("reported", rec.reported))
        rec.missing_count = int(d.get("missing_count", rec.missing_count))
        rec.checked_at = r.at
        rec.stage = stages.get(r.kind, rec.stage)
        if r.kind == "round_remind":
            rec.reminded = int(d.get("notified", 0))
        elif r.kind == "round_escalate":
            rec.escalated = int(d.get("notified", 0))
    ordered = [rounds[k] for k in sorted(rounds)]
    latest = ordered[-1].no
    for rec in ordered[-ROUNDS_NAMED:]:
        if live and round_is_live(rec, latest):
            found = (await conn.execute(_ROUND_UNITS, {"e": event_id, "k": rec.no})).mappings()
            for name, value in live_round_counts(list(found), rec.due_at, rec.checked_at).items():
                setattr(rec, name, value)
            continue
        if rec.checked_at is None:
            continue
        late_minutes = max(int((rec.checked_at - rec.due_at).total_seconds() // 60), 0)
        found = (await conn.execute(_ROUND_UNITS, {"e": event_id, "k": rec.no})).mappings()
        late, missing = [], []
        for u in found:
            if u["status"] == "late":
                late.append(RoundUnit(code=u["unit_code"], name=u["name"], town=u["town_name"]))
            elif u["status"] == "missing":
                missing.append(
                    RoundUnit(
                        code=u["unit_code"],
                        name=u["name"],
                        town=u["town_name"],
                        late_minutes=late_minutes,
                    )
                )
        rec.late, rec.missing = late[:ROUND_UNITS_NAMED], missing[:ROUND_UNITS_NAMED]
    return ordered
