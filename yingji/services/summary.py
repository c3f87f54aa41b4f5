"""Year-end summaries: the schedule, runs on demand and for backfill, and export."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from docx import Document
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.summary import SummaryDocument, SummaryInput
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import MEMO_KEY
from yingji.stores import summary as summary_store

#: The workflow type, as ``workflows/summary.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "YearEndSummary"

SCHEDULE_ID = "year-end-summary"
TIME_ZONE = "Asia/Shanghai"


def summary_input(
    settings: Settings, year: int | None, requested_by: str, as_of: date | None = None
) -> SummaryInput:
    return SummaryInput(
        year=year,
        bureau=settings.bureau,  # first: names every missing bureau setting at once
        district=settings.district,
        requested_by=requested_by,
        level=settings.bureau_level or "district",
        as_of=as_of,
    )


def schedule(settings: Settings, task_queue: str | None = None) -> Schedule:
    """Early each January in Asia/Shanghai: the summary of the year before."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE,
            summary_input(settings, None, "schedule"),
            id=f"year-end-summary:{settings.district}",
            task_queue=task_queue or settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(1)],
                    day_of_month=[ScheduleRange(settings.summary_day_of_month)],
                    hour=[ScheduleRange(settings.summary_hour)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment="year-end summary for the previous year",
                )
            ],
            time_zone_name=TIME_ZONE,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=settings.summary_catchup_days),
        ),
    )


async def ensure_schedule(
    client: Client, settings: Settings, task_queue: str | None = None
) -> None:
    """Create the schedule, or bring an existing one in line with the settings (idempotent)."""
    wanted = schedule(settings, task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            lambda _: ScheduleUpdate(schedule=wanted)
        )


async def run_summary(
    client: Client,
    settings: Settings,
    year: int,
    requested_by: str,
    task_queue: str | None = None,
    request_id: str | None = None,
    as_of: date | None = None,
) -> SummaryDocument:
    """One run for ``year``, counting up to ``as_of`` (default its 31 December); a second run
    for the same year at the same time is refused.

    A run is repeatable (each makes a new version); a request repeated with the same
    ``request_id`` answers the run it started instead of starting another."""
    data = summary_input(settings, year, requested_by, as_of)  # first: names a missing setting
    workflow_id = f"year-end-summary:{data.district}:{year}"
    if request_id is not None:
        previous = client.get_workflow_handle(workflow_id, result_type=SummaryDocument)
        try:
            described = await previous.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if await described.memo_value(MEMO_KEY, None) == request_id:
                return await previous.result()
    return await client.execute_workflow(
        WORKFLOW_TYPE,
        data,
        id=workflow_id,
        memo={MEMO_KEY: request_id} if request_id else None,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(settings.district, year),
        result_type=SummaryDocument,
    )


async def latest(engine: AsyncEngine, settings: Settings, year: int) -> SummaryDocument | None:
    return await summary_store.latest(engine, settings.district, year)


#: Export formats.
#: Export formats; ``pdf`` needs LibreOffice (``soffice``).
FORMATS = ("md", "json", "docx", "pdf")


class ExportUnavailable(RuntimeError):
    """An export this machine cannot make (no LibreOffice for a PDF)."""


def export(document: SummaryDocument, fmt: str) -> bytes:
    if fmt == "md":
        return document.markdown.encode()
    if fmt == "json":
        return json.dumps(
            {
                "title": document.title,
                "year": document.year,
                "district": document.district,
                "version": document.version,
                "as_of": document.figures.as_of.isoformat() if document.figures.as_of else None,
                "text": document.markdown,
                "figures": document.figures.model_dump(mode="json"),
                "content_hash": document.content_hash,
            },
            ensure_ascii=False,
            indent=2,
        ).encode()
    if fmt == "docx":
        return _docx(document)
    if fmt == "pdf":
        return convert(_docx(document), "pdf")
    raise ValueError(f"format: '{fmt}' is not md, json, docx or pdf")


