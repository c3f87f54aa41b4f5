"""The unit register (行政区划), for the CLI, the console and the loader.

No workflow is involved: importing and reading the register are plain store calls, kept behind
this module so that every interface reaches the register the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from models.unit import UnitImportResult, UnitRow, UnitView
from yingji.stores import unit as unit_store
from yingji.stores.unit import MAX_BYTES, MAX_ROWS, ParsedFile, UnitError

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "ParsedFile",
    "UnitError",
    "import_csv",
    "import_parsed",
    "import_units",
    "list_units",
    "read_csv",
    "resolve",
]


def read_csv(content: str | bytes) -> ParsedFile:
    """Check a CSV's encoding, header and each line on its own (no database needed). A bad
    encoding or header is refused at once; bad lines are kept for the import to report."""
    return unit_store.read_csv(content)


async def import_parsed(engine: AsyncEngine, parsed: ParsedFile) -> UnitImportResult:
    """Import a file read by ``read_csv``: all or nothing, every bad line in one refusal."""
    return await unit_store.import_rows(engine, parsed.rows, parsed.lines, parsed)


async def import_csv(engine: AsyncEngine, content: str | bytes) -> UnitImportResult:
    """Read and import a CSV file (bytes: UTF-8 with or without BOM, or GBK)."""
    return await unit_store.import_csv(engine, content)


async def import_units(engine: AsyncEngine, units: Sequence[UnitRow]) -> UnitImportResult:
    """Import units given as models (a row is named ``units[i]`` in the messages)."""
    return await unit_store.import_rows(engine, units)


async def list_units(
    engine: AsyncEngine, district: str | None = None, level: str | None = None
) -> list[UnitView]:
    return await unit_store.list_units(engine, district, level)


async def resolve(engine: AsyncEngine, district: str | None, name_or_code: str) -> str:
    """The code of the one unit a name or code names in the district; ``UnitError`` if none
    or several (the message lists the candidates)."""
    return await unit_store.resolve(engine, district, name_or_code)
