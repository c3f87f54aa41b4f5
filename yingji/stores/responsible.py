"""The register of responsible people (防汛防台责任人): CSV import (all or nothing), listing,
gaps, and the call chains of a warning's 叫应.

A file has the columns ``unit,role,name,phone,order`` (the header is required; UTF-8 with or
without BOM, or GBK, read as the unit register reads its files). ``unit`` is a code or a name
that names one unit of the register (a name shared by two units is refused, naming both with
their codes); ``phone`` is stored normalized (digits and an optional leading ``+``). A person is
``{unit_code}:{role}:{phone}``.

A file is checked whole before anything is written, and every bad line is reported at once
(``line 4: phone: ...``): each line on its own; the same person twice, or two people of one
unit and role at the same order; and, against what is stored, a person already at a line's
order for its unit and role who is not in the file.

Importing is an upsert by person in one transaction: re-importing a file changes nothing; a
changed name or order updates that person. Nobody is deleted, except with ``replace``: then,
for every unit named in the file, the people of that unit who are not in the file (any role)
are deleted, so that the file is the whole list of those units (a changed phone is a new
person: import with ``replace`` to drop the old one).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.responsible import (
    OFFICER_ROLE,
    WHO_CHOICES,
    CallChain,
    Gap,
    ImportResult,
    ResponsiblePerson,
    ResponsibleRow,
    Who,
    normalize_phone,
    person_id,
)
from models.unit import UnitLevel, parse_level
from yingji.core.errors import DomainRefusal, plain_reason
from yingji.stores import officer as roster
from yingji.stores import unit as unit_store
from yingji.stores.unit import read_header, resolve_in

COLUMNS = ("unit", "role", "name", "phone", "order")
#: At most this many people in one file.
MAX_ROWS = 20_000
#: At most this many bytes in one file: the unit register's bound.
MAX_BYTES = unit_store.MAX_BYTES
#: The levels a warning calls: the district lead, each 街镇, each 村居.
CHAIN_LEVELS = ("district", "town", "village")
_LEVELS = {m.value: m for m in UnitLevel}


class ResponsibleError(DomainRefusal):
    """Refused as a whole, nothing written; ``errors`` says which line and field, and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# -- reading a file --


