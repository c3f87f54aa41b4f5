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
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.common import CHINA_TZ
from models.drill import DrillScope, DrillType, Frequency
from models.summary import (
    DrillFigure,
    EventFigure,
    ProgrammeFigure,
    RevisedPlan,
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

#: A plan or drill is counted as the bureau's when its district is an alias (NULL: the bureau's).
_MINE = "JOIN {scope} s ON s.alias = coalesce({t}.district, :district)"

#: Kinds the bureau (or a government it serves) makes; the others it receives for filing.
MADE_KINDS = ("overall", "special", "departmental", "grassroots")
RECEIVED_KINDS = ("enterprise", "on_site")

_QUERIES = {
    "made": f"""
        SELECT p.kind, p.level, s.jlevel, s.unit, count(*) AS n
        FROM plan_event e JOIN plan p ON p.code = e.plan_code
        {_MINE.format(scope=_SCOPE, t="p")}
        WHERE e.kind = 'issued' AND e.version = 1 AND p.kind = ANY(:made_kinds)
          AND (e.detail->>'issued_on')::date BETWEEN :first AND :last
        GROUP BY p.kind, p.level, s.jlevel, s.unit
    """,
    "received": f"""
        SELECT count(DISTINCT (e.plan_code, e.version)) AS n
        FROM plan_event e JOIN plan p ON p.code = e.plan_code
        {_MINE.format(scope=_SCOPE, t="p")}
        WHERE e.kind = 'filed' AND p.kind = ANY(:received_kinds)
          AND (e.detail->>'filed_on')::date BETWEEN :first AND :last
    """,
    "revised": f"""
        SELECT p.code, p.kind, p.level, p.name, p.short_name, s.jlevel, s.unit, r.version
        FROM plan_revision r JOIN plan p ON p.code = r.plan_code
        {_MINE.format(scope=_SCOPE, t="p")}
        WHERE r.started_at >= :start AND r.started_at < :end
        ORDER BY r.started_at, p.code, r.version
    """,
    # A revised version (v2 and later) issued in the period: the revision is complete.
    "completed": f"""
        SELECT p.code, p.kind, p.name, p.short_name, s.jlevel, s.unit, e.version
        FROM plan_event e JOIN plan p ON p.code = e.plan_code
        {_MINE.format(scope=_SCOPE, t="p")}
        WHERE e.kind = 'issued' AND e.version >= 2
          AND (e.detail->>'issued_on')::date BETWEEN :first AND :last
        ORDER BY (e.detail->>'issued_on')::date, p.code, e.version
    """,
    # Plans issued by the period's end and still standing (not abolished): special plans by
    # jurisdiction level, and whose overall plans exist.
    "standing": f"""
        SELECT p.kind, s.jlevel, s.unit, count(*) AS n
        FROM plan p {_MINE.format(scope=_SCOPE, t="p")}
        WHERE p.kind IN ('special', 'overall') AND p.stage NOT IN ('withdrawn', 'abolished')
          AND EXISTS (SELECT 1 FROM plan_event e WHERE e.plan_code = p.code AND e.kind = 'issued'
                      AND (e.detail->>'issued_on')::date <= :last)
        GROUP BY p.kind, s.jlevel, s.unit
    """,
    "evaluation_overdue": f"""
        SELECT count(*) AS n FROM plan p {_MINE.format(scope=_SCOPE, t="p")}
        WHERE p.kind = ANY(:made_kinds) AND p.evaluation_due <= :last
          AND p.stage NOT IN ('withdrawn', 'abolished')
    """,
    "drills": f"""
        SELECT d.drill_type, s.jlevel, count(*) AS n FROM drill d
        {_MINE.format(scope=_SCOPE, t="d")}
        WHERE d.conducted_on BETWEEN :first AND :last GROUP BY d.drill_type, s.jlevel
    """,
    # Comprehensive drills the bureau itself organised: its name, or a shorter form of it that
    # names its jurisdiction (嘉定区应急管理局 for 上海市嘉定区应急管理局).
    "comprehensive": f"""
        SELECT d.name, d.conducted_on, jsonb_array_length(d.participants) + 1 AS units,
               d.participant_count, s.unit AS district, d.organiser
        FROM drill d {_MINE.format(scope=_SCOPE, t="d")}
        WHERE d.drill_type = ANY(:comprehensive) AND d.conducted_on BETWEEN :first AND :last
          AND s.unit = :district
          AND (d.organiser = :bureau OR (right(:bureau, length(d.organiser)) = d.organiser
                                         AND strpos(d.organiser, :district) > 0))
        ORDER BY d.conducted_on, d.code
    """,
    "programmes": f"""
        SELECT p.programme_id, p.unit, p.items, count(*) AS n
        FROM drill d {_MINE.format(scope=_SCOPE, t="d")}
        JOIN drill_programme p ON p.programme_id = d.programme_id
        WHERE d.conducted_on BETWEEN :first AND :last
        GROUP BY p.programme_id, p.unit, p.items ORDER BY p.programme_id
    """,
    # Closed events of the year, over by the period's end; each with the disaster processes of
    # its district and hazard that began while it ran (a process does not name its event in
    # PostgreSQL), and how many of them have a 核报 that passed review by then.
    "events": """
        SELECT e.event_id, e.name, e.number, {hazard} AS hazard,
               coalesce(t.pre_evacuated, 0) AS pre_evacuated, coalesce(t.relocated, 0) AS relocated,
               coalesce(t.centralized, 0) AS centralized, coalesce(t.dispersed, 0) AS dispersed,
               coalesce(t.shelters_open, 0) AS shelters_open,
               count(d.code) AS processes,
               count(d.code) FILTER (WHERE EXISTS (
                   SELECT 1 FROM disaster_report r WHERE r.disaster_code = d.code
                   AND r.kind = 'final' AND r.status = 'passed' AND r.submitted_at < :end
               )) AS processes_final
        FROM typhoon_event e LEFT JOIN typhoon_totals t ON t.event_id = e.event_id
        LEFT JOIN disaster d ON d.district = e.district AND (
            d.typhoon_event_id = e.event_id
            -- a process linked to no typhoon: by its hazard and its time
            OR (d.typhoon_event_id IS NULL AND strpos(d.hazard, {hazard}) > 0
                AND d.occurred_at >= e.opened_at - interval '1 day'
                AND d.occurred_at <= e.closed_at))
        WHERE e.year = :year AND e.district = ANY(:aliases)
          -- only events over by the period's end; for a whole past year, by now (a year's
          -- typhoon entered late)
          AND e.status = 'closed'
          AND (e.closed_at < :end OR (CAST(:whole_year AS boolean) AND :end <= now()))
        GROUP BY e.event_id, t.event_id
        ORDER BY e.number, e.event_id
    """,
    # Reports as the bureau counts them: a report the level above sent back (退回) is counted
    # apart, and the one sent again in its place is the report of its slot.
    "reports": """
        SELECT r.kind, count(*) FILTER (WHERE r.status <> 'rejected') AS n,
               count(*) FILTER (WHERE r.late AND r.status <> 'rejected') AS late,
               count(*) FILTER (WHERE r.status = 'rejected') AS rejected,
               -- the year's losses, from the 核报 that passed review (in the same pass)
               count(*) FILTER (WHERE r.kind = 'final' AND r.status = 'passed') AS finals,
               coalesce(sum((r.indicators->>'affected')::bigint)
                   FILTER (WHERE r.kind = 'final' AND r.status = 'passed'), 0) AS affected,
               coalesce(sum((r.indicators->>'relocated')::bigint)
                   FILTER (WHERE r.kind = 'final' AND r.status = 'passed'), 0) AS relocated,
               coalesce(sum((r.indicators->>'direct_loss')::numeric)
                   FILTER (WHERE r.kind = 'final' AND r.status = 'passed'), 0) AS direct_loss
        FROM disaster_report r JOIN disaster d ON d.code = r.disaster_code
        WHERE d.district = ANY(:aliases) AND r.submitted_at >= :start AND r.submitted_at < :end
        GROUP BY r.kind
    """,
    "processes": """
        SELECT count(*) AS n FROM disaster d
        WHERE d.district = ANY(:aliases) AND EXISTS (
            SELECT 1 FROM disaster_report r WHERE r.disaster_code = d.code
            AND r.submitted_at >= :start AND r.submitted_at < :end)
    """,
    # 街镇 and 村居 hold officers: a city's or a district's own row is never a gap.
    "officers": """
        SELECT u.level, count(o.name) FILTER (WHERE o.active) AS officers,
               count(DISTINCT u.code) AS units,
               count(DISTINCT u.code) FILTER (WHERE o.active) AS covered
        FROM admin_unit u LEFT JOIN officer o ON o.unit_code = u.code
          -- the roster as it stood on the period's last day (the history of officer rows)
          AND o.valid_from <= :last AND (o.valid_to IS NULL OR o.valid_to > :last)
        WHERE u.district = ANY(:aliases) AND u.level NOT IN ('city', 'district')
        GROUP BY u.level
    """,
    # 叫应: one round per warning issued; the people called are its chains (a fanned-out
    # warning: one responsible post each, warning_chain) or its calls (the older WarningCall);
    # answered: by the person first called, within the window.
    "warnings": """
        WITH w AS (
            SELECT warning_id, targets, answered FROM warning
            WHERE district = ANY(:aliases) AND issued_at >= :start AND issued_at < :end
        ), chains AS (
            SELECT c.warning_id, count(*) AS called,
                   count(*) FILTER (WHERE c.status = 'answered') AS answered
            FROM warning_chain c JOIN w USING (warning_id) GROUP BY c.warning_id
        ), calls AS (
            SELECT k.warning_id, count(*) AS called,
                   count(*) FILTER (WHERE k.status = 'answered') AS answered
            FROM warning_call k JOIN w USING (warning_id) GROUP BY k.warning_id
        )
        SELECT count(*) AS warnings,
               coalesce(sum(coalesce(chains.called, calls.called, w.targets)), 0) AS called,
               coalesce(sum(coalesce(chains.answered, calls.answered, w.answered)), 0) AS answered
        FROM w LEFT JOIN chains USING (warning_id) LEFT JOIN calls USING (warning_id)
    """,
    "actions": f"""
        SELECT count(*) FILTER (WHERE a.done_on BETWEEN :first AND :last) AS done,
               count(*) FILTER (WHERE a.done_on IS NULL OR a.done_on > :last) AS open
        FROM corrective_action a JOIN drill d ON d.code = a.drill_code
        {_MINE.format(scope=_SCOPE, t="d")}
        WHERE d.conducted_on <= :last
          AND (d.conducted_on >= :first OR a.done_on IS NULL OR a.done_on >= :first)
    """,
}

COMPREHENSIVE = [t.value for t in DrillType if t.scope is DrillScope.COMPREHENSIVE]

#: Affixes taken off a plan's title to name its topic when it has no 简称.
_PREFIXES = ("突发事件",)
_SUFFIXES = ("专项应急预案", "部门应急预案", "应急预案", "预案", "工作")


def topic(name: str, short_name: str | None, places: list[str]) -> str:
    """A plan's topic: its 简称, else its title without jurisdiction, year and "应急预案"
    (嘉定区地震应急预案 → 地震); the whole title when nothing would be left."""
    if short_name:
        return short_name
    rest = re.sub(r"[（(][^）)]*[）)]$", "", name)  # （2022年修订）
    for place in sorted((p for p in places if p), key=len, reverse=True):
        if rest.startswith(place):
            rest = rest[len(place) :]
            break
    for prefix in _PREFIXES:
        rest = rest.removeprefix(prefix)
    for suffix in _SUFFIXES:
        if rest.endswith(suffix):
            rest = rest[: -len(suffix)]
            break
    return rest or name


def _tally(rows: list[Any], key: str, count: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + (r[count] if count else 1)
    return dict(sorted(out.items()))


def _bounds(year: int, district: str, as_of: date | None = None) -> dict[str, Any]:
    last = as_of or date(year, 12, 31)
    return {
        "year": year,
        "district": district,
        "first": date(year, 1, 1),
        "last": last,
        "start": datetime(year, 1, 1, tzinfo=CHINA_TZ),
        "end": datetime.combine(last + timedelta(days=1), time(), tzinfo=CHINA_TZ),
        "made_kinds": list(MADE_KINDS),
        "received_kinds": list(RECEIVED_KINDS),
        "comprehensive": COMPREHENSIVE,
        # The whole year: an event of the year closed after it (entered late) still counts.
        "whole_year": last == date(year, 12, 31),
    }


#: An event's hazard as stored (0018) and as the bureau writes it (a disaster process's hazard
#: is free text: 台风, 暴雨洪涝, …).
HAZARDS = {"typhoon": "台风", "rainstorm": "暴雨", "cold_wave": "寒潮"}


#: An event's hazard in the bureau's words, in SQL over ``typhoon_event e``.
HAZARD_SQL = (
    "(CASE e.hazard "
    + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in HAZARDS.items())
    + " ELSE e.hazard END)"
)


def _pattern(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        try:
            frequency = Frequency(item.get("frequency")).label
        except ValueError:
            frequency = ""
        out.append(f"{frequency}{item.get('title', '')}"[:200])
    return out[:20]


async def figures(
    source: AsyncEngine | AsyncConnection,
    year: int,
    district: str,
    level: str = "district",
    as_of: date | None = None,
    bureau: str = "",
) -> SummaryFigures:
    """Every figure of the year, up to ``as_of`` (default 31 December), for the bureau of
    ``district`` at ``level`` (``district`` or ``city``) named ``bureau`` (whose own drills are
    named); ``source`` may be a connection inside a caller's transaction."""
    params = _bounds(year, district, as_of)
    params["bureau"] = bureau
    async with _connection(source) as conn:
        scope = await jurisdiction(conn, district, level)
        params.update(aliases=scope.aliases, units=scope.units, jlevels=scope.levels)

        async def q(name: str) -> list[Any]:
            sql = _QUERIES[name].replace("{hazard}", HAZARD_SQL)
            return list((await conn.execute(text(sql), params)).mappings())

        made = await q("made")
        received = (await q("received"))[0]
        revised = await q("revised")
        completed = await q("completed")
        standing = await q("standing")
        overdue = (await q("evaluation_overdue"))[0]
        drills = await q("drills")
        comprehensive = await q("comprehensive")
        programmes = await q("programmes")
        events = await q("events")
        reports = await q("reports")
        processes = (await q("processes"))[0]["n"]
        losses = {
            key: sum(r[key] for r in reports)
            for key in ("finals", "affected", "relocated", "direct_loss")
        }
        officers = await q("officers")
        warnings = (await q("warnings"))[0]
        actions = (await q("actions"))[0]
    places = [district, *scope.aliases]

    def revised_plan(r: Any) -> RevisedPlan:
        return RevisedPlan(
            code=r["code"],
            kind=r["kind"],
            jlevel=r["jlevel"],
            topic=topic(r["name"], r["short_name"], [r["unit"], *places])[:200],
            version=r["version"],
        )

    by_kind = _tally(made, "kind", "n")
    by_level = _tally(made, "level", "n")
    by_jurisdiction = {
        jlevel: _tally([r for r in made if r["jlevel"] == jlevel], "kind", "n")
        for jlevel in sorted({r["jlevel"] for r in made})
    }
    typhoons = [e for e in events if e["hazard"] == "台风"]
    by_report_kind = {r["kind"]: r["n"] for r in reports}
    late = sum(r["late"] for r in reports)
    submitted = sum(r["n"] for r in reports)
    officers_by_level = {r["level"]: r for r in officers}
    form: dict[str, int] = {}
    scope_tally: dict[str, int] = {}
    for r in drills:
        t = DrillType(r["drill_type"])
        if t.form is not None:
            form[t.form.value] = form.get(t.form.value, 0) + r["n"]
        if t.scope is not None:
            scope_tally[t.scope.value] = scope_tally.get(t.scope.value, 0) + r["n"]
    own_overall = {r["unit"] for r in standing if r["kind"] == "overall"}
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
        typhoons=[
            TyphoonFigure(name=e["name"], number=e["number"], relocated=e["relocated"])
            for e in typhoons
        ],
        typhoon_relocated=sum(e["relocated"] for e in typhoons),
        reports_on_time=submitted - late,
        reports_late=late,
        officers=sum(r["officers"] for r in officers),
        officer_units=sum(r["covered"] for r in officers),
        officer_gaps=sum(r["units"] - r["covered"] for r in officers),
        warnings=warnings["warnings"],
        call_targets=warnings["called"],
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
        as_of=params["last"],
        plans_received=received["n"],
        revisions_started_plans=[revised_plan(r) for r in revised],
        revisions_completed_plans=[revised_plan(r) for r in completed],
        special_plans_by_jurisdiction=_tally(
            [r for r in standing if r["kind"] == "special"], "jlevel", "n"
        ),
        city_overall_issued=sum(
            r["n"] for r in standing if r["kind"] == "overall" and r["jlevel"] == "city"
        ),
        districts_overall_issued=len(own_overall & set(scope.districts)),
        drills_by_form=dict(sorted(form.items())),
        drills_by_scope=dict(sorted(scope_tally.items())),
        programmes=[
            ProgrammeFigure(
                programme_id=r["programme_id"],
                unit=r["unit"][:200],
                pattern=_pattern(r["items"]),
                drills=r["n"],
            )
            for r in programmes
        ],
        events=[EventFigure(**dict(e)) for e in events],
        disaster_processes=processes,
        reports_by_kind=by_report_kind,
        reports_rejected=sum(r["rejected"] for r in reports),
        final_reports=losses["finals"],
        affected=losses["affected"],
        relocated_final=losses["relocated"],
        direct_loss=float(round(losses["direct_loss"], 2)),
        units_by_level={k: r["units"] for k, r in sorted(officers_by_level.items())},
        officer_units_by_level={k: r["covered"] for k, r in sorted(officers_by_level.items())},
        calls_not_answered=warnings["called"] - warnings["answered"],
        plans_evaluation_overdue=overdue["n"],
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
