"""The officer roster: CSV import (all or nothing), listing, and the units it leaves uncovered."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from models.officer import OfficerRow
from yingji.core.errors import DomainRefusal
from yingji.core.tables import Officer
from yingji.stores.unit import resolve_in

COLUMNS = ("unit", "role", "name", "phone", "email", "active")
_TRUE = {"1", "true", "yes", "y", "是", "在岗", ""}
_FALSE = {"0", "false", "no", "n", "否", "离岗"}


class RosterError(DomainRefusal):
    """The file is refused as a whole; ``errors`` says which line and field, and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_csv(content: str) -> list[OfficerRow]:
    """Parse and validate every line; refuse the whole file if any line is wrong."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = [c for c in ("unit", "role", "name", "phone") if c not in (reader.fieldnames or [])]
    if missing:
        raise RosterError([f"header: missing column(s) {', '.join(missing)}"])
    rows: list[OfficerRow] = []
    errors: list[str] = []
    for line, raw in enumerate(reader, start=2):
        data: dict[str, Any] = {k: (raw.get(k) or "").strip() for k in COLUMNS if k in raw}
        active = str(data.pop("active", "")).lower()
        if active not in _TRUE | _FALSE:
            errors.append(f"line {line}: active: '{active}' is not yes/no")
            continue
        data["active"] = active in _TRUE
        data["email"] = data.get("email") or None
        try:
            rows.append(OfficerRow.model_validate(data))
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(f"line {line}: {'.'.join(map(str, e['loc']))}: {e['msg']}")
    if errors:
        raise RosterError(errors)
    return rows


async def import_rows(
    engine: AsyncEngine, rows: list[OfficerRow], district: str | None = None
) -> int:
    """Upsert the roster lines; every unit must be in the registry, or nothing is written.

    A line's unit is a code, or a name that names one unit (in ``district``, or in any district
    when none is given); the officer is stored under the unit's code."""
    async with engine.begin() as conn:
        named = await resolve_in(conn, district, [r.unit for r in rows])
        problems = named.problems(district)
        if problems:
            raise RosterError(sorted(set(problems)))
        if not rows:
            return 0
        now = datetime.now(UTC)
        # One row per officer: a unit named once by its name and once by its code is one unit
        # (the later line wins, as a second import would).
        values = {
            (named.codes[r.unit], r.role.value, r.name): {
                "unit_code": named.codes[r.unit],
                "role": r.role.value,
                "name": r.name,
                "phone": r.phone,
                "email": r.email,
                "active": r.active,
                "updated_at": now,
            }
            for r in rows
        }
        stmt = insert(Officer.__table__).values(list(values.values()))
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["unit_code", "role", "name"],
                set_={k: stmt.excluded[k] for k in ("phone", "email", "active", "updated_at")},
            )
        )
    return len(rows)


async def list_officers(engine: AsyncEngine, district: str | None = None) -> list[dict[str, Any]]:
    query = """
        SELECT o.unit_code, u.name AS unit_name, u.level, o.role, o.name, o.phone, o.email,
               o.active
        FROM officer o JOIN admin_unit u ON u.code = o.unit_code
        WHERE (CAST(:d AS text) IS NULL OR u.district = :d)
        ORDER BY coalesce(u.parent_code, u.code), u.code, o.role, o.name
    """
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(query), {"d": district})).mappings()]


@dataclass(frozen=True)
class Gap:
    unit_code: str
    unit_name: str
    level: str
    missing: str  # "A and B", "A" or "B"


async def gaps(engine: AsyncEngine, district: str) -> list[Gap]:
    """街镇 and 村居 with no active officer at all, or with no active A (primary) officer."""
    query = """
        SELECT u.code, u.name, u.level,
               bool_or(o.active AND o.role = 'A') AS has_a,
               bool_or(o.active AND o.role = 'B') AS has_b
        FROM admin_unit u LEFT JOIN officer o ON o.unit_code = u.code
        WHERE u.district = :d AND u.level IN ('town', 'village')
        GROUP BY u.code, u.name, u.level
        ORDER BY u.code
    """
    async with engine.connect() as conn:
        rows = (await conn.execute(text(query), {"d": district})).all()
    out = []
    for code, name, level, has_a, has_b in rows:
        if not has_a:
            out.append(Gap(code, name, level, "A" if has_b else "A and B"))
    return out


async def contacts(engine: AsyncEngine, units: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """unit → role → the first active officer (name, phone, email)."""
    query = """
        SELECT DISTINCT ON (unit_code, role) unit_code, role, name, phone, email
        FROM officer WHERE active AND unit_code = ANY(:u) ORDER BY unit_code, role, name
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for r in (await conn.execute(text(query), {"u": units})).mappings():
            out.setdefault(r["unit_code"], {})[r["role"]] = dict(r)
    return out