@dataclass
class ParsedFile:
    """The valid lines of a file, their line numbers, and what was wrong with the others."""

    rows: list[ResponsibleRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _message(error: Any) -> str:
    return plain_reason(error)


def read_csv(content: str | bytes) -> ParsedFile:
    """Check the encoding, the header and each line on its own (no database needed). A bad
    encoding, header or size is refused at once; bad lines are kept (``errors``) so that the
    import reports them with its own findings."""
    try:
        body = (
            unit_store.decode(content)
            if isinstance(content, bytes)
            else content.removeprefix("\ufeff")
        )
    except unit_store.UnitError as exc:
        raise ResponsibleError(exc.errors) from exc
    if len(body) > MAX_BYTES:
        raise ResponsibleError([f"file: longer than {MAX_BYTES:,} characters"])
    reader = csv.reader(io.StringIO(body, newline=""))
    parsed = ParsedFile()
    try:
        names, problems = read_header(next(reader, None), COLUMNS, COLUMNS)
        if problems:
            raise ResponsibleError(problems)
        count = 0
        for raw in reader:
            line = reader.line_num
            if not any(v.strip() for v in raw):
                continue  # a blank line
            count += 1
            if count > MAX_ROWS:
                raise ResponsibleError(
                    [f"file: more than {MAX_ROWS:,} people; split it (at most {MAX_ROWS:,} a file)"]
                )
            if len(raw) != len(names):
                parsed.errors.append(
                    (line, f"line {line}: has {len(raw)} fields; the header has {len(names)}")
                )
                continue
            data = dict(zip(names, raw, strict=True))
            try:
                row = ResponsibleRow.model_validate(data)
            except ValidationError as exc:
                for e in exc.errors():
                    where = ".".join(str(p) for p in e["loc"]) or "line"
                    parsed.errors.append((line, f"line {line}: {where}: {_message(e)}"))
                continue
            parsed.rows.append(row)
            parsed.lines.append(line)
    except csv.Error as exc:
        raise ResponsibleError([f"line {reader.line_num}: not CSV: {exc}"]) from exc
    if not parsed.rows and not parsed.errors:
        raise ResponsibleError(["file: no lines under the header"])
    return parsed


# -- importing --


@dataclass(frozen=True)
class _Stored:
    person_id: str
    unit_code: str
    role: str
    name: str
    phone: str
    order: int


_UNITS = text("SELECT code, name, level, district FROM admin_unit WHERE code = ANY(:codes)")

_STORED = text(
    """
    SELECT person_id, unit_code, role, name, phone, "order"
    FROM responsible_person WHERE unit_code = ANY(:codes)
    ORDER BY person_id
    """
)

_UPSERT = text(
    """
    INSERT INTO responsible_person AS p
        (person_id, unit_code, role, name, phone, "order", district, level, updated_at)
    SELECT i, u, r, n, ph, o, d, l, CAST(:now AS timestamptz)
    FROM unnest(CAST(:i AS text[]), CAST(:u AS text[]), CAST(:r AS text[]), CAST(:n AS text[]),
                CAST(:ph AS text[]), CAST(:o AS int[]), CAST(:d AS text[]), CAST(:l AS text[]))
         AS x(i, u, r, n, ph, o, d, l)
    ON CONFLICT (person_id) DO UPDATE SET
        name = excluded.name, "order" = excluded."order", district = excluded.district,
        level = excluded.level, updated_at = excluded.updated_at
    WHERE (p.name, p."order", p.district, p.level)
          IS DISTINCT FROM (excluded.name, excluded."order", excluded.district, excluded.level)
    RETURNING (xmax = 0) AS created
    """
)


def _unit(code: str, units: dict[str, Any]) -> str:
    u = units.get(code)
    return f"{u.name} ({code})" if u is not None and u.name != code else code


async def import_rows(
    engine: AsyncEngine,
    rows: Sequence[ResponsibleRow],
    lines: Sequence[int] | None = None,
    earlier: ParsedFile | None = None,
    replace: bool = False,
    district: str | None = None,
) -> ImportResult:
    """Upsert the people by ``person_id``, all or nothing, after checking them against each
    other and the register. ``lines`` number the rows for the messages (a CSV's line numbers;
    without them a row is ``people[i]``); ``earlier`` carries the file's own line errors, so
    that one refusal names every bad line. ``replace``: for every unit of the rows, delete the
    people not among them. ``district``: units are looked up there only (by default in every
    district: a name two districts share is then ambiguous)."""
    if len(rows) > MAX_ROWS:
        raise ResponsibleError([f"people: {len(rows):,}; at most {MAX_ROWS:,} at once"])
    where = (
        [f"line {n}" for n in lines]
        if lines is not None
        else [f"people[{i}]" for i in range(len(rows))]
    )
    number = [lines[i] if lines is not None else i for i in range(len(rows))]
    errors: list[tuple[int, str]] = list(earlier.errors) if earlier else []
    async with engine.begin() as conn:
        # One import at a time (reads go on): the checks below hold until the commit.
        await conn.execute(text("LOCK TABLE responsible_person IN SHARE ROW EXCLUSIVE MODE"))
        named = await resolve_in(conn, district, [r.unit for r in rows])
        of = f" of {district}" if district else ""
        codes: list[str | None] = []
        for i, r in enumerate(rows):
            code = named.codes.get(r.unit)
            codes.append(code)
            if r.unit in named.ambiguous:
                errors.append((number[i], f"{where[i]}: {named.ambiguous[r.unit]}"))
            elif code is None:
                errors.append(
                    (number[i], f"{where[i]}: unit: '{r.unit}' is not a registered unit{of}")
                )
        known = sorted({c for c in codes if c is not None})
        units = {u.code: u for u in await conn.execute(_UNITS, {"codes": known})}
        stored = [_Stored(*s) for s in await conn.execute(_STORED, {"codes": known})]

        # Within the file: one line per person, one person per unit, role and order.
        first_id: dict[str, int] = {}
        first_slot: dict[tuple[str, str, int], int] = {}
        ids: list[str | None] = []
        for i, (r, code) in enumerate(zip(rows, codes, strict=True)):
            if code is None:
                ids.append(None)
                continue
            pid = person_id(code, r.role, r.phone)
            ids.append(pid)
            if pid in first_id:
                errors.append(
                    (
                        number[i],
                        f"{where[i]}: {_unit(code, units)} {r.role} {r.phone} is already on "
                        f"{where[first_id[pid]]}",
                    )
                )
                continue
            first_id[pid] = i
            slot = (code, r.role, r.order)
            if slot in first_slot:
                j = first_slot[slot]
                errors.append(
                    (
                        number[i],
                        f"{where[i]}: order: {r.order} of {_unit(code, units)} {r.role} is "
                        f"already {rows[j].name} on {where[j]}",
                    )
                )
            else:
                first_slot[slot] = i

        # Against what is stored: someone not in the file already at a line's order.
        in_file = set(first_id)
        files_units = set(known)
        kept = [
            s
            for s in stored
            if s.person_id not in in_file and not (replace and s.unit_code in files_units)
        ]
        held = {(s.unit_code, s.role, s.order): s for s in kept}
        for slot, i in first_slot.items():
            other = held.get(slot)
            if other is not None:
                errors.append(
                    (
                        number[i],
                        f"{where[i]}: order: {slot[2]} of {_unit(slot[0], units)} {slot[1]} is "
                        f"already {other.name} ({other.phone}), who is not in the file; give "
                        "one of them another order, or replace the unit's people (--replace, "
                        "?replace=true)",
                    )
                )
        if errors:
            raise ResponsibleError([m for _, m in sorted(errors, key=lambda e: e[0])])
        if not rows:
            return ImportResult()

        gone = sorted(s.person_id for s in stored if s.person_id not in in_file) if replace else []
        if gone:
            await conn.execute(
                text("DELETE FROM responsible_person WHERE person_id = ANY(:gone)"),
                {"gone": gone},
            )
        firsts = sorted(first_id.values())
        columns: dict[str, list[Any]] = {
            "i": [ids[i] for i in firsts],
            "u": [codes[i] for i in firsts],
            "r": [rows[i].role for i in firsts],
            "n": [rows[i].name for i in firsts],
            "ph": [rows[i].phone for i in firsts],
            "o": [rows[i].order for i in firsts],
            "d": [units[codes[i]].district for i in firsts],  # type: ignore[index]
            "l": [units[codes[i]].level for i in firsts],  # type: ignore[index]
        }
        try:
            written = (
                (await conn.execute(_UPSERT, {**columns, "now": datetime.now(UTC)})).scalars().all()
            )
        except IntegrityError as exc:  # the checks above hold under the lock: a backstop
            raise ResponsibleError(
                [f"people: refused by the database ({str(exc.orig).splitlines()[0][:200]})"]
            ) from exc
    created = sum(1 for w in written if w)
    return ImportResult(
        created=created,
        updated=len(written) - created,
        unchanged=len(firsts) - len(written),
        deleted=len(gone),
    )


async def import_csv(
    engine: AsyncEngine, content: str | bytes, replace: bool = False, district: str | None = None
) -> ImportResult:
    """Read, check and import a CSV file; every bad line is in the one refusal. ``replace``:
    for the units named in the file, the people not in the file are deleted. ``district``:
    units are looked up there only."""
    parsed = read_csv(content)
    return await import_rows(
        engine, parsed.rows, parsed.lines, parsed, replace=replace, district=district
    )


# -- reading the register --

#: The unit's 街镇: itself for a 街镇, its parent for a 村居 under a 街镇 (``u`` the unit, ``t``
#: its parent).
_TOWN = """
    CASE WHEN u.level = 'town' THEN u.code
         WHEN u.level = 'village' AND t.level = 'town' THEN t.code END AS town_code,
    CASE WHEN u.level = 'town' THEN u.name
         WHEN u.level = 'village' AND t.level = 'town' THEN t.name END AS town_name
"""

#: Every unit under the ``:roots`` (and the roots themselves), with the root it is under.
_BELOW = """
    below AS (
        SELECT code, code AS root FROM admin_unit WHERE code = ANY(CAST(:roots AS text[]))
        UNION
        SELECT c.code, b.root FROM admin_unit c JOIN below b ON c.parent_code = b.code
    )
"""


def _level(value: str | None, allowed: Iterable[str] | None = None) -> str | None:
    if value is None:
        return None
    try:
        level = parse_level(value).value
    except ValueError as exc:
        raise ResponsibleError([f"level: {exc}"]) from exc
    choices = list(allowed) if allowed is not None else None
    if choices is not None and level not in choices:
        raise ResponsibleError([f"level: '{value}' is not one of {', '.join(choices)}"])
    return level


def _label(level: str) -> str:
    return f"{level} ({_LEVELS[level].label})" if level in _LEVELS else level


async def _roots(conn: AsyncConnection, district: str | None, texts: list[str]) -> list[Any]:
    """The units ``texts`` name in the district (code, name, level), or refused."""
    named = await resolve_in(conn, district, texts)
    problems = [
        f"unit: '{t}' is not a registered unit{f' of {district}' if district else ''}"
        for t in named.unknown
    ] + list(named.ambiguous.values())
    if problems:
        refused = ResponsibleError(problems)
        if not named.ambiguous:
            refused.status = 404  # names no unit (an ambiguous name is a 409)
        raise refused
    codes = sorted(set(named.codes.values()))
    return list(await conn.execute(_UNITS, {"codes": codes}))


async def list_people(
    engine: AsyncEngine,
    district: str | None = None,
    unit: str | None = None,
    level: str | None = None,
) -> list[ResponsiblePerson]:
    """The register, top down: by district, level, 街镇, unit, role (as in a call chain: the
    role whose first person has the lowest order first) and order. ``unit`` (a code
    or a name, in ``district`` when given) narrows it to that unit and the units under it;
    ``level`` to one level (``town`` or ``街镇``, …)."""
    wanted = _level(level)
    async with engine.connect() as conn:
        roots = [r.code for r in await _roots(conn, district, [unit])] if unit else None
        query = f"""
            WITH RECURSIVE {_BELOW}
            SELECT p.person_id, p.unit_code, u.name AS unit_name, u.level, u.district,
                   {_TOWN}, p.role, p.name, p.phone, p."order", p.updated_at
            FROM responsible_person p
            JOIN admin_unit u ON u.code = p.unit_code
            LEFT JOIN admin_unit t ON t.code = u.parent_code
            WHERE (CAST(:d AS text) IS NULL OR u.district = :d)
              AND (CAST(:l AS text) IS NULL OR u.level = :l)
              AND (CAST(:roots AS text[]) IS NULL OR p.unit_code IN (SELECT code FROM below))
            ORDER BY u.district, array_position(CAST(:levels AS text[]), CAST(u.level AS text)),
                     town_code NULLS FIRST, u.code,
                     min(p."order") OVER (PARTITION BY p.unit_code, p.role),
                     p.role COLLATE "C", p."order"
        """
        params = {"d": district, "l": wanted, "roots": roots, "levels": list(_LEVELS)}
        found = (await conn.execute(text(query), params)).mappings().all()
    # As stored: checked at import, bounded by the table (validating 10,000 again takes a second).
    return [ResponsiblePerson.model_construct(**r) for r in found]


# -- whom a warning calls --


@dataclass
class _Unit:
    code: str
    name: str
    level: str
    district: str
    town_code: str | None
    town_name: str | None
    #: role → people, in the order found (sorted before use)
    people: dict[str, list[ResponsiblePerson]] = field(default_factory=dict)


def _who(who: str) -> tuple[bool, bool]:
    if who not in WHO_CHOICES:
        raise ResponsibleError([f"who: '{who}' is not one of {', '.join(WHO_CHOICES)}"])
    return who in ("responsible", "both"), who in ("officer", "both")


async def _scope(
    engine: AsyncEngine,
    district: str,
    level: str,
    units: Sequence[str] | None,
    who: Who,
) -> list[_Unit]:
    """Every unit of ``level`` in ``district`` (under ``units`` when given), with its people
    from the register and/or the roster: two queries (three or four with ``units``)."""
    register, officers = _who(who)
    target = _level(level, CHAIN_LEVELS)
    assert target is not None
    roots: list[str] | None = None
    root_names: dict[str, str] = {}
    async with engine.connect() as conn:
        if units is not None:
            named = await _roots(conn, district, list(units))
            rank = _LEVELS[target].rank
            below = [
                f"unit: {r.name} ({r.code}) is a {_label(r.level)}, below the "
                f"{_label(target)} units called"
                for r in named
                if r.level in _LEVELS and _LEVELS[r.level].rank > rank
            ]
            if below:
                raise ResponsibleError(below)
            roots = [r.code for r in named]
            root_names = {r.code: r.name for r in named}
        if roots is not None:  # the units of the level at or under the roots
            scope = f"""
                WITH RECURSIVE {_BELOW},
                scope AS (
                    SELECT u.code, u.name, u.level, u.district, {_TOWN},
                           array_agg(DISTINCT b.root) AS roots
                    FROM below b
                    JOIN admin_unit u ON u.code = b.code
                    LEFT JOIN admin_unit t ON t.code = u.parent_code
                    WHERE u.district = :d AND u.level = :l
                    GROUP BY u.code, u.name, u.level, u.district, t.code, t.name, t.level
                )
            """
        else:
            scope = f"""
                WITH scope AS (
                    SELECT u.code, u.name, u.level, u.district, {_TOWN},
                           CAST(NULL AS text[]) AS roots
                    FROM admin_unit u LEFT JOIN admin_unit t ON t.code = u.parent_code
                    WHERE u.district = :d AND u.level = :l
                )
            """
        query = f"""
            {scope}
            SELECT s.*, p.person_id, p.role, p.name AS person_name, p.phone, p."order",
                   p.updated_at
            FROM scope s
            LEFT JOIN responsible_person p ON p.unit_code = s.code AND CAST(:reg AS boolean)
            ORDER BY s.code, p.role, p."order"
        """
        params = {"d": district, "l": target, "roots": roots, "reg": register}
        found = (await conn.execute(text(query), params)).mappings().all()
    by_code: dict[str, _Unit] = {}
    reached: set[str] = set()
    for r in found:
        u = by_code.get(r["code"])
        if u is None:
            u = by_code[r["code"]] = _Unit(
                r["code"], r["name"], r["level"], r["district"], r["town_code"], r["town_name"]
            )
            reached.update(r["roots"] or [])
        if r["person_id"] is None:
            continue
        u.people.setdefault(r["role"], []).append(
            ResponsiblePerson.model_construct(  # as stored (see list_people)
                person_id=r["person_id"],
                unit_code=u.code,
                unit_name=u.name,
                level=u.level,
                district=u.district,
                town_code=u.town_code,
                town_name=u.town_name,
                role=r["role"],
                name=r["person_name"],
                phone=r["phone"],
                order=r["order"],
                updated_at=r["updated_at"],
            )
        )
    if roots is not None:
        empty = [c for c in roots if c not in reached]
        if empty:
            raise ResponsibleError(
                [
                    f"unit: {root_names[c]} ({c}) has no {_label(target)} registered at or under it"
                    for c in empty
                ]
            )
    if officers and by_code:
        on_duty = await roster.contacts(engine, list(by_code))
        for code, roles in on_duty.items():
            u = by_code[code]
            chain = u.people.setdefault(OFFICER_ROLE, [])
            for role, order in (("A", 1), ("B", 2)):
                o = roles.get(role)
                if o is None:
                    continue
                phone = _phone(o["phone"])
                pid = person_id(code, OFFICER_ROLE, phone)
                if any(p.person_id == pid for p in chain):
                    continue  # the register names them too (a role named 灾害信息员), or A is B
                chain.append(
                    ResponsiblePerson.model_construct(
                        person_id=pid,
                        unit_code=code,
                        unit_name=u.name,
                        level=u.level,
                        district=u.district,
                        town_code=u.town_code,
                        town_name=u.town_name,
                        role=OFFICER_ROLE,
                        name=o["name"],
                        phone=phone,
                        order=order,
                        source="officer",
                    )
                )
            if not chain:
                del u.people[OFFICER_ROLE]
    return sorted(by_code.values(), key=lambda u: (u.town_code or "", u.code))


def _phone(phone: str) -> str:
    """An officer's phone as this register stores phones (the roster keeps its hyphens)."""
    try:
        return normalize_phone(phone)
    except ValueError:
        return phone


async def call_chains(
    engine: AsyncEngine,
    district: str,
    level: str,
    units: Sequence[str] | None = None,
    who: Who = "responsible",
) -> list[CallChain]:
    """The people a warning calls: for every unit of ``level`` (``district`` for the district
    lead, ``town`` or ``village``) in ``district``, one chain per role, its people in order
    (1 first, then the backups). ``units`` (codes or names) narrows it: a unit of ``level``, or
    a unit above it for the units of ``level`` under it (a 街镇 for a village-level warning
    means its 村居). ``who``: ``responsible`` (this register), ``officer`` (the roster's active
    officers today: A at order 1, B at order 2, under the role 灾害信息员) or ``both``. Units
    with nobody are not chains (``gaps`` names them). Chains come by 街镇, then unit, then role:
    the role whose first person has the lowest order first (by name when equal), the officers'
    last."""
    chains: list[CallChain] = []
    for u in await _scope(engine, district, level, units, who):
        first = {role: min(p.order for p in found) for role, found in u.people.items()}
        for role in sorted(u.people, key=lambda r: (r == OFFICER_ROLE, first[r], r)):
            persons = sorted(u.people[role], key=lambda p: (p.order, p.source != "responsible"))
            chains.append(
                CallChain.model_construct(  # of stored people, never empty
                    unit_code=u.code,
                    unit_name=u.name,
                    level=u.level,
                    town_code=u.town_code,
                    town_name=u.town_name,
                    role=role,
                    persons=persons,
                )
            )
    return chains


async def gaps(
    engine: AsyncEngine,
    district: str,
    level: str,
    units: Sequence[str] | None = None,
    who: Who = "responsible",
) -> list[Gap]:
    """The units of ``level`` in ``district`` (under ``units`` when given) with nobody to call
    first: no person of order 1 in any role (of the register, or of ``who``'s sources)."""
    return [
        Gap(
            unit_code=u.code,
            unit_name=u.name,
            level=u.level,
            district=u.district,
            town_code=u.town_code,
            town_name=u.town_name,
            people=sum(len(p) for p in u.people.values()),
        )
        for u in await _scope(engine, district, level, units, who)
        if not any(p.order == 1 for people in u.people.values() for p in people)
    ]
