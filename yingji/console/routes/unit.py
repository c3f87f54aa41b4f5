"""Console routes: the unit register (行政区划).

``POST /api/units`` takes the CSV file itself as the request body (``Content-Type: text/csv``;
UTF-8 with or without BOM, or GBK): the same columns, checks and answers as
``yingji unit import``. A file with any bad line is refused whole with 422, ``detail`` being
the list of every bad line's message (``line 4: level: 'county' is not one of ...``); nothing is
written. It answers how many units were created, updated and left unchanged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from models.unit import DISTRICT_MAX, UnitImportResult, UnitLevel, UnitView
from yingji.console.deps import QUERY_TEXT, Admin, S, Viewer
from yingji.services import unit as units

router = APIRouter()

CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "the CSV file: code,name,level,parent_code,district",
        "content": {
            "text/csv": {
                "schema": {"type": "string", "maxLength": units.MAX_BYTES},
                "example": "code,name,level,parent_code,district\n"
                "ZB-01,甲镇,town,,某区\nZB-01-001,新城村,village,ZB-01,某区\n",
            }
        },
    }
}


@router.get("/api/units")
async def unit_list(
    _: Viewer,
    s: S,
    district: Annotated[
        str | None, Query(min_length=1, max_length=DISTRICT_MAX, pattern=QUERY_TEXT)
    ] = None,
    level: UnitLevel | None = None,
) -> list[UnitView]:
    """The register, top down: by district, level, parent and code."""
    return await units.list_units(s.engine, district, level.value if level else None)


@router.post("/api/units", openapi_extra=CSV_BODY)
async def unit_import(request: Request, _: Admin, s: S) -> UnitImportResult:
    """Import units from a CSV body: upsert by code, all or nothing."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > units.MAX_BYTES:
            raise HTTPException(413, f"the file is larger than {units.MAX_BYTES:,} bytes")
    try:
        return await units.import_csv(s.engine, bytes(body))
    except units.UnitError:
        raise  # 409 (or 404), each bad line as one of its errors
