"""The year's figures, by set-based SQL over the projections; and the stored versions.

A deployment serves one bureau, and the figures count its jurisdiction (``stores.unit.
jurisdiction``): a district bureau's district; a city bureau's city and each district registered
under the city's unit. Plans and drills count by their ``district`` (a row from before it had one,
NULL, is the bureau's own), plans made apart by jurisdiction level; typhoons, disaster reports,
officers and warnings by theirs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.common import CHINA_TZ
from models.summary import (
    DrillFigure,
    SummaryDocument,
    SummaryFigures,
    SummaryRequest,
    TyphoonFigure,
)
from yingji.stores.unit import jurisdiction

#: The bureau's jurisdiction as rows (alias, unit, jlevel): see ``stores.unit.Jurisdiction``.
#: A plan or drill is the bureau's when its district (NULL: the bureau's own) is an alias.
_SCOPE = """
    (SELECT * FROM unnest(CAST(:aliases AS text[]), CAST(:units AS text[]),
                          CAST(:jlevels AS text[])) AS s(alias, unit, jlevel))
"""

_QUERIES = {
    "made": f"""
        SELECT p.kind, p.level, s.jlevel, s.unit, count(*) AS n
        FROM plan_event e JOIN plan p ON p.code = e.plan_code
        JOIN {_SCOPE} s ON s.alias = coalesce(p.district, :district)
        WHERE e.kind = 'issued' AND e.version = 1
          AND (e.detail->>'issued_on')::date BETWEEN :first AND :last
        GROUP BY p.kind, p.level, s.jlevel, s.unit
    """,
    "revised": f"""
        SELECT p.kind, p.level, p.name
        FROM plan_revision r JOIN plan p ON p.code = r.plan_code
        JOIN {_SCOPE} s ON s.alias = coalesce(p.district, :district)
        WHERE r.started_at >= :start AND r.started_at < :end
        ORDER BY r.started_at, p.code
    """,
    "drills": f"""
        SELECT d.drill_type, s.jlevel, count(*) AS n FROM drill d
        JOIN {_SCOPE} s ON s.alias = coalesce(d.district, :district)
        WHERE d.conducted_on BETWEEN :first AND :last GROUP BY d.drill_type, s.jlevel
    """,
    "comprehensive": f"""
        SELECT d.name, d.conducted_on, jsonb_array_length(d.participants) + 1 AS units,
               d.participant_count, s.unit AS district
        FROM drill d JOIN {_SCOPE} s ON s.alias = coalesce(d.district, :district)
        WHERE d.drill_type = 'comprehensive' AND d.conducted_on BETWEEN :first AND :last
        ORDER BY d.conducted_on, d.code
    """,
    "typhoons": """
        SELECT e.name, e.number, coalesce(t.relocated, 0) AS relocated
        FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id
        WHERE e.year = :year AND e.district = ANY(:aliases)
          AND e.status = 'closed' AND e.closed_at < :end  -- only events over by the year's end
        ORDER BY e.number
    """,
    "reports": """
        SELECT count(*) FILTER (WHERE NOT r.late) AS on_time, count(*) FILTER (WHERE r.late) AS late
        FROM disaster_report r JOIN disaster d ON d.code = r.disaster_code
        WHERE d.district = ANY(:aliases) AND r.submitted_at >= :start AND r.submitted_at < :end
    """,
    # 街镇 and 村居 hold officers: a city's or a district's own row is never a gap.
    "officers": """
        SELECT count(o.name) FILTER (WHERE o.active) AS officers,
               count(DISTINCT u.code) FILTER (WHERE o.active) AS units,
               count(DISTINCT u.code) - count(DISTINCT u.code) FILTER (WHERE o.active) AS gaps
        FROM admin_unit u LEFT JOIN officer o ON o.unit_code = u.code
          -- the roster as it stood on 31 December (the history of officer rows)
          AND o.valid_from <= :last AND (o.valid_to IS NULL OR o.valid_to > :last)
        WHERE u.district = ANY(:aliases) AND u.level NOT IN ('city', 'district')
    """,
    "warnings": """
        SELECT count(*) AS warnings, coalesce(sum(targets), 0) AS targets,
               coalesce(sum(answered), 0) AS answered
        FROM warning
        WHERE district = ANY(:aliases) AND issued_at >= :start AND issued_at < :end
    """,
    "actions": f"""
        SELECT count(*) FILTER (WHERE a.done_on IS NOT NULL) AS done,
               count(*) FILTER (WHERE a.done_on IS NULL) AS open
        FROM corrective_action a JOIN drill d ON d.code = a.drill_code
        JOIN {_SCOPE} s ON s.alias = coalesce(d.district, :district)
        WHERE d.conducted_on BETWEEN :first AND :last
    """,
}


def _tally(rows: list[Any], key: str, count: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + (r[count] if count else 1)
    return dict(sorted(out.items()))


def _bounds(year: int, district: str) -> dict[str, Any]:
    return {
        "year": year,
        "district": district,
        "first": date(year, 1, 1),
        "last": date(year, 12, 31),
        "start": datetime(year, 1, 1, tzinfo=CHINA_TZ),
        "end": datetime(year + 1, 1, 1, tzinfo=CHINA_TZ),
    }


async def figures(
    source: AsyncEngine | AsyncConnection, year: int, district: str, level: str = "district"
) -> SummaryFigures:
    """Every figure of the year for the bureau of ``district`` at ``level`` (``district`` or
    ``city``); ``source`` may be a connection inside a caller's transaction."""
    params = _bounds(year, district)
    async with _connection(source) as conn:
        scope = await jurisdiction(conn, district, level)
        params.update(aliases=scope.aliases, units=scope.units, jlevels=scope.levels)

        async def q(name: str) -> list[Any]:
            return list((await conn.execute(text(_QUERIES[name]), params)).mappings())

        made = await q("made")
        revised = await q("revised")
        drills = await q("drills")
        comprehensive = await q("comprehensive")
        typhoons = await q("typhoons")
        reports = (await q("reports"))[0]
        officers = (await q("officers"))[0]
        warnings = (await q("warnings"))[0]
        actions = (await q("actions"))[0]
    by_kind = _tally(made, "kind", "n")
    by_level = _tally(made, "level", "n")
    by_jurisdiction = {
        jlevel: _tally([r for r in made if r["jlevel"] == jlevel], "kind", "n")
        for jlevel in sorted({r["jlevel"] for r in made})
    }
    return SummaryFigures(
        year=year,
        district=district,
        plans_made=by_kind,
        plans_made_by_level=by_level,
        revisions_started=len(revised),
        plans_revised=_tally(revised, "kind"),
        plans_revised_by_level=_tally(revised, "level"),
        special_plans_revised=list(
            dict.fromkeys(r["name"] for r in revised if r["kind"] == "special")
        ),
        drills_by_type=_tally(drills, "drill_type", "n"),
        drills_conducted=sum(r["n"] for r in drills),
        comprehensive_drills=[
            DrillFigure(
                name=r["name"],
                scheduled_on=r["conducted_on"].isoformat(),
                units=r["units"],
                participants=r["participant_count"],
                district=r["district"],
            )
            for r in comprehensive
        ],
        typhoons=[TyphoonFigure(**dict(r)) for r in typhoons],
        typhoon_relocated=sum(r["relocated"] for r in typhoons),
        reports_on_time=reports["on_time"],
        reports_late=reports["late"],
        officers=officers["officers"],
        officer_units=officers["units"],
        officer_gaps=officers["gaps"],
        warnings=warnings["warnings"],
        call_targets=warnings["targets"],
        calls_answered=warnings["answered"],
        actions_done=actions["done"],
        actions_open=actions["open"],
        level=scope.level,
        districts=scope.districts,
        plans_made_by_jurisdiction=by_jurisdiction,
        districts_with_overall_plan=len(
            {r["unit"] for r in made if r["jlevel"] == "district" and r["kind"] == "overall"}
            if scope.level == "city"
            else set()
        ),
        drills_by_jurisdiction=_tally(drills, "jlevel", "n"),
    )


