"""The register of responsible people (防汛防台责任人), for the CLI, the console and 叫应.

No workflow is involved: importing and reading the register are plain store calls, kept behind
this module so that every interface reaches the register the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from models.responsible import CallChain, Gap, ImportResult, ResponsiblePerson, Who
from yingji.stores import responsible as store
from yingji.stores.responsible import (
    CHAIN_LEVELS,
    MAX_BYTES,
    MAX_ROWS,
    ParsedFile,
    ResponsibleError,
)

__all__ = [
    "CHAIN_LEVELS",
    "MAX_BYTES",
    "MAX_ROWS",
    "ParsedFile",
    "ResponsibleError",
    "call_chains",
    "gaps",
    "import_csv",
    "import_parsed",
    "list_people",
    "read_csv",
]


def read_csv(content: str | bytes) -> ParsedFile:
    """Check a CSV's encoding, header and each line on its own (no database needed). A bad
    encoding or header is refused at once; bad lines are kept for the import to report."""
    return store.read_csv(content)


async def import_parsed(
    engine: AsyncEngine, parsed: ParsedFile, replace: bool = False, district: str | None = None
) -> ImportResult:
    """Import a file read by ``read_csv``: all or nothing, every bad line in one refusal."""
    return await store.import_rows(
        engine, parsed.rows, parsed.lines, parsed, replace=replace, district=district
    )


async def import_csv(
    engine: AsyncEngine, content: str | bytes, replace: bool = False, district: str | None = None
) -> ImportResult:
    """Read and import a CSV file (bytes: UTF-8 with or without BOM, or GBK). ``replace``: for
    the units named in the file, the people not in it are deleted. ``district``: units are
    looked up there only (default: every district)."""
    return await store.import_csv(engine, content, replace=replace, district=district)


async def list_people(
    engine: AsyncEngine,
    district: str | None = None,
    unit: str | None = None,
    level: str | None = None,
) -> list[ResponsiblePerson]:
    return await store.list_people(engine, district, unit, level)


async def gaps(
    engine: AsyncEngine,
    district: str,
    level: str,
    units: Sequence[str] | None = None,
    who: Who = "responsible",
) -> list[Gap]:
    return await store.gaps(engine, district, level, units, who)


async def call_chains(
    engine: AsyncEngine,
    district: str,
    level: str,
    units: Sequence[str] | None = None,
    who: Who = "responsible",
) -> list[CallChain]:
    """Whom a warning calls, unit by unit and role by role, in order (see the store)."""
    return await store.call_chains(engine, district, level, units, who)
