"""The officer roster: CSV import (all or nothing), listing, and the units it leaves uncovered.

The roster keeps its history. Each row of ``officer`` holds from ``valid_from`` until
``valid_to`` (the first day it no longer holds; NULL: it still holds): the roster on a day is
the rows that hold on it (``as_of``, default today in China).

An import is the whole roster of the districts its units belong to, on its day: the file's
``valid_from`` (the latest, when lines give one) or else the import's date. That day is kept
(``officer_roster_day``), and the file says who served from it until the district's next roster
day (for a roster of today: from now on). Over that time:

- an officer of those districts who is not in the file is not serving (their row is closed);
- a line whose phone, email or 在岗 differs from the officer's row closes the row and opens a new
  one (a changed role is another officer: (unit, role, name) names one);
- a line that says what the row says changes nothing: importing the same file twice, or again
  later, writes nothing.

A line holds from its own ``valid_from`` (default: the file's day) until its own ``valid_to``, or
else until the next roster day or whatever the history already says about that officer after it.
So a past year's roster loaded after a later one (``yingji load``) fills in the past and leaves
the later rosters as they are: its officers are not today's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.common import CHINA_TZ
from models.officer import OfficerRow
from yingji.core.errors import DomainRefusal, plain_reason
from yingji.core.tables import Officer
from yingji.stores.unit import resolve_in

COLUMNS = ("unit", "role", "name", "phone", "email", "active", "valid_from", "valid_to")
_TRUE = {"1", "true", "yes", "y", "是", "在岗", ""}
_FALSE = {"0", "false", "no", "n", "否", "离岗"}

#: Imports run one at a time (each reads the districts' history, then rewrites it).
IMPORT_LOCK = 0x4F4646494345  # "OFFICE"

#: A row that holds on :as_of (the query's parameter), for a table aliased ``o``.
HOLDS = "o.valid_from <= :as_of AND (o.valid_to IS NULL OR o.valid_to > :as_of)"


def today() -> date:
    """Today in China: the default day of an import and of every roster query."""
    return datetime.now(CHINA_TZ).date()


class RosterError(DomainRefusal):
    """The file is refused as a whole; ``errors`` says which line and field, and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_csv(content: str) -> list[OfficerRow]:
    """Parse and validate every line; refuse the whole file if any line is wrong."""
    rows, _, errors = parse_lines(content)
    if errors:
        raise RosterError([e for _, e in errors])
    return rows


def parse_lines(content: str) -> tuple[list[OfficerRow], list[int], list[tuple[int, str]]]:
    """Every line checked on its own: (the good rows, their line numbers, (line, error) of the
    bad ones)."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = [c for c in ("unit", "role", "name", "phone") if c not in (reader.fieldnames or [])]
    if missing:
        return [], [], [(1, f"header: missing column(s) {', '.join(missing)}")]
    rows: list[OfficerRow] = []
    lines: list[int] = []
    errors: list[tuple[int, str]] = []
    for line, raw in enumerate(reader, start=2):
        data: dict[str, Any] = {k: (raw.get(k) or "").strip() for k in COLUMNS if k in raw}
        active = str(data.pop("active", "")).lower()
        if active not in _TRUE | _FALSE:
            errors.append((line, f"line {line}: active: '{active}' is not yes/no"))
            continue
        data["active"] = active in _TRUE
        for optional in ("email", "valid_from", "valid_to"):
            data[optional] = data.get(optional) or None
        try:
            rows.append(OfficerRow.model_validate(data))
            lines.append(line)
        except ValidationError as exc:
            for e in exc.errors():
                where = ".".join(map(str, e["loc"]))
                message = plain_reason(e)  # type: ignore[arg-type]
                errors.append(
                    (
                        line,
                        f"line {line}: {where}: {message}" if where else f"line {line}: {message}",
                    )
                )
    return rows, lines, errors


async def import_csv(engine: AsyncEngine, content: str, district: str | None = None) -> int:
    """Import a roster file: every problem of every line at once, each with its line (a bad
    field, a unit not in the register or named ambiguously), or nothing is written."""
    rows, lines, errors = parse_lines(content)
    if rows:
        async with engine.connect() as conn:
            named = await resolve_in(conn, district, [r.unit for r in rows])
        where = f" of {district}" if district else ""
        for row, line in zip(rows, lines, strict=True):
            unit = row.unit.strip()
            if unit in named.unknown:
                errors.append(
                    (line, f"line {line}: unit: '{unit}' is not a registered 街镇/村居{where}")
                )
            elif unit in named.ambiguous:
                errors.append((line, f"line {line}: {named.ambiguous[unit]}"))
    if errors:
        raise RosterError([e for _, e in sorted(errors, key=lambda x: x[0])])
    return await import_rows(engine, rows, district)


# -- history -----------------------------------------------------------------------------------

Key = tuple[str, str, str]  # (unit code, role, name)
Content = tuple[str, str | None, bool]  # (phone, email, active)


@dataclass(frozen=True)
class Span:
    """One row of an officer's history: ``content`` held over [valid_from, valid_to)."""

    valid_from: date
    valid_to: date | None
    content: Content

    @property
    def end(self) -> date:
        return self.valid_to or date.max

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day < self.end


