"""Year-end summary activities: the figures (set-based SQL), and the rendered, stored text."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.heartbeat import heartbeating
from activities.summary_text import load_templates, render
from models.summary import StoreInput, SummaryDocument, SummaryFigures, SummaryRequest
from yingji.stores import summary as summary_store


class SummaryActivities:
    def __init__(self, engine: AsyncEngine, template_path: Path | None = None) -> None:
        self.engine = engine
        self.template_path = template_path

    @activity.defn(name="summary_figures")
    async def figures(self, data: SummaryRequest) -> SummaryFigures:
        async with heartbeating():
            return await summary_store.figures(
                self.engine, data.year, data.district, data.level, data.as_of, data.bureau
            )

    @activity.defn(name="store_summary")
    async def store(self, data: StoreInput) -> SummaryDocument:
        # Templates are read here, not in the workflow: editing them never affects a replay.
        title, markdown = render(
            data.figures, data.request.bureau, load_templates(self.template_path)
        )
        async with heartbeating():
            document = await summary_store.store(
                self.engine, data.request, title, markdown, data.figures
            )
        activity.logger.info(
            "year-end summary stored",
            extra={
                "year": document.year,
                "version": document.version,
                "hash": document.content_hash[:12],
            },
        )
        return document
