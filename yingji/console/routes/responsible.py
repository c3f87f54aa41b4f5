"""Console routes: the register of responsible people (防汛防台责任人).

``POST /api/responsible`` takes the CSV file itself as the request body (``Content-Type:
text/csv``; UTF-8 with or without BOM, or GBK): the same columns, checks and answers as
``yingji responsible import``. A file with any bad line is refused whole with 422, ``detail``
being the list of every bad line's message (``line 4: phone: ...``); nothing is written.
``?replace=true``: for the units named in the file, the people not in it are deleted.

Phone numbers are shown in full to a duty officer and above, masked for a viewer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from models.responsible import Gap, ImportResult, ResponsiblePerson
from models.unit import DISTRICT_MAX, UnitLevel
from yingji.console.deps import QUERY_TEXT, Admin, S, Viewer
from yingji.services import responsible as people

router = APIRouter()

#: A filter's text: bounded, no control characters (they would reach PostgreSQL).
Text = Annotated[str | None, Query(min_length=1, max_length=DISTRICT_MAX, pattern=QUERY_TEXT)]

CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "the CSV file: unit,role,name,phone,order",
        "content": {
            "text/csv": {
                "schema": {"type": "string", "maxLength": people.MAX_BYTES},
                "example": "unit,role,name,phone,order\n"
                "甲镇,党政主要负责人,张某,13800000001,1\n甲镇,分管负责人,李某,13800000002,2\n",
            }
        },
    }
}


@router.get("/api/responsible")
async def responsible_list(
    who: Viewer,
    s: S,
    district: Text = None,
    unit: Text = None,
    level: UnitLevel | None = None,
) -> list[ResponsiblePerson]:
    """The register, top down; ``unit`` (code or name): it and the units under it."""
    found = await people.list_people(s.engine, district, unit, level.value if level else None)
    if who.sees_phones:
        return found
    return [
        p.model_copy(update={"phone": who.phone(p.phone), "person_id": who.person_id(p.person_id)})
        for p in found
    ]


@router.get("/api/responsible/gaps")
async def responsible_gaps(
    _: Viewer,
    s: S,
    district: Text = None,
    level: Literal["district", "town", "village"] | None = None,
) -> list[Gap]:
    """Units with nobody to call first (no person of order 1); default: the configured
    district, its 街镇 and 村居."""
    where = district or s.settings.district
    found: list[Gap] = []
    for lv in [level] if level else ["town", "village"]:
        found += await people.gaps(s.engine, where, lv)
    return found


@router.post("/api/responsible", openapi_extra=CSV_BODY)
async def responsible_import(
    request: Request, _: Admin, s: S, replace: bool = False, district: Text = None
) -> ImportResult:
    """Import responsible people from a CSV body: upsert by unit, role and phone, all or
    nothing; ``replace``: the file is the whole list of its units; ``district``: look the
    units up there only (default: every district)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > people.MAX_BYTES:
            raise HTTPException(413, f"the file is larger than {people.MAX_BYTES:,} bytes")
    try:
        return await people.import_csv(s.engine, bytes(body), replace=replace, district=district)
    except people.ResponsibleError:
        raise  # 409 (or 404), each bad line as one of its errors