def _tidy(spans: Iterable[Span]) -> list[Span]:
    """In order, without spans that hold on no day, adjacent equal spans merged."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: s.valid_from):
        if s.valid_from >= s.end:
            continue
        if out and out[-1].valid_to == s.valid_from and out[-1].content == s.content:
            out[-1] = replace(out[-1], valid_to=s.valid_to)
        else:
            out.append(s)
    return out


def absent(spans: list[Span], start: date, end: date | None) -> list[Span]:
    """The history with nothing holding over [start, end) (``end`` None: from ``start`` on)."""
    stop = end or date.max
    if start >= stop:
        return list(spans)
    out: list[Span] = []
    for s in spans:
        if s.end <= start or s.valid_from >= stop:
            out.append(s)
            continue
        if s.valid_from < start:
            out.append(replace(s, valid_to=start))
        if s.end > stop:
            out.append(replace(s, valid_from=stop))
    return out


def holding(
    spans: list[Span],
    start: date,
    end: date | None,
    content: Content,
    day: date,
    until: date | None,
) -> list[Span]:
    """The history with ``content`` holding over [start, end), for a roster of ``day``.
    Without ``end``: until the district's next roster day ``until``, or sooner where the
    history already says otherwise after ``day`` (a later row of the officer begins, or the row
    that holds on ``day`` ends): an earlier roster never overrides what a later one recorded."""
    if end is None:
        bounds = [until] if until is not None else []
        bounds += [s.valid_from for s in spans if s.valid_from > day]
        bounds += [s.valid_to for s in spans if s.holds_on(day) and s.valid_to is not None]
        end = min(bounds, default=None)
    return _tidy([*absent(spans, start, end), Span(start, end, content)])


async def import_rows(
    engine: AsyncEngine,
    rows: list[OfficerRow],
    district: str | None = None,
    on: date | None = None,
) -> int:
    """Import a roster; every unit must be in the registry, or nothing is written.

    A line's unit is a code, or a name that names one unit (in ``district``, or in any district
    when none is given); the officer is stored under the unit's code. ``on``: the import's date
    (default today in China); the file's ``valid_from``, when lines give one, is its day instead
    (see the module's docstring). Returns the number of lines."""
    async with engine.begin() as conn:
        named = await resolve_in(conn, district, [r.unit for r in rows])
        problems = named.problems(district)
        if problems:
            raise RosterError(sorted(set(problems)))
        if not rows:
            return 0
        starts = [r.valid_from for r in rows if r.valid_from is not None]
        day = max(starts) if starts else (on or today())
        # One line per officer: a unit named once by its name and once by its code is one unit
        # (the later line wins, as a second import would).
        lines = {(named.codes[r.unit], r.role.value, r.name): r for r in rows}
        errors = [
            f"{'/'.join(key)}: valid_to: {r.valid_to} is not after the day it starts "
            f"({r.valid_from or day})"
            for key, r in lines.items()
            if r.valid_to is not None and r.valid_to <= (r.valid_from or day)
        ]
        if errors:
            raise RosterError(errors)
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
        codes = sorted({code for code, _, _ in lines})
        districts = await _districts(conn, codes)
        before = await _histories(conn, sorted(set(districts.values())))
        next_day = await _next_roster_days(conn, sorted(set(districts.values())), day)
        after: dict[Key, list[Span]] = {}
        for key, spans in before.items():
            if key not in lines:  # not serving from the file's day to the next roster day
                after[key] = absent(spans, day, next_day.get(districts[key[0]]))
        for key, r in lines.items():
            until = next_day.get(districts[key[0]])
            start = r.valid_from or day
            content = (r.phone, r.email, r.active)
            spans = holding(before.get(key, []), start, r.valid_to, content, day, until)
            if r.valid_to is not None:  # gone by then, until the next roster day
                spans = _tidy(absent(spans, max(r.valid_to, day), until))
            after[key] = spans
        await _write(conn, before, after)
        await conn.execute(
            text(
                "INSERT INTO officer_roster_day (district, day, imported_at) "
                "SELECT unnest(CAST(:d AS text[])), CAST(:day AS date), CAST(:now AS timestamptz) "
                "ON CONFLICT DO NOTHING"
            ),
            {"d": sorted(set(districts.values())), "day": day, "now": datetime.now(UTC)},
        )
    return len(rows)


async def _districts(conn: AsyncConnection, codes: list[str]) -> dict[str, str]:
    """unit code → its district, for every unit of the districts of ``codes``."""
    result = await conn.execute(
        text(
            "SELECT code, district FROM admin_unit WHERE district IN "
            "(SELECT district FROM admin_unit WHERE code = ANY(:codes))"
        ),
        {"codes": codes},
    )
    return {code: district for code, district in result}


async def _next_roster_days(
    conn: AsyncConnection, districts: list[str], day: date
) -> dict[str, date]:
    """Each district's first roster day after ``day`` (none: the file is the latest)."""
    result = await conn.execute(
        text(
            "SELECT district, min(day) FROM officer_roster_day "
            "WHERE district = ANY(:d) AND day > :day GROUP BY district"
        ),
        {"d": districts, "day": day},
    )
    return {district: first for district, first in result}


async def _histories(conn: AsyncConnection, districts: list[str]) -> dict[Key, list[Span]]:
    """Every officer's history in ``districts``, locked for the import."""
    result = await conn.execute(
        text(
            """
            SELECT o.unit_code, o.role, o.name, o.valid_from, o.valid_to, o.phone, o.email,
                   o.active
            FROM officer o JOIN admin_unit u ON u.code = o.unit_code
            WHERE u.district = ANY(:d)
            ORDER BY o.unit_code, o.role, o.name, o.valid_from
            FOR UPDATE OF o
            """
        ),
        {"d": districts},
    )
    out: dict[Key, list[Span]] = {}
    for r in result:
        out.setdefault((r.unit_code, r.role, r.name), []).append(
            Span(r.valid_from, r.valid_to, (r.phone, r.email, r.active))
        )
    return out


async def _write(
    conn: AsyncConnection, before: dict[Key, list[Span]], after: dict[Key, list[Span]]
) -> None:
    """Delete the rows that changed, insert their replacements; leave the others alone."""
    gone: list[tuple[str, str, str, date]] = []
    new: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for key, spans in after.items():
        old = set(before.get(key, []))
        gone += [(*key, s.valid_from) for s in old - set(spans)]
        new += [
            {
                "unit_code": key[0],
                "role": key[1],
                "name": key[2],
                "valid_from": s.valid_from,
                "valid_to": s.valid_to,
                "phone": s.content[0],
                "email": s.content[1],
                "active": s.content[2],
                "updated_at": now,
            }
            for s in spans
            if s not in old
        ]
    if gone:
        await conn.execute(
            text(
                """
                DELETE FROM officer o
                USING unnest(CAST(:u AS text[]), CAST(:r AS text[]), CAST(:n AS text[]),
                             CAST(:f AS date[])) AS g(unit_code, role, name, valid_from)
                WHERE (o.unit_code, o.role, o.name, o.valid_from)
                    = (g.unit_code, g.role, g.name, g.valid_from)
                """
            ),
            {k: [g[i] for g in gone] for i, k in enumerate(("u", "r", "n", "f"))},
        )
    if new:
        await conn.execute(Officer.__table__.insert(), new)


# -- the roster on a day -----------------------------------------------------------------------


async def list_officers(
    engine: AsyncEngine, district: str | None = None, as_of: date | None = None
) -> list[dict[str, Any]]:
    """The roster as it stood on ``as_of`` (default today), by unit."""
    query = f"""
        SELECT o.unit_code, u.name AS unit_name, u.level, o.role, o.name, o.phone, o.email,
               o.active, o.valid_from, o.valid_to
        FROM officer o JOIN admin_unit u ON u.code = o.unit_code
        WHERE (CAST(:d AS text) IS NULL OR u.district = :d) AND {HOLDS}
        ORDER BY coalesce(u.parent_code, u.code), u.code, o.role, o.name
    """
    params = {"d": district, "as_of": as_of or today()}
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(query), params)).mappings()]


