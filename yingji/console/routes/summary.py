"""Console routes: summary."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Response

from models.summary import SummaryDocument
from yingji.console.deps import S, Viewer, Year
from yingji.services import summary as summaries

router = APIRouter()


@router.get("/api/summaries/{year}")
async def summary(year: Year, _: Viewer, s: S) -> SummaryDocument:
    doc = await summaries.latest(s.engine, s.settings, year)
    if doc is None:
        raise HTTPException(404, f"no summary for {year} yet")
    return doc


@router.get("/api/summaries/{year}/export")
async def summary_export(
    year: Year, _: Viewer, s: S, format: Literal["md", "json", "docx", "pdf"] = "md"
) -> Response:
    doc = await summary(year, _, s)
    media = {
        "md": "text/markdown; charset=utf-8",
        "json": "application/json",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf",
    }
    try:
        # LibreOffice takes seconds: off the event loop.
        body = await asyncio.to_thread(summaries.export, doc, format)
    except summaries.ExportUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return Response(
        body,
        media_type=media[format],
        headers={"Content-Disposition": f'attachment; filename="summary-{year}.{format}"'},
    )
