"""Typhoon tallies in PostgreSQL: the report intake, the batch apply, the board projection.

The intake validates and stores each report once (keyed by event and report id) in a transaction
that holds a share lock on the event row, so a report is either in before the event closes or
rejected. The apply claims every unapplied report with the batch number the workflow chose,
recomputes the latest report of each unit it touched (by as-of time, then arrival), and sums.
Claiming by batch number rather than by a sequence cursor cannot miss a row that commits late,
and rerunning a batch (an activity retry) recomputes the same totals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.typhoon import (
    FIGURE_FIELDS,
    ApplyResult,
    ReportReceipt,
    Totals,
    TownTotals,
    TyphoonOpen,
    TyphoonProjection,
    UnitReport,
)
from yingji.core.errors import DomainRefusal
from yingji.core.tables import AdminUnit, TyphoonLog, TyphoonReportRow
from yingji.stores.projection import insert_once
from yingji.stores.unit import UnitError, resolve_in

_FIGS = ", ".join(FIGURE_FIELDS)
_SUMS = ", ".join(f"coalesce(sum({f}), 0) AS {f}" for f in FIGURE_FIELDS)


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


class ReportRejected(DomainRefusal):
    """A report that is not stored; the message names the field and the reason."""


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
                    status, level, warning, opened_at)
                VALUES (:e, :w, :y, :n, :name, :d, 'open', :level, :warning,
                    coalesce(CAST(:opened_at AS timestamptz), now()))
                ON CONFLICT (event_id) DO NOTHING
                """
            ),
            {
                "e": data.event_id,
                "w": workflow_id,
                "y": data.year,
                "n": data.number,
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
                f"event_id: typhoon {data.event_id} is already open for {owner.district}; "
                "nothing was changed"
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
        SELECT max(as_of) AS latest FROM typhoon_report
        WHERE event_id = :event_id AND unit_code = :unit_code
    ), ins AS (
        INSERT INTO typhoon_report (event_id, report_id, unit_code, town_code, as_of, {_FIGS},
            reported_by, status, received_at)
        SELECT :event_id, :report_id, :unit_code, unit.town_code, :as_of,
            {", ".join(":" + f for f in FIGURE_FIELDS)}, :reported_by,
            CASE WHEN prev.latest > :as_of THEN 'late' ELSE 'accepted' END, now()
        FROM ev, unit, prev
        WHERE ev.status = 'open'
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
    if not report.corrects:
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
        "late": f"accepted late: the unit already has figures as of {latest}; kept on record",
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
            raise ReportRejected(f"event_id: no typhoon {report.event_id} is open")
        if event.status != "open":
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
                raise ReportRejected(await _unknown_unit(conn, report, event.district))

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


async def _unknown_unit(conn: AsyncConnection, report: UnitReport, district: str) -> str:
    villages = (
        await conn.execute(
            text("SELECT count(*) FROM admin_unit WHERE parent_code = :u"), {"u": report.unit}
        )
    ).scalar()
    if villages:
        return (
            f"unit: '{report.unit}' reports through its {villages} 村居; "
            "send each 村居's figures instead"
        )
    return f"unit: '{report.unit}' is not a reporting unit of {district} for this typhoon"


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
    )


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
                    "detail": e.detail,
                }
                for e in data.events
            ],
        )
    return written


# -- reading --


async def season(engine: AsyncEngine, year: int, district: str) -> list[dict[str, Any]]:
    """The year's typhoons in a district with their current (or final) totals."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"""
                SELECT e.event_id, e.number, e.name, e.status,
                    {", ".join(f"coalesce(t.{f}, 0) AS {f}" for f in FIGURE_FIELDS)},
                    coalesce(t.peak_sheltered, 0) AS peak_sheltered
                FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id
                WHERE e.year = :y AND e.district = :d ORDER BY e.number
                """
            ),
            {"y": year, "d": district},
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