@dataclass(frozen=True)
class Gap:
    unit_code: str
    unit_name: str
    level: str
    missing: str  # "A and B", "A" or "B"


async def gaps(engine: AsyncEngine, district: str, as_of: date | None = None) -> list[Gap]:
    """街镇 and 村居 with no active officer at all, or with no active A (primary) officer, on
    ``as_of`` (default today)."""
    query = f"""
        SELECT u.code, u.name, u.level,
               bool_or(o.active AND o.role = 'A') AS has_a,
               bool_or(o.active AND o.role = 'B') AS has_b
        FROM admin_unit u LEFT JOIN officer o ON o.unit_code = u.code AND {HOLDS}
        WHERE u.district = :d AND u.level IN ('town', 'village')
        GROUP BY u.code, u.name, u.level
        ORDER BY u.code
    """
    async with engine.connect() as conn:
        rows = (await conn.execute(text(query), {"d": district, "as_of": as_of or today()})).all()
    out = []
    for code, name, level, has_a, has_b in rows:
        if not has_a:
            out.append(Gap(code, name, level, "A" if has_b else "A and B"))
    return out


async def contacts(
    engine: AsyncEngine, units: list[str], as_of: date | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """unit → role → the first active officer (name, phone, email) on ``as_of`` (default
    today)."""
    query = f"""
        SELECT DISTINCT ON (o.unit_code, o.role) o.unit_code, o.role, o.name, o.phone, o.email
        FROM officer o WHERE o.active AND o.unit_code = ANY(:u) AND {HOLDS}
        ORDER BY o.unit_code, o.role, o.name
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    async with engine.connect() as conn:
        params = {"u": units, "as_of": as_of or today()}
        for r in (await conn.execute(text(query), params)).mappings():
            out.setdefault(r["unit_code"], {})[r["role"]] = dict(r)
    return out
