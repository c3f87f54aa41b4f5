"""The register of shelters (应急避难场所), for the CLI and the console: a plain store behind
this module, as the unit register is."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from models.shelter import ShelterImportResult, ShelterView
from yingji.stores import shelter as shelter_store
from yingji.stores.shelter import ShelterError

__all__ = ["ShelterError", "import_csv", "list_shelters"]


async def import_csv(
    engine: AsyncEngine, content: str | bytes, district: str | None = None
) -> ShelterImportResult:
    """Read and import a CSV (``code,name,unit,type,capacity,address``): all or nothing."""
    return await shelter_store.import_csv(engine, content, district)


async def list_shelters(
    engine: AsyncEngine, district: str | None = None, unit: str | None = None
) -> list[ShelterView]:
    return await shelter_store.list_shelters(engine, district, unit)