@asynccontextmanager
async def _connection(source: AsyncEngine | AsyncConnection) -> AsyncIterator[AsyncConnection]:
    if isinstance(source, AsyncConnection):
        yield source
    else:
        async with source.connect() as conn:
            yield conn


def content_hash(title: str, markdown: str, data: SummaryFigures) -> str:
    blob = json.dumps(
        {"t": title, "m": markdown, "f": data.model_dump(mode="json")},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


async def store(
    engine: AsyncEngine, request: SummaryRequest, title: str, markdown: str, data: SummaryFigures
) -> SummaryDocument:
    """Store this run's text as the next version; a retry of the same run stores nothing new."""
    digest = content_hash(title, markdown, data)
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"summary:{request.district}:{request.year}"},
        )
        existing = (
            await conn.execute(
                text("SELECT version, created_at FROM year_summary WHERE run_key = :r"),
                {"r": request.run_key},
            )
        ).first()
        if existing is None:
            version = (
                await conn.execute(
                    text(
                        "SELECT coalesce(max(version), 0) + 1 FROM year_summary "
                        "WHERE district = :d AND year = :y"
                    ),
                    {"d": request.district, "y": request.year},
                )
            ).scalar()
            created = datetime.now(UTC)
            await conn.execute(
                text(
                    """
                    INSERT INTO year_summary (district, year, version, run_key, title, markdown,
                        figures, content_hash, created_at)
                    VALUES (:d, :y, :v, :r, :t, :m, CAST(:f AS jsonb), :h, :c)
                    """
                ),
                {
                    "d": request.district,
                    "y": request.year,
                    "v": version,
                    "r": request.run_key,
                    "t": title,
                    "m": markdown,
                    "f": data.model_dump_json(),
                    "h": digest,
                    "c": created,
                },
            )
        else:
            version, created = existing
    return SummaryDocument(
        year=request.year,
        district=request.district,
        version=version,
        title=title,
        markdown=markdown,
        figures=data,
        content_hash=digest,
        created_at=created,
    )


async def latest(engine: AsyncEngine, district: str, year: int) -> SummaryDocument | None:
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    text(
                        "SELECT * FROM year_summary WHERE district = :d AND year = :y "
                        "ORDER BY version DESC LIMIT 1"
                    ),
                    {"d": district, "y": year},
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    return SummaryDocument(
        year=row["year"],
        district=row["district"],
        version=row["version"],
        title=row["title"],
        markdown=row["markdown"],
        figures=SummaryFigures.model_validate(row["figures"]),
        content_hash=row["content_hash"],
        created_at=row["created_at"],
    )