# -- the .docx: a Chinese official document (GB/T 9704-2012) -------------------------------------

#: Each font the document names, with the one a machine without it should use instead
#: (``w:altName`` in the font table; Word and LibreOffice read it).
FONTS = {
    "仿宋_GB2312": "仿宋",
    "楷体_GB2312": "楷体",
    "黑体": "SimHei",
    "方正小标宋简体": "宋体",
    "宋体": "SimSun",
}
BODY_FONT, KAI_FONT, HEI_FONT, TITLE_FONT, PAGE_FONT = (
    "仿宋_GB2312",
    "楷体_GB2312",
    "黑体",
    "方正小标宋简体",
    "宋体",
)
#: Sizes in points: 二号 22, 三号 16, 四号 14; lines at a fixed 28 points (22 lines a page).
TITLE_SIZE, BODY_SIZE, PAGE_NUMBER_SIZE, LINE_PITCH = 22, 16, 14, 28
#: GB/T 9704: 天头 37 mm, 订口 28 mm, 版心 156 × 225 mm on A4.
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}


def _fonts(run_properties: Any, east_asian: str, western: str = "Times New Roman") -> None:
    from docx.oxml.ns import qn

    fonts = run_properties.find(qn("w:rFonts"))
    if fonts is None:
        fonts = run_properties.makeelement(qn("w:rFonts"), {})
        run_properties.insert(0, fonts)
    for key in list(fonts.attrib):
        del fonts.attrib[key]  # no theme font may win over the named ones
    fonts.set(qn("w:ascii"), western)
    fonts.set(qn("w:hAnsi"), western)
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:cs"), western)
    lang = run_properties.find(qn("w:lang"))
    if lang is None:
        lang = run_properties.makeelement(qn("w:lang"), {})
        run_properties.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def _style(doc: Any, name: str, font: str, size: int, *, bold: bool = False) -> Any:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_LINE_SPACING
    from docx.oxml.ns import qn
    from docx.shared import Pt

    styles = doc.styles
    style = (
        styles[name]
        if name in [s.name for s in styles]
        else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    )
    if name != "Normal":
        style.base_style = styles["Normal"]
        style.quick_style = True
    style.font.size = Pt(size)
    style.font.bold = bold
    style.font.color.rgb = None
    _fonts(style.element.get_or_add_rPr(), font)
    fmt = style.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(LINE_PITCH)
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.widow_control = False
    # Two characters' first-line indent, in characters (Word) and in points (everyone).
    fmt.first_line_indent = Pt(2 * size)
    ind = style.element.get_or_add_pPr().find(qn("w:ind"))
    if ind is not None:
        ind.set(qn("w:firstLineChars"), "200")
    return style


def _outline(style: Any, level: int) -> None:
    from docx.oxml.ns import qn

    ppr = style.element.get_or_add_pPr()
    outline = ppr.find(qn("w:outlineLvl"))
    if outline is None:
        outline = ppr.makeelement(qn("w:outlineLvl"), {})
        ppr.append(outline)
    outline.set(qn("w:val"), str(level))


def _font_table(doc: Any) -> None:
    """Name each font with its fallback (仿宋_GB2312 → 仿宋) and its Chinese character set."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    part = doc.part.part_related_by(RT.FONT_TABLE)
    root = parse_xml(part.blob)
    for name, alternative in FONTS.items():
        root.append(
            parse_xml(
                f'<w:font {nsdecls("w")} w:name="{name}"><w:altName w:val="{alternative}"/>'
                '<w:charset w:val="86"/><w:family w:val="modern"/><w:pitch w:val="fixed"/>'
                "</w:font>"
            )
        )
    from lxml import etree

    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_number(section: Any) -> None:
    """ "— 1 —" centred in the footer, 宋体 四号 (GB/T 9704 7.5)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls
    from docx.shared import Pt

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.paragraph_format.first_line_indent = Pt(0)

    def run(text: str) -> None:
        r = footer.add_run(text)
        r.font.size = Pt(PAGE_NUMBER_SIZE)
        _fonts(r._element.get_or_add_rPr(), PAGE_FONT)

    run("— ")
    footer._p.append(
        parse_xml(
            f'<w:fldSimple {nsdecls("w")} w:instr=" PAGE "><w:r><w:rPr>'
            f'<w:sz w:val="{PAGE_NUMBER_SIZE * 2}"/></w:rPr><w:t>1</w:t></w:r></w:fldSimple>'
        )
    )
    run(" —")


