"""The register of shelters (应急避难场所) in PostgreSQL: CSV import (all or nothing), listing,
and resolving a shelter named by its code or its name.

A file has the columns ``code,name,unit,type,capacity,address``; ``unit`` is a registered 街镇 or
村居 (a code, or a name that names one unit), and the shelter belongs to that unit's district.
Importing is an upsert by code: the same file again changes nothing, a changed line updates its
shelter. Every bad line is named at once and nothing is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.shelter import (
    SHELTER_FILE_MAX,
    SHELTERS_MAX,
    ShelterImportResult,
    ShelterRow,
    ShelterView,
)
from yingji.core.errors import DomainRefusal
from yingji.stores import unit as unit_store
from yingji.stores.unit import read_header, resolve_in

COLUMNS = ("code", "name", "unit", "type", "capacity", "address")


class ShelterError(DomainRefusal):
    """Refused as a whole, nothing written; ``errors`` says which line and field, and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ParsedFile:
    rows: list[ShelterRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_csv(content: str | bytes) -> ParsedFile:
    """Check the encoding, the header and each line on its own (no database needed)."""
    if isinstance(content, bytes) and len(content) > SHELTER_FILE_MAX:
        raise ShelterError([f"file: {len(content):,} bytes; at most {SHELTER_FILE_MAX:,}"])
    try:
        body = (
            unit_store.decode(content)
            if isinstance(content, bytes)
            else content.removeprefix("\ufeff")
        )
    except unit_store.UnitError as exc:
        raise ShelterError(exc.errors) from exc
    reader = csv.reader(io.StringIO(body, newline=""))
    parsed = ParsedFile()
    try:
        names, problems = read_header(next(reader, None), COLUMNS, COLUMNS)
        if problems:
            raise ShelterError(problems)
        for raw in reader:
            line = reader.line_num
            if not any(v.strip() for v in raw):
                continue
            if len(parsed.rows) + len(parsed.errors) >= SHELTERS_MAX:
                raise ShelterError([f"file: more than {SHELTERS_MAX:,} shelters; split it"])
            if len(raw) != len(names):
                parsed.errors.append(
                    (line, f"line {line}: has {len(raw)} fields; the header has {len(names)}")
                )
                continue
            try:
                row = ShelterRow.model_validate(dict(zip(names, raw, strict=True)))
            except ValidationError as exc:
                for e in exc.errors():
                    where = ".".join(str(p) for p in e["loc"]) or "line"
                    msg = str(e["msg"]).removeprefix("Value error, ")
                    parsed.errors.append((line, f"line {line}: {where}: {msg}"))
                continue
            parsed.rows.append(row)
            parsed.lines.append(line)
    except csv.Error as exc:
        raise ShelterError([f"line {reader.line_num}: not CSV: {exc}"]) from exc
    if not parsed.rows and not parsed.errors:
        raise ShelterError(["file: no lines under the header"])
    return parsed


_UPSERT = text(
    """
    INSERT INTO shelter AS s (code, name, unit_code, district, type, capacity, address)
    SELECT * FROM unnest(CAST(:code AS text[]), CAST(:name AS text[]), CAST(:unit AS text[]),
        CAST(:district AS text[]), CAST(:type AS text[]), CAST(:capacity AS int[]),
        CAST(:address AS text[]))
    ON CONFLICT (code) DO UPDATE SET
        name = excluded.name, unit_code = excluded.unit_code, district = excluded.district,
        type = excluded.type, capacity = excluded.capacity, address = excluded.address
    WHERE (s.name, s.unit_code, s.district, s.type, s.capacity, s.address) IS DISTINCT FROM
        (excluded.name, excluded.unit_code, excluded.district, excluded.type, excluded.capacity,
         excluded.address)
    RETURNING (xmax = 0) AS created
    """
)


async def import_rows(
    engine: AsyncEngine,
    rows: Sequence[ShelterRow],
    lines: Sequence[int] | None = None,
    earlier: ParsedFile | None = None,
    district: str | None = None,
) -> ShelterImportResult:
    """Upsert the shelters by code, all or nothing; each unit must be a registered 街镇 or 村居
    (looked up in ``district`` only, when given)."""
    where = (
        [f"line {n}" for n in lines]
        if lines is not None
        else [f"shelters[{i}]" for i in range(len(rows))]
    )
    errors: list[tuple[int, str]] = list(earlier.errors) if earlier else []
    number = [lines[i] if lines is not None else i for i in range(len(rows))]
    async with engine.begin() as conn:
        named = await resolve_in(conn, district, [r.unit for r in rows])
        codes = sorted({c for c in named.codes.values()})
        units = {
            u.code: u
            for u in await conn.execute(
                text("SELECT code, name, level, district FROM admin_unit WHERE code = ANY(:c)"),
                {"c": codes},
            )
        }
        # A code another district registered stays theirs: an import never moves a shelter.
        owners = {
            r.code: r.district
            for r in await conn.execute(
                text("SELECT code, district FROM shelter WHERE code = ANY(:c)"),
                {"c": [r.code for r in rows]},
            )
        }
        seen: dict[str, int] = {}
        values: dict[str, list[Any]] = {k: [] for k in ("code", "name", "unit", "district")}
        values.update({"type": [], "capacity": [], "address": []})
        for i, r in enumerate(rows):
            code = named.codes.get(r.unit.strip())
            if r.unit in named.ambiguous:
                errors.append((number[i], f"{where[i]}: {named.ambiguous[r.unit]}"))
                continue
            unit = units.get(code) if code else None
            if unit is None:
                of = f" of {district}" if district else ""
                errors.append(
                    (number[i], f"{where[i]}: unit: '{r.unit}' is not a registered 街镇/村居{of}")
                )
                continue
            if unit.level not in ("town", "village"):
                errors.append(
                    (
                        number[i],
                        f"{where[i]}: unit: {unit.name} ({unit.code}) is a {unit.level}; a shelter "
                        "belongs to a 街镇 or 村居",
                    )
                )
                continue
            owner = owners.get(r.code)
            if owner is not None and owner != unit.district:
                errors.append(
                    (
                        number[i],
                        f"{where[i]}: code: {r.code} is a shelter of {owner}; "
                        f"a shelter of {unit.district} needs a code of its own",
                    )
                )
                continue
            if r.code in seen:
                errors.append(
                    (number[i], f"{where[i]}: code: {r.code} is already on {where[seen[r.code]]}")
                )
                continue
            seen[r.code] = i
            for k, v in (
                ("code", r.code),
                ("name", r.name),
                ("unit", unit.code),
                ("district", unit.district),
                ("type", r.type),
                ("capacity", r.capacity),
                ("address", r.address),
            ):
                values[k].append(v)
        if errors:
            raise ShelterError([m for _, m in sorted(errors, key=lambda e: e[0])])
        result = (await conn.execute(_UPSERT, values)).scalars().all()
    created = sum(1 for c in result if c)
    updated = len(result) - created
    return ShelterImportResult(
        created=created, updated=updated, unchanged=len(rows) - created - updated
    )


async def import_csv(
    engine: AsyncEngine, content: str | bytes, district: str | None = None
) -> ShelterImportResult:
    parsed = read_csv(content)
    return await import_rows(engine, parsed.rows, parsed.lines, parsed, district)


_VIEW = """
    SELECT s.code, s.name, s.unit_code, coalesce(u.name, '') AS unit_name,
        CASE WHEN u.level = 'village' AND p.code IS NOT NULL THEN p.code ELSE s.unit_code END
            AS town_code,
        CASE WHEN u.level = 'village' AND p.code IS NOT NULL THEN p.name
             ELSE coalesce(u.name, '') END AS town_name,
        s.district, s.type, s.capacity, s.address
    FROM shelter s LEFT JOIN admin_unit u ON u.code = s.unit_code
    LEFT JOIN admin_unit p ON p.code = u.parent_code
"""


async def list_shelters(
    engine: AsyncEngine, district: str | None = None, unit: str | None = None
) -> list[ShelterView]:
    """The register, by 街镇, unit and code; ``unit`` (a code or name) narrows it to that unit
    and, for a 街镇, its 村居."""
    async with engine.connect() as conn:
        code = None
        if unit:
            named = await resolve_in(conn, district, [unit])
            if unit.strip() in named.ambiguous:
                raise ShelterError([named.ambiguous[unit.strip()]])
            code = named.codes.get(unit.strip())
            if code is None:
                unknown = ShelterError([f"unit: '{unit}' is not a registered 街镇/村居"])
                unknown.status = 404
                raise unknown
        rows = await conn.execute(
            text(
                f"""
                SELECT * FROM ({_VIEW}) v
                WHERE (CAST(:d AS text) IS NULL OR v.district = :d)
                  AND (CAST(:u AS text) IS NULL OR v.unit_code = :u OR v.town_code = :u)
                ORDER BY v.town_code, v.unit_code, v.code
                """
            ),
            {"d": district, "u": code},
        )
        return [ShelterView.model_validate(dict(r)) for r in rows.mappings()]


async def resolve_shelters(
    conn: AsyncConnection, district: str, texts: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """Each text's shelter code in the district (an exact code first, else a name that names
    one shelter there), and the messages for those that name none or several."""
    wanted = list(dict.fromkeys(t.strip() for t in texts))
    found: dict[str, str] = {}
    problems: list[str] = []
    rows = (
        await conn.execute(
            text(
                "SELECT code, name FROM shelter WHERE district = :d "
                "AND (code = ANY(:t) OR name = ANY(:t)) ORDER BY code"
            ),
            {"d": district, "t": wanted},
        )
    ).all()
    by_code = {r.code for r in rows}
    by_name: dict[str, list[str]] = {}
    for r in rows:
        by_name.setdefault(r.name, []).append(r.code)
    for t in wanted:
        if t in by_code:
            found[t] = t
        elif len(by_name.get(t, [])) == 1:
            found[t] = by_name[t][0]
        elif t in by_name:
            problems.append(f"shelters: '{t}' names {', '.join(by_name[t])}; use the code")
        else:
            problems.append(f"shelters: '{t}' is not a registered shelter of {district}")
    return found, problems
