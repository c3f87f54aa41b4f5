"""The unit register in PostgreSQL: CSV import (all or nothing), listing, and name resolution.

A district's units are data: nothing here, nor in any migration, names a place. A file is
checked whole before anything is written, and every bad line is reported at once:

- each line on its own: the code, name, level and district, within their bounds;
- against the rest of the file and what is stored: one line per code, one name per parent, and a
  parent that is in the file or registered, whose level is above the child's and (below a city)
  in the same district.

Importing is an upsert by code in one transaction: re-importing a file changes nothing, and a
changed name (level, parent, district) for an existing code updates that unit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.unit import UnitImportResult, UnitLevel, UnitRow, UnitView
from yingji.core.errors import DomainRefusal, plain_reason

COLUMNS = ("code", "name", "level", "parent_code", "district")
REQUIRED = ("code", "name", "level", "district")
#: At most this many units in one file (a whole city's 村居 fit several times over).
MAX_ROWS = 20_000
#: At most this many bytes in one file: 20,000 lines of the longest codes and Chinese names.
MAX_BYTES = 16 * 1024 * 1024
#: Tried in this order: UTF-8 (with or without the BOM Excel writes), then GBK (Excel's "CSV"
#: on a Chinese Windows).
ENCODINGS = ("utf-8-sig", "gbk")
_LEVELS = {m.value: m for m in UnitLevel}


class UnitError(DomainRefusal):
    """Refused as a whole, nothing written; ``errors`` says which line and field, and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# -- reading a file --


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM or not), else GBK; anything else is refused."""
    if len(data) > MAX_BYTES:
        raise UnitError([f"file: {len(data):,} bytes; at most {MAX_BYTES:,} in one file"])
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnitError(
        [
            "file: not UTF-8 or GBK text (is it UTF-16, or a spreadsheet rather than CSV?); "
            "save it as CSV in UTF-8 or GBK"
        ]
    )


@dataclass
class ParsedFile:
    """The valid lines of a file, their line numbers, and what was wrong with the others."""

    rows: list[UnitRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: Codes of lines refused on their own: their children are not reported again.
    refused_codes: set[str] = field(default_factory=set)


def _message(error: Any) -> str:
    return plain_reason(error)


def read_header(
    header: list[str] | None, columns: Sequence[str], required: Sequence[str]
) -> tuple[list[str], list[str]]:
    """A CSV file's column names (lower case) and what is wrong with its header, if anything:
    missing, unknown, doubled columns, or no header at all. Shared by every register import."""
    if header is None or not any(h.strip() for h in header):
        return [], [f"header: the first line must name the columns {','.join(columns)}"]
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in columns]
    missing = [c for c in required if c not in names]
    doubled = sorted({h for h in names if names.count(h) > 1})
    problems = []
    if unknown:
        problems.append(
            f"header: unknown column(s) {', '.join(unknown)}; the columns are {','.join(columns)}"
        )
    if missing:
        problems.append(f"header: missing column(s) {', '.join(missing)}")
    if doubled:
        problems.append(f"header: column(s) {', '.join(doubled)} appear twice")
    return names, problems


def read_csv(content: str | bytes) -> ParsedFile:
    """Check the header and each line on its own; a bad header or encoding is refused at once,
    bad lines are collected (``errors``) so that the cross-checks can report theirs too."""
    body = decode(content) if isinstance(content, bytes) else content.removeprefix("\ufeff")
    if len(body) > MAX_BYTES:
        raise UnitError([f"file: longer than {MAX_BYTES:,} characters"])
    reader = csv.reader(io.StringIO(body, newline=""))
    parsed = ParsedFile()
    try:
        names, problems = read_header(next(reader, None), COLUMNS, REQUIRED)
        if problems:
            raise UnitError(problems)
        count = 0
        for raw in reader:
            line = reader.line_num
            if not any(v.strip() for v in raw):
                continue  # a blank line
            count += 1
            if count > MAX_ROWS:
                raise UnitError(
                    [f"file: more than {MAX_ROWS:,} units; split it (at most {MAX_ROWS:,} a file)"]
                )
            if len(raw) > len(names):
                parsed.errors.append(
                    (line, f"line {line}: has {len(raw)} fields; the header has {len(names)}")
                )
                parsed.refused_codes.add(raw[names.index("code")].strip())
                continue
            data = dict(zip(names, raw, strict=False))
            try:
                row = UnitRow.model_validate({c: data.get(c, "") for c in COLUMNS})
            except ValidationError as exc:
                for e in exc.errors():
                    where = ".".join(str(p) for p in e["loc"]) or "line"
                    parsed.errors.append((line, f"line {line}: {where}: {_message(e)}"))
                parsed.refused_codes.add(str(data.get("code", "")).strip())
                continue
            parsed.rows.append(row)
            parsed.lines.append(line)
    except csv.Error as exc:
        raise UnitError([f"line {reader.line_num}: not CSV: {exc}"]) from exc
    if not parsed.rows and not parsed.errors:
        raise UnitError(["file: no unit lines under the header"])
    return parsed


def parse_csv(content: str | bytes) -> list[UnitRow]:
    """Parse and check each line on its own; refuse the file if any line is wrong."""
    parsed = read_csv(content)
    if parsed.errors:
        raise UnitError([m for _, m in sorted(parsed.errors, key=lambda e: e[0])])
    return parsed.rows


# -- importing --


@dataclass(frozen=True)
class _Unit:
    code: str
    name: str
    level: str
    parent_code: str | None
    district: str

    @property
    def rank(self) -> int:
        return _LEVELS[self.level].rank if self.level in _LEVELS else len(_LEVELS)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.district, self.parent_code, self.name)


def _level(level: str) -> str:
    return f"{level} ({_LEVELS[level].label})" if level in _LEVELS else level


def _under(unit: _Unit) -> str:
    return f"under {unit.parent_code}" if unit.parent_code else f"at the top of {unit.district}"


def _check(
    rows: Sequence[UnitRow],
    where: Sequence[str],
    stored: dict[str, _Unit],
    refused_codes: set[str],
) -> list[tuple[int, str]]:
    """Every cross-line problem of the file against itself and the stored register."""
    errors: list[tuple[int, str]] = []
    units = [_Unit(r.code, r.name, r.level.value, r.parent_code, r.district) for r in rows]
    first_line: dict[str, int] = {}
    for i, u in enumerate(units):
        if u.code in first_line:
            errors.append(
                (i, f"{where[i]}: code: {u.code} is already on {where[first_line[u.code]]}")
            )
        else:
            first_line[u.code] = i
    in_file = {u.code: u for i, u in enumerate(units) if first_line[u.code] == i}
    register = {**stored, **in_file}

    stored_by_key: dict[tuple[str, str | None, str], list[str]] = {}
    for s in stored.values():
        if s.code not in in_file:
            stored_by_key.setdefault(s.key, []).append(s.code)
    seen_key: dict[tuple[str, str | None, str], int] = {}
    for i, u in enumerate(units):
        if first_line[u.code] != i:
            continue
        if u.key in seen_key:
            errors.append(
                (
                    i,
                    f"{where[i]}: name: {u.name} is already on {where[seen_key[u.key]]} "
                    f"{_under(u)}",
                )
            )
        else:
            seen_key[u.key] = i
        for other in stored_by_key.get(u.key, []):
            errors.append(
                (i, f"{where[i]}: name: {u.name} is already registered {_under(u)} as {other}")
            )
        if u.parent_code is not None:
            parent = register.get(u.parent_code)
            if parent is None:
                if u.parent_code not in refused_codes:
                    errors.append(
                        (
                            i,
                            f"{where[i]}: parent_code: '{u.parent_code}' is not in the file and "
                            "not registered",
                        )
                    )
            elif parent.rank >= u.rank:
                errors.append(
                    (
                        i,
                        f"{where[i]}: parent_code: {parent.code} is a {_level(parent.level)}, "
                        f"not above a {_level(u.level)}",
                    )
                )
            elif parent.level != UnitLevel.CITY and parent.district != u.district:
                errors.append(
                    (
                        i,
                        f"{where[i]}: district: {u.district}, but its parent {parent.code} is in "
                        f"{parent.district}",
                    )
                )
    # Registered units under a unit of the file must stay below it, in its district.
    for child in stored.values():
        if child.code in in_file or child.parent_code not in in_file:
            continue
        parent = in_file[child.parent_code]
        i = first_line[parent.code]
        if parent.rank >= child.rank:
            errors.append(
                (
                    i,
                    f"{where[i]}: level: {parent.code} would be a {_level(parent.level)}, but the "
                    f"registered {child.code}, a {_level(child.level)}, is under it",
                )
            )
        elif parent.level != UnitLevel.CITY and parent.district != child.district:
            errors.append(
                (
                    i,
                    f"{where[i]}: district: {parent.code} would be in {parent.district}, but the "
                    f"registered {child.code} under it is in {child.district}",
                )
            )
    return errors


_RELATED = text(
    """
    SELECT code, name, level, parent_code, district FROM admin_unit
    WHERE code = ANY(:codes) OR code = ANY(:parents) OR parent_code = ANY(:codes)
       OR (district = ANY(:districts) AND name = ANY(:names))
    ORDER BY code
    """
)

_UPSERT = text(
    """
    INSERT INTO admin_unit AS u (code, name, level, parent_code, district)
    SELECT * FROM unnest(CAST(:code AS text[]), CAST(:name AS text[]), CAST(:level AS text[]),
                         CAST(:parent_code AS text[]), CAST(:district AS text[]))
    ON CONFLICT (code) DO UPDATE SET
        name = excluded.name, level = excluded.level, parent_code = excluded.parent_code,
        district = excluded.district
    WHERE (u.name, u.level, u.parent_code, u.district)
          IS DISTINCT FROM (excluded.name, excluded.level, excluded.parent_code, excluded.district)
    RETURNING (xmax = 0) AS created
    """
)


async def import_rows(
    engine: AsyncEngine,
    rows: Sequence[UnitRow],
    lines: Sequence[int] | None = None,
    earlier: ParsedFile | None = None,
) -> UnitImportResult:
    """Upsert the units by code, all or nothing, after checking them against each other and
    the register. ``lines`` number the rows for the messages (a CSV's line numbers; without
    them a row is ``units[i]``); ``earlier`` carries the file's own line errors, so that one
    refusal names every bad line."""
    if len(rows) > MAX_ROWS:
        raise UnitError([f"units: {len(rows):,}; at most {MAX_ROWS:,} at once"])
    where = (
        [f"line {n}" for n in lines]
        if lines is not None
        else [f"units[{i}]" for i in range(len(rows))]
    )
    async with engine.begin() as conn:
        # One import at a time: the checks below hold until the commit.
        await conn.execute(text("LOCK TABLE admin_unit IN SHARE ROW EXCLUSIVE MODE"))
        related = await conn.execute(
            _RELATED,
            {
                "codes": [r.code for r in rows],
                "parents": sorted({r.parent_code for r in rows if r.parent_code}),
                "districts": sorted({r.district for r in rows}),
                "names": sorted({r.name for r in rows}),
            },
        )
        stored = {r.code: _Unit(*r) for r in related}
        refused = earlier.refused_codes if earlier else set()
        errors = _check(rows, where, stored, refused)
        numbered = [(lines[i] if lines is not None else i, m) for i, m in errors]
        if earlier:
            numbered += earlier.errors
        if numbered:
            raise UnitError([m for _, m in sorted(numbered, key=lambda e: e[0])])
        if not rows:
            return UnitImportResult()
        columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        for r in rows:
            for c in COLUMNS:
                value = getattr(r, c)
                columns[c].append(value.value if isinstance(value, UnitLevel) else value)
        try:
            written = (await conn.execute(_UPSERT, columns)).scalars().all()
        except IntegrityError as exc:
            raise UnitError(
                [
                    "names: two units would take each other's names under one parent; "
                    "import the change in two steps (first give one a temporary name)"
                ]
            ) from exc
    created = sum(1 for w in written if w)
    return UnitImportResult(
        created=created, updated=len(written) - created, unchanged=len(rows) - len(written)
    )


async def import_csv(engine: AsyncEngine, content: str | bytes) -> UnitImportResult:
    """Read, check and import a CSV file; every bad line is in the one refusal."""
    parsed = read_csv(content)
    return await import_rows(engine, parsed.rows, parsed.lines, parsed)


# -- reading the register --


async def list_units(
    engine: AsyncEngine, district: str | None = None, level: str | None = None
) -> list[UnitView]:
    """The register, top down: by district, level, parent and code."""
    query = text(
        """
        SELECT u.code, u.name, u.level, u.parent_code, p.name AS parent_name, u.district
        FROM admin_unit u LEFT JOIN admin_unit p ON p.code = u.parent_code
        WHERE (CAST(:d AS text) IS NULL OR u.district = :d)
          AND (CAST(:l AS text) IS NULL OR u.level = :l)
        ORDER BY u.district,
                 array_position(CAST(:levels AS text[]), CAST(u.level AS text)),
                 u.parent_code NULLS FIRST, u.code
        """
    )
    params = {"d": district, "l": level, "levels": [m.value for m in UnitLevel]}
    async with engine.connect() as conn:
        found = (await conn.execute(query, params)).mappings().all()
    return [
        UnitView(
            **dict(r),
            level_label=_LEVELS[r["level"]].label if r["level"] in _LEVELS else r["level"],
        )
        for r in found
    ]


# -- a name or a code names one unit --


@dataclass
class Resolution:
    """What each text named: its code, or why it names none."""

    codes: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    ambiguous: dict[str, str] = field(default_factory=dict)

    def problems(self, district: str | None) -> list[str]:
        where = f" of {district}" if district else ""
        return [f"unit: '{t}' is not a registered 街镇/村居{where}" for t in self.unknown] + list(
            self.ambiguous.values()
        )


async def resolve_in(
    conn: AsyncConnection, district: str | None, texts: Iterable[str]
) -> Resolution:
    """Resolve each text: an exact code first, else an exact name within the district (every
    district when ``district`` is None). A name shared by several units names none of them."""
    wanted = list(dict.fromkeys(t.strip() for t in texts))
    result = Resolution()
    if not wanted:
        return result
    by_code = set(
        (
            await conn.execute(
                text(
                    "SELECT code FROM admin_unit WHERE code = ANY(:t) "
                    "AND (CAST(:d AS text) IS NULL OR district = :d)"
                ),
                {"t": wanted, "d": district},
            )
        ).scalars()
    )
    result.codes.update({t: t for t in wanted if t in by_code})
    rest = [t for t in wanted if t not in by_code]
    if not rest:
        return result
    candidates: dict[str, list[Any]] = {}
    for r in await conn.execute(
        text(
            """
            SELECT u.name, u.code, u.district, coalesce(p.name, u.parent_code) AS parent
            FROM admin_unit u LEFT JOIN admin_unit p ON p.code = u.parent_code
            WHERE u.name = ANY(:t) AND (CAST(:d AS text) IS NULL OR u.district = :d)
            ORDER BY u.code
            """
        ),
        {"t": rest, "d": district},
    ):
        candidates.setdefault(r.name, []).append(r)
    for t in rest:
        found = candidates.get(t, [])
        if len(found) == 1:
            result.codes[t] = found[0].code
        elif not found:
            result.unknown.append(t)
        else:
            listed = ", ".join(f"{c.name} ({c.code}, 属 {c.parent or c.district})" for c in found)
            result.ambiguous[t] = f"unit: {t} is ambiguous: {listed}; use the code"
    return result


async def resolve(engine: AsyncEngine, district: str | None, name_or_code: str) -> str:
    """The code of the one unit ``name_or_code`` names in the district; refused otherwise."""
    async with engine.connect() as conn:
        found = await resolve_in(conn, district, [name_or_code])
    problems = found.problems(district)
    if problems:
        raise UnitError(problems)
    return found.codes[name_or_code.strip()]


# -- jurisdictions: a bureau's district or city, and a city's districts --

#: Which levels of the register are jurisdictions (辖区) that own plans and drills.
JURISDICTION_LEVELS = ("city", "district")


async def jurisdiction_level(
    conn: AsyncConnection, name: str, home: str | None, home_level: str | None
) -> str:
    """``city`` or ``district``: the level of the registered city or district unit that
    ``name`` names (its name, code or district); else ``home_level`` when ``name`` is the
    configured district ``home``; else ``district``."""
    found = (
        await conn.execute(
            text(
                """
                SELECT level FROM admin_unit
                WHERE level = ANY(:levels) AND :n IN (name, code, district)
                ORDER BY (name = :n) DESC, (code = :n) DESC, (level = 'city') DESC, code
                LIMIT 1
                """
            ),
            {"n": name, "levels": list(JURISDICTION_LEVELS)},
        )
    ).scalar()
    if found is not None:
        return str(found)
    if name == home and home_level in JURISDICTION_LEVELS:
        return str(home_level)
    return "district"


@dataclass
class Jurisdiction:
    """What a bureau counts: its own district or city and, for a city, the districts registered
    under the city's unit. ``aliases`` are every text a record may name one of them by (the
    bureau's setting, each unit's name, code and district); ``units`` and ``levels`` say, for
    each alias, which of them it names (the bureau's own: its name) and at which level."""

    name: str
    level: str
    aliases: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    #: A city's districts, by the name its records use (each unit's ``district``), in code order.
    districts: list[str] = field(default_factory=list)

    def add(self, texts: Iterable[str | None], unit: str, level: str) -> None:
        for t in texts:
            if t and t not in self.aliases:  # the first to claim a text keeps it
                self.aliases.append(t)
                self.units.append(unit)
                self.levels.append(level)


async def jurisdiction(conn: AsyncConnection, name: str, level: str) -> Jurisdiction:
    """The bureau of ``name`` (its configured district or city) at ``level``."""
    own_level = level if level in JURISDICTION_LEVELS else "district"
    found = Jurisdiction(name=name, level=own_level)
    found.add([name], name, own_level)
    own = (
        await conn.execute(
            text(
                """
                SELECT code, name, district FROM admin_unit
                WHERE level = :l AND :n IN (name, code, district)
                ORDER BY (district = :n) DESC, (name = :n) DESC, code
                LIMIT 1
                """
            ),
            {"n": name, "l": own_level},
        )
    ).first()
    if own is None:
        return found
    found.add([own.name, own.code, own.district], name, own_level)
    if own_level != "city":
        return found
    for d in await conn.execute(
        text(
            "SELECT code, name, district FROM admin_unit "
            "WHERE level = 'district' AND parent_code = :c ORDER BY code"
        ),
        {"c": own.code},
    ):
        found.districts.append(d.district)
        found.add([d.district, d.name, d.code], d.district, "district")
    return found