def _docx(document: SummaryDocument) -> bytes:
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    doc = Document()
    doc.core_properties.title = document.title
    doc.core_properties.language = "zh-CN"
    doc.core_properties.created = document.created_at.replace(tzinfo=None)
    doc.core_properties.modified = document.created_at.replace(tzinfo=None)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = Mm(MARGINS_MM["top"])
    section.bottom_margin = Mm(MARGINS_MM["bottom"])
    section.left_margin = Mm(MARGINS_MM["left"])
    section.right_margin = Mm(MARGINS_MM["right"])
    section.footer_distance = Mm(20)
    _font_table(doc)

    body = _style(doc, "Normal", BODY_FONT, BODY_SIZE)
    title = _style(doc, "公文标题", TITLE_FONT, TITLE_SIZE)
    title.paragraph_format.first_line_indent = Pt(0)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.line_spacing = Pt(35)  # a 二号 title needs more than 28 points
    _outline(title, 0)
    first = _style(doc, "一级标题", HEI_FONT, BODY_SIZE)
    _outline(first, 0)
    second = _style(doc, "二级标题", KAI_FONT, BODY_SIZE)
    _outline(second, 1)
    styles = {"# ": title, "## ": first, "### ": second}
    for line in document.markdown.splitlines():
        if not line.strip():
            continue
        marks, _, text = line.partition(" ")
        style = styles.get(marks + " ") if line.startswith("#") else None
        if style is not None:
            doc.add_paragraph(text.strip(), style=style)
            if style is title:
                doc.add_paragraph("", style=body)  # a blank line under the title
        else:
            doc.add_paragraph(line.strip(), style=body)
    _page_number(section)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# -- PDF and page images: LibreOffice ------------------------------------------------------------

SOFFICE_TIMEOUT_SECONDS = 180


def soffice() -> str | None:
    """LibreOffice's ``soffice``, when installed (Debian: ``libreoffice-writer-nogui``)."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(docx: bytes, fmt: str) -> bytes:
    """Render a .docx as ``pdf`` (the whole document) or ``png`` (its first page) with
    LibreOffice, in a profile of its own so conversions may run side by side."""
    program = soffice()
    if program is None:
        raise ExportUnavailable(
            f"{fmt}: LibreOffice is not installed (Debian: apt-get install "
            "libreoffice-writer-nogui fonts-noto-cjk)"
        )
    with tempfile.TemporaryDirectory(prefix="yingji-export-") as work:
        folder = Path(work)
        source = folder / "summary.docx"
        source.write_bytes(docx)
        try:
            done = subprocess.run(
                [
                    program,
                    f"-env:UserInstallation={(folder / 'profile').as_uri()}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    # A page image is Writer's own export of the first page.
                    "png:writer_png_Export" if fmt == "png" else fmt,
                    "--outdir",
                    str(folder),
                    str(source),
                ],
                capture_output=True,
                timeout=SOFFICE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExportUnavailable(
                f"{fmt}: LibreOffice did not finish within {SOFFICE_TIMEOUT_SECONDS} s"
            ) from exc
        target = folder / f"summary.{fmt}"
        if done.returncode != 0 or not target.exists():
            reason = done.stderr.decode(errors="replace").strip().splitlines()
            raise ExportUnavailable(
                f"{fmt}: LibreOffice could not convert the document "
                f"(exit {done.returncode}{': ' + reason[-1] if reason else ''})"
            )
        return target.read_bytes()
