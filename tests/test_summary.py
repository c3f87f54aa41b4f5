"""Year-end summaries: the section the bureau would have written.

Three constructed years, each loaded as a scenario through the same entry points as ``yingji
load`` (never inserted rows), and summarised by the workflow:

- a district year shaped like seed 000's section "(二)完善突发事件应对制度机制" (Jiading 2024):
  1 overall and 37 special/departmental plans made, revisions started by topic, the 嘉安-2024
  drill, typhoons 贝碧嘉 and 普拉桑 (20,574 people evacuated), the officers, 叫应;
- a city year shaped like seed 004's (Xi'an 2023, reported before the year's end): its overall
  plan and its 20 districts', 47 special plans revised, a monthly/quarterly/annual programme;
- an empty year: the lead and nothing false.

The expected sentences are the seeds' own, written out here by hand; the .docx is read back.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from docx.enum.text import WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt
from sqlalchemy import text
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from activities.summary_text import chinese_number, load_templates, render
from models.drill import CadenceItem, DrillForm, DrillScope, DrillType, Frequency, ProgrammeInput
from models.summary import SummaryDocument
from tests.conftest import make_settings
from tests.helpers import eventually
from tests.stack import MEIHUA, Stack, fresh_stack, load_file
from worker import build_worker
from yingji import loader as scenario
from yingji.services import drill as drills
from yingji.services import summary as summaries
from yingji.stores import summary as summary_store

JIADING = "嘉定区"
JIADING_BUREAU = "上海市嘉定区应急管理局"
TOWNS = [
    "新成路街道", "真新街道", "嘉定镇街道", "南翔镇", "安亭镇", "马陆镇",
    "徐行镇", "华亭镇", "外冈镇", "江桥镇", "菊园新区", "嘉定工业区",
]  # fmt: skip
VILLAGES = ["永丰村", "静华社区", "浏翔村"]  # under 南翔镇

CITY = "西岚市"
CITY_BUREAU = "西岚市应急管理局"
DISTRICTS = [f"第{chinese_number(i)}区" for i in range(1, 21)]


def at(day: str, hour: int = 9) -> str:
    return f"{day}T{hour:02d}:00:00+08:00"


def plan_steps(day: date, code: str, version_note: str = "") -> list[dict[str, Any]]:
    """Drafted, reviewed, approved and issued within a few days of ``day``."""

    def on(n: int) -> str:
        return at((day + timedelta(days=n)).isoformat())

    return [
        {"submit": {"by": "预案科", "note": version_note, "at": on(1)}},
        {"review": {"reviewer": "成员单位", "opinion": "同意", "outcome": "pass", "at": on(2)}},
        {"review": {"reviewer": "专家组", "opinion": "论证通过", "outcome": "pass", "at": on(3)}},
        {"review": {"reviewer": "司法局", "opinion": "合法", "outcome": "pass", "at": on(4)}},
        {
            "approve": {
                "approver": "政府常务会议",
                "collective_discussion": True,
                "at": on(5),
            }
        },
        {
            "issue": {
                "document_number": f"{code}〔{day.year}〕1号",
                "issuer": "政府办公室",
                "at": on(6),
            }
        },
    ]


def plan(
    code: str,
    name: str,
    kind: str,
    level: str,
    day: date,
    *,
    district: str | None = None,
    short_name: str | None = None,
    revise_on: date | None = None,
    reissue: bool = False,
) -> dict[str, Any]:
    """A plan made on ``day`` (filed, so it is in force); then, when ``revise_on`` is given, a
    revision started that day and, with ``reissue``, its version 2 issued."""
    create: dict[str, Any] = {
        "code": code,
        "name": name,
        "kind": kind,
        "level": level,
        "unit": name[:3],
        "drafter": "预案科",
        "at": at(day.isoformat()),
    }
    if short_name:
        create["short_name"] = short_name
    steps = plan_steps(day, code)
    filed = (day + timedelta(days=10)).isoformat()
    steps.append({"file": {"filed_with": "上级", "filed_by": "预案科", "at": at(filed)}})
    if revise_on is not None:
        steps.append(
            {
                "trigger_revision": {
                    "cause": "law_changed",
                    "detail": "上位预案修订",
                    "source": "预案科",
                    "trigger_id": f"{code}-R1",
                    "at": at(revise_on.isoformat()),
                }
            }
        )
        if reissue:
            steps += plan_steps(revise_on + timedelta(days=1), f"{code}-2", "修订稿")
    entry: dict[str, Any] = {"create": create, "steps": steps}
    if district:
        entry["district"] = district
    return entry


def chunks(items: list[Any], n: int) -> list[list[Any]]:
    return [items[i::n] for i in range(n)]


async def load_in_parallel(stack: Stack, name: str, parts: list[dict[str, Any]]) -> None:
    """Each part is a scenario of its own (its plans load one step after another); the parts
    load side by side."""
    reports = await asyncio.gather(
        *(
            scenario.load(
                stack.client,
                stack.engine,
                stack.settings,
                scenario.parse(json.dumps({"scenario": f"{name}-{i}", **part}, ensure_ascii=False)),
            )
            for i, part in enumerate(parts)
        )
    )
    assert all(r is not None for r in reports)


# -- the district year (seed 000) ----------------------------------------------------------------

REVISED = [  # (简称, title): the topics seed 000 names, and a fifth the text leaves to 等
    ("地震", "嘉定区地震应急预案"),
    ("处置危险化学品", "嘉定区处置危险化学品事故应急预案"),
    ("生产安全事故", "嘉定区生产安全事故应急预案"),
    ("突发事件人员转移安置和应急避难场所启用", "嘉定区突发事件人员转移安置和应急避难场所启用预案"),
    ("防汛防台", "嘉定区防汛防台专项应急预案"),
]


def typhoon(number: int, name: str, start: date, relocated: list[int]) -> dict[str, Any]:
    day = start.isoformat
    reports = [
        {
            "report_id": f"TY{number}-{i}",
            "unit": TOWNS[i],
            "as_of": at(day(), 18),
            "reported_by": f"{TOWNS[i]}信息员甲",
            "figures": {
                "pre_evacuated": 0,
                "relocated": n,
                "centralized": n - 10,
                "dispersed": 10,
            },
        }
        for i, n in enumerate(relocated)
    ]
    return {
        "open": {
            "year": start.year,
            "number": number,
            "name": name,
            "district": JIADING,
            "opened_by": "区防汛指挥部办公室",
            "level": "II",
            "warning": "orange",
            "at": at(day(), 8),
        },
        "levels": [
            {
                "level": "none",
                "warning": "lifted",
                "by": "区防汛指挥部",
                "note": "预警解除",
                "at": at((start + timedelta(days=2)).isoformat(), 12),
            }
        ],
        "reports": reports,
        "close": {
            "by": "区防指",
            "note": "影响结束",
            "at": at((start + timedelta(days=2)).isoformat(), 17),
        },
    }


def disaster(code: str, name: str, occurred: date, affected: int, relocated: int) -> dict[str, Any]:
    """A typhoon's disaster process: 初报, stable, a 核报 that passes review."""
    figures = {
        "affected": affected,
        "pre_evacuated": affected - relocated,
        "relocated": relocated,
        "centralized": relocated,
        "dispersed": 0,
        "direct_loss": 12.5,
    }
    day = occurred.isoformat()
    final_day = (occurred + timedelta(days=2)).isoformat()
    return {
        "open": {
            "code": code,
            "name": name,
            "hazard": "台风",
            "district": JIADING,
            "occurred_at": at(day, 10),
            "opened_by": "区应急局值班室",
            "officer": {"name": "区应急局灾害信息员", "phone": "021-5999-0001"},
        },
        "steps": [
            {
                "report": {
                    "kind": "initial",
                    "report_id": f"{code}-CB",
                    "as_of": at(day, 11),
                    "submitted_at": at(day, 11),
                    "by": "区应急局灾害信息员",
                    "indicators": figures,
                    "towns": [{"town": TOWNS[0], "indicators": figures}],
                }
            },
            {"review": {"report_id": f"{code}-CB", "reviewer": "市应急局", "decision": "pass"}},
            {"stable": {"by": "区应急局", "stable_on": (occurred + timedelta(days=1)).isoformat()}},
            {
                "report": {
                    "kind": "final",
                    "report_id": f"{code}-HB",
                    "as_of": at(final_day, 10),
                    "submitted_at": at(final_day, 16),
                    "by": "区应急局灾害信息员",
                    "indicators": figures,
                }
            },
            {"review": {"report_id": f"{code}-HB", "reviewer": "市应急局", "decision": "pass"}},
        ],
    }


def jiading_year() -> list[dict[str, Any]]:
    made = [plan("JD-ZT", "嘉定区突发事件总体应急预案", "overall", "district", date(2024, 2, 1))]
    made += [
        plan(f"JD-ZX{i:02d}", f"嘉定区专项应急预案{i}", "special", "district", date(2024, 3, 1))
        for i in range(30)
    ]
    made += [
        plan(
            f"JD-BM{i:02d}", f"嘉定区部门应急预案{i}", "departmental", "district", date(2024, 4, 1)
        )
        for i in range(7)
    ]
    revised = [
        plan(
            f"JD-XD{i}",
            title,
            "special",
            "district",
            date(2021, 3, 1),
            short_name=topic,
            revise_on=date(2024, 5, 10 + i),
        )
        for i, (topic, title) in enumerate(REVISED)
    ]
    units = [
        {"code": f"JD-{i + 1:02d}", "name": name, "level": "town", "district": JIADING}
        for i, name in enumerate(TOWNS)
    ] + [
        {
            "code": f"JD-04-{i + 1:03d}",
            "name": name,
            "level": "village",
            "parent_code": "JD-04",
            "district": JIADING,
        }
        for i, name in enumerate(VILLAGES)
    ]
    officers = [
        {
            "unit": u["code"],
            "role": "A",
            "name": f"{u['name']}信息员甲",
            "phone": f"021-5990-{n:04d}",
            "valid_from": "2024-01-01",
        }
        for n, u in enumerate(units)
    ]
    events = {
        "units": units,
        "officers": officers,
        "drills": [
            {
                "create": {
                    "code": "JD-JA-2024",
                    "name": "嘉安-2024",
                    "drill_type": "comprehensive_live",
                    "scenario": "持续强降雨，远香湖堤防险情",
                    "organiser": "嘉定区应急管理局",
                    "participants": ["嘉定区水务局", "嘉定区消防救援支队"],
                    "site": "远香湖",
                    "scheduled_on": "2024-06-18",
                    "at": at("2024-05-01"),
                },
                "steps": [
                    {
                        "conduct": {
                            "participant_count": 320,
                            "by": "指挥部",
                            "at": at("2024-06-18", 16),
                        }
                    },
                    {
                        "evaluate": {
                            "evaluator": "第三方评估组",
                            "third_party": True,
                            "summary": "总体成功",
                            "findings": [
                                {
                                    "severity": "medium",
                                    "category": "equipment",
                                    "description": "物资台账不全",
                                }
                            ],
                            "actions": [
                                {
                                    "finding": 1,
                                    "description": "建立电子台账",
                                    "owner": "区应急局",
                                    "due_on": "2024-07-31",
                                }
                            ],
                            "at": at("2024-06-28"),
                        }
                    },
                    {"action-done": {"action": 1, "by": "区应急局", "at": at("2024-07-20")}},
                ],
            },
            {  # a 街镇's own comprehensive drill: counted, never named as the bureau's
                "create": {
                    "code": "JD-NX-2024",
                    "name": "南翔镇2024年防汛防台综合演练",
                    "drill_type": "comprehensive",
                    "scenario": "内涝",
                    "organiser": "南翔镇人民政府",
                    "site": "南翔镇",
                    "scheduled_on": "2024-07-10",
                    "at": at("2024-06-01"),
                },
                "steps": [
                    {
                        "conduct": {
                            "participant_count": 80,
                            "by": "南翔镇",
                            "at": at("2024-07-10", 16),
                        }
                    }
                ],
            },
        ],
        # 贝碧嘉 15,000 and 普拉桑 5,574: 20,574 in all (seed 000).
        "typhoons": [
            typhoon(13, "贝碧嘉", date(2024, 9, 14), [6000, 5000, 4000]),
            typhoon(14, "普拉桑", date(2024, 9, 18), [3000, 2574]),
        ],
        "warnings": [
            {
                "warning_id": "JD-2024-0915-TF",
                "title": "台风橙色预警叫应",
                "district": JIADING,
                "issued_by": "区防汛指挥部办公室",
                "issued_at": at("2024-09-15", 10),
                "acks": [
                    {"person": f"{u['name']}信息员甲", "at": f"2024-09-15T10:0{1 + n % 3}:00+08:00"}
                    for n, u in enumerate(units[:11])
                ],  # 嘉定工业区 did not answer
            }
        ],
        "disasters": [
            disaster("JD-2024-BBJ", "台风“贝碧嘉”灾害过程", date(2024, 9, 15), 18000, 15000),
            disaster("JD-2024-PLS", "台风“普拉桑”灾害过程", date(2024, 9, 19), 6000, 5574),
        ],
    }
    return [events, *({"plans": c} for c in chunks(made + revised, 6))]


@pytest.fixture(scope="module")
async def jiading(database_url: str) -> AsyncIterator[Stack]:
    async with fresh_stack(database_url) as stack:
        stack.settings = stack.settings.model_copy(
            update={
                "bureau_name": JIADING_BUREAU,
                "bureau_district": JIADING,
                "bureau_level": "district",
            }
        )
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            parts = jiading_year()
            await load_in_parallel(stack, "jiading-2024", parts[:1])  # units first
            await load_in_parallel(stack, "jiading-2024", parts[1:])
            yield stack


async def summary_of(stack: Stack, year: int, as_of: date | None = None) -> SummaryDocument:
    return await summaries.run_summary(stack.client, stack.settings, year, "测试", as_of=as_of)


async def test_a_district_year_reads_as_seed_000(jiading: Stack) -> None:
    document = await summary_of(jiading, 2024)
    markdown = document.markdown
    f = document.figures
    assert document.title == "2024年嘉定区突发事件应对工作情况"
    # Seed 000, (二): the sentences it writes, whole.
    for sentence in (
        "### （二）完善突发事件应对制度机制",
        "2024年，我局坚持关口前移、源头治理，不断健全风险防范化解机制，提升风险防控能力，"
        "着力推动公共安全治理模式向事前预防转型。一是建立高效应急指挥体系。",
        "二是健全完善应急保障体系。加快推进结构化、场景化预案修订，启动地震、处置危险化学品、"
        "生产安全事故、突发事件人员转移安置和应急避难场所启用等专项应急预案修订，"
        "完成1项总体应急预案和37项专项部门应急预案制定工作。",
        "强化实战化演练，统筹做好“嘉安-2024”嘉定区综合应急演练",
        "三是健全完善灾害防控体系。继续做好本区自然灾害信息员队伍能力建设，",
        "顺利抗击台风“贝碧嘉”和“普拉桑”，累计紧急转移安置危险区域人员20574人，"
        "并完成灾情统计上报工作。",
    ):
        assert sentence in markdown, (sentence, markdown)
    # What the seed does not say but the year's records do, in the same voice.
    for sentence in (
        "健全预警“叫应”机制，开展预警叫应1轮次，叫应率91.7%。",
        "统筹做好“嘉安-2024”嘉定区综合应急演练，3家单位参与，参演320人，"
        "全年共组织开展各类应急演练2次，其中综合演练2次，实战演练1次，"
        "针对演练发现的问题完成整改1项。",
        "现有灾害信息员15名，覆盖全区12个街镇、3个村居，实现村居全覆盖。",
        "全年各类自然灾害共造成受灾人口24000人，紧急转移安置20574人，直接经济损失25万元，"
        "报送灾情信息4期，其中初报2期、核报2期，均按时报送。",
    ):
        assert sentence in markdown, (sentence, markdown)
    # The 街镇's own drill is counted, never named as the bureau's; nothing is said twice.
    assert "南翔镇2024年防汛防台综合演练" not in markdown
    assert markdown.count("嘉安-2024") == 1
    assert "等" not in markdown.split("启动")[0]
    # 存在的不足: a paragraph of its own, after the section's.
    paragraphs = [p for p in markdown.split("\n\n") if p.strip()]
    assert paragraphs[-1] == (
        "我局在突发事件应对工作中取得了一定成效，但对照新形势新要求，仍存在一些不足，"
        "主要表现在：一是预警叫应响应仍需加强，1人次未在规定时间内应答。"
    )
    # The figures behind it.
    assert [(p.topic, p.version) for p in f.revisions_started_plans] == [
        (topic, 2) for topic, _ in REVISED
    ]
    assert f.plans_made == {"departmental": 7, "overall": 1, "special": 30}
    assert [(e.name, e.relocated, e.processes, e.processes_final) for e in f.events] == [
        ("贝碧嘉", 15000, 1, 1),
        ("普拉桑", 5574, 1, 1),
    ]
    assert (f.warnings, f.call_targets, f.calls_answered) == (1, 12, 11)
    assert f.drills_by_form == {"live": 1} and f.drills_by_scope == {"comprehensive": 2}
    assert f.reports_by_kind == {"final": 2, "initial": 2}

    # Rerun on unchanged data: the same text and hash under a new version.
    again = await summary_of(jiading, 2024)
    assert again.version == document.version + 1
    assert (again.markdown, again.content_hash) == (markdown, document.content_hash)


async def test_a_summary_before_the_years_end_says_up_to_when(jiading: Stack) -> None:
    """普陀 wrote on 9 November "截至10月底"; a summary counts up to its day and says so."""
    october = await summary_of(jiading, 2024, date(2024, 10, 31))
    assert october.figures.as_of == date(2024, 10, 31)
    assert october.markdown.count("\n\n2024年以来，我局坚持关口前移") == 1
    assert "截至10月底，共组织开展各类应急演练2次" in october.markdown
    assert "全年" not in october.markdown
    # Up to 1 August: the typhoons and their reports are not yet; the drill is.
    august = await summary_of(jiading, 2024, date(2024, 8, 1))
    assert "截至8月1日，共组织开展各类应急演练2次" in august.markdown
    assert "台风" not in august.markdown and "灾情" not in august.markdown
    assert "叫应" not in august.markdown  # the warning was issued in September
    # Up to 12 May: three of the five revisions had started, all named, without 等.
    may = await summary_of(jiading, 2024, date(2024, 5, 12))
    assert "启动地震、处置危险化学品、生产安全事故专项应急预案修订" in may.markdown
    exported = json.loads(summaries.export(may, "json"))
    assert exported["as_of"] == "2024-05-12"


async def test_the_docx_is_a_chinese_official_document(jiading: Stack, tmp_path: Path) -> None:
    document = await summary_of(jiading, 2024)
    docx = Document(io.BytesIO(summaries.export(document, "docx")))
    section = docx.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # A4
    assert [
        round(m.mm)
        for m in (
            section.top_margin,
            section.bottom_margin,
            section.left_margin,
            section.right_margin,
        )
    ] == [37, 35, 28, 26]

    def east_asian(style_name: str) -> str:
        fonts = docx.styles[style_name].element.rPr.find(qn("w:rFonts"))
        return fonts.get(qn("w:eastAsia"))

    assert east_asian("Normal") == "仿宋_GB2312"
    assert east_asian("公文标题") == "方正小标宋简体"
    assert east_asian("一级标题") == "黑体" and east_asian("二级标题") == "楷体_GB2312"
    normal = docx.styles["Normal"]
    assert normal.font.size == Pt(16)  # 三号
    fmt = normal.paragraph_format
    assert fmt.line_spacing_rule == WD_LINE_SPACING.EXACTLY and fmt.line_spacing == Pt(28)
    assert fmt.first_line_indent == Pt(32)
    assert normal.element.pPr.find(qn("w:ind")).get(qn("w:firstLineChars")) == "200"
    paragraphs = [(p.style.name, p.text) for p in docx.paragraphs if p.text]
    assert paragraphs[0] == ("公文标题", "2024年嘉定区突发事件应对工作情况")
    assert paragraphs[1] == ("二级标题", "（二）完善突发事件应对制度机制")
    assert paragraphs[2][0] == "Normal" and paragraphs[2][1].startswith("2024年，我局")
    assert paragraphs[-1][1].startswith("我局在突发事件应对工作中取得了一定成效")
    # The fallback fonts, and a page number in the footer.
    font_table = docx.part.part_related_by(
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable"
    ).blob.decode()
    assert 'w:name="仿宋_GB2312"><w:altName w:val="仿宋"/>' in font_table
    footer = section.footer.paragraphs[0]._p.xml
    assert 'w:instr=" PAGE "' in footer

    # Rendered by LibreOffice (`make test` installs it): a PDF, and the first page as an image
    # of an A4 page that is not blank.
    pdf = summaries.export(document, "pdf")
    assert pdf.startswith(b"%PDF")
    png = summaries.convert(summaries.export(document, "docx"), "png")
    width, height, dark = ink(png)
    assert 0.68 < width / height < 0.73  # an A4 page: 210 / 297 = 0.707
    assert dark > 0.005, "the page is blank"


def ink(png: bytes) -> tuple[int, int, float]:
    """(width, height, share of dark pixels) of an 8-bit PNG without interlacing."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    assert header is not None
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (0, 2, 4, 6), header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    dark = 0
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                nearest = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + nearest) & 0xFF
        for x in range(0, stride, channels):  # grey, or the mean of red, green and blue
            value = line[x] if colour in (0, 4) else sum(line[x : x + 3]) // 3
            dark += value < 128
        previous = line
    return width, height, dark / (width * height)


def city_year() -> tuple[str, list[dict[str, Any]]]:
    units = "code,name,level,parent_code,district\nXL,西岚市,city,,西岚市\n" + "".join(
        f"XL-{i + 1:02d},{d},district,XL,{d}\n" for i, d in enumerate(DISTRICTS)
    )
    overall = [plan("XL-ZT", "西岚市突发事件总体应急预案", "overall", "city", date(2023, 3, 1))]
    overall += [
        plan(
            f"XL-{i + 1:02d}-ZT",
            f"{d}突发事件总体应急预案",
            "overall",
            "district",
            date(2023, 4, 1),
            district=d,
        )
        for i, d in enumerate(DISTRICTS)
    ]
    special = [
        plan(
            f"XL-ZX{i:02d}",
            f"西岚市专项应急预案{i}",
            "special",
            "city",
            date(2020, 1, 6),
            revise_on=date(2023, 2, 1),
            reissue=True,
        )
        for i in range(47)
    ]
    drills_ = [
        {
            "create": {
                "code": f"XL-2023-{key}",
                "name": f"西岚市2023年{title}",
                "drill_type": kind,
                "scenario": title,
                "organiser": CITY_BUREAU,
                "site": "市应急救援训练基地",
                "scheduled_on": day,
                "programme_id": "programme:XL:2023",
                "at": at("2023-01-05"),
            },
            "steps": [{"conduct": {"participant_count": 40, "by": "救援支队", "at": at(day, 16)}}],
        }
        for key, title, kind, day in (
            ("M01", "实战演练", "single_live", "2023-01-16"),
            ("M02", "实战演练", "single_live", "2023-02-15"),
            ("Q1", "技能比武", "single_live", "2023-02-20"),
            ("A", "综合拉动演练", "comprehensive_live", "2023-06-19"),
        )
    ]
    parts = [{"plans": c} for c in chunks(overall + special, 8)]
    parts[0]["drills"] = drills_
    return units, parts


CADENCE = [
    CadenceItem(
        key="M", frequency=Frequency.MONTHLY, drill_type=DrillType.SINGLE_LIVE,
        title="实战演练", scenario="月度实战演练",
    ),
    CadenceItem(
        key="Q", frequency=Frequency.QUARTERLY, drill_type=DrillType.SINGLE_LIVE,
        title="技能比武", scenario="季度技能比武", month=2, day=20,
    ),
    CadenceItem(
        key="A", frequency=Frequency.ANNUAL, drill_type=DrillType.COMPREHENSIVE_LIVE,
        title="综合拉动", scenario="年度综合拉动", month=6, day=18,
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
async def city(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    # The bureau's own wording: 西安 writes "区县(开发区)".
    template = tmp_path_factory.mktemp("template") / "year_end.toml"
    template.write_text('[plans]\ndistrict_overall = "{n}个区县(开发区)总体应急预案"\n')
    async with fresh_stack(database_url) as stack:
        stack.settings = stack.settings.model_copy(
            update={
                "bureau_name": CITY_BUREAU,
                "bureau_district": CITY,
                "bureau_level": "city",
                "summary_template_path": template,
            }
        )
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            from yingji.services import unit as units

            csv, parts = city_year()
            await units.import_csv(stack.engine, csv)
            # The programme of the year (its past drills are loaded below, as they were held).
            await drills.start_programme(
                stack.client,
                stack.settings,
                ProgrammeInput(unit=CITY_BUREAU, unit_code="XL", year=2023, items=CADENCE),
            )

            async def programme() -> list[Any]:
                async with stack.engine.connect() as conn:
                    found = await conn.execute(text("SELECT items FROM drill_programme"))
                    return list(found)

            await eventually(programme, lambda rows: len(rows) == 1)
            await load_in_parallel(stack, "city-2023", parts)
            yield stack


async def test_a_city_year_reads_as_seed_004(city: Stack) -> None:
    document = await summary_of(city, 2023, date(2023, 11, 30))
    markdown = document.markdown
    f = document.figures
    # Seed 004, (五): "截止目前,1个市级突发事件总体应急预案和20个区县(开发区)总体应急预案全部
    # 印发,47个市级专项应急预案全部修编完成" and "按照“月度实战演练、季度技能比武、年度综合拉动”
    # 模式,定期开展演练".
    for sentence in (
        "2023年以来，我局坚持关口前移",
        "加快推进结构化、场景化预案修订，1个市级突发事件总体应急预案和20个区县(开发区)"
        "总体应急预案全部印发，47个市级专项应急预案全部修编完成。",
        "强化实战化演练，统筹做好西岚市2023年综合拉动演练，参演40人，"
        "按照“月度实战演练、季度技能比武、年度综合拉动”模式，定期开展演练4次，"
        "截至11月底，共组织开展各类应急演练4次，其中综合演练1次、单项演练3次，实战演练4次。",
    ):
        assert sentence in markdown, (sentence, markdown)
    # Revisions started and completed in the period are said once, completed.
    assert "启动" not in markdown
    assert f.special_plans_by_jurisdiction == {"city": 47}
    assert len({p.code for p in f.revisions_completed_plans}) == 47
    assert (f.city_overall_issued, f.districts_overall_issued, len(f.districts)) == (1, 20, 20)
    assert f.programmes[0].pattern == ["月度实战演练", "季度技能比武", "年度综合拉动"]
    # No 叫应, typhoon, officer or report in this year: nothing is said of them.
    for absent in ("叫应", "台风", "灾害信息员", "灾情", "存在一些不足"):
        assert absent not in markdown, absent


async def test_the_empty_year_says_the_lead_and_nothing_false(
    ts_client: Client, task_queue: str, engine, code: str
) -> None:
    settings = make_settings(bureau_district=f"空白区{code}")
    first = await summaries.run_summary(ts_client, settings, 2017, "值班员", task_queue=task_queue)
    second = await summaries.run_summary(ts_client, settings, 2017, "值班员", task_queue=task_queue)
    assert second.version == first.version + 1
    assert (second.markdown, second.content_hash) == (first.markdown, first.content_hash)
    assert first.markdown == (
        f"# 2017年空白区{code}突发事件应对工作情况\n\n### （二）完善突发事件应对制度机制\n\n"
        "2017年，我局坚持关口前移、源头治理，不断健全风险防范化解机制，提升风险防控能力，"
        "着力推动公共安全治理模式向事前预防转型。"
    )
    stored = await summaries.latest(engine, settings, 2017)
    assert stored is not None and stored.version == second.version
    exported = json.loads(summaries.export(second, "json"))
    assert exported["figures"]["typhoon_relocated"] == 0 and exported["version"] == second.version
    docx = Document(io.BytesIO(summaries.export(second, "docx")))
    texts = [p.text for p in docx.paragraphs if p.text]
    assert texts[:2] == [
        f"2017年空白区{code}突发事件应对工作情况",
        "（二）完善突发事件应对制度机制",
    ]


# -- the wording's rules, on the figures of a loaded year ----------------------------------------


async def test_the_template_decides_the_voice_heading_and_evacuees(
    jiading: Stack, tmp_path: Path
) -> None:
    figures = await summary_store.figures(
        jiading.engine, 2024, JIADING, "district", None, JIADING_BUREAU
    )
    edited = tmp_path / "year_end.toml"
    edited.write_text(
        '[section]\nordinal = "（三）"\nheading = "防灾减灾救灾"\nlevel = 1\nvoice = "本区"\n'
        "[events]\ninclude_pre_evacuated = true\n"
    )
    _, markdown = render(figures, JIADING_BUREAU, load_templates(edited))
    assert "## （三）防灾减灾救灾" in markdown and "2024年，本区坚持" in markdown
    # The typhoons' tallies had no 紧急避险转移: the sentence stays as it was.
    assert "累计紧急转移安置危险区域人员20574人" in markdown
    t = load_templates()
    _, bureau = render(
        figures, JIADING_BUREAU, {**t, "section": {**t["section"], "voice": "{bureau}"}}
    )
    assert "2024年，上海市嘉定区应急管理局坚持" in bureau


async def test_sentences_without_their_facts_are_left_out(jiading: Stack) -> None:
    figures = await summary_store.figures(
        jiading.engine, 2024, JIADING, "district", None, JIADING_BUREAU
    )
    t = load_templates()
    # A typhoon that moved nobody is not named; statistics not completed are not claimed.
    events = [
        figures.events[0].model_copy(update={"relocated": 0}),
        figures.events[1].model_copy(update={"processes_final": 0}),
    ]
    _, markdown = render(figures.model_copy(update={"events": events}), JIADING_BUREAU, t)
    assert "顺利抗击台风“普拉桑”，累计紧急转移安置危险区域人员5574人。" in markdown
    assert "贝碧嘉" not in markdown and "并完成灾情统计上报工作" not in markdown
    assert "一是灾情核报工作仍需加强，“普拉桑”灾情核报尚未全部完成。" in markdown
    # One special plan: 专项, not 专项部门; one revision named, no 等.
    one = figures.model_copy(
        update={
            "plans_made": {"special": 1},
            "revisions_started_plans": figures.revisions_started_plans[:1],
        }
    )
    _, markdown = render(one, JIADING_BUREAU, t)
    assert "启动地震专项应急预案修订，完成1项专项应急预案制定工作。" in markdown
    # Gaps, late and rejected reports, open actions, overdue evaluations: 存在的不足 only.
    short = figures.model_copy(
        update={
            "units_by_level": {"town": 12, "village": 5},
            "officer_units_by_level": {"town": 11, "village": 3},
            "reports_late": 1,
            "reports_rejected": 2,
            "actions_open": 3,
            "plans_evaluation_overdue": 2,
        }
    )
    _, markdown = render(short, JIADING_BUREAU, t)
    body, shortcomings = markdown.rstrip().rsplit("\n\n", 1)
    assert "实现村居全覆盖" not in body and "均按时报送" not in body
    assert shortcomings == (
        "我局在突发事件应对工作中取得了一定成效，但对照新形势新要求，仍存在一些不足，主要表现在："
        "一是基层灾害信息员队伍仍有空缺，尚有2个村居、1个街镇未配备在岗灾害信息员。"
        "二是灾情报送时效和质量仍需提升，迟报灾情信息1期，被上级退回2期。"
        "三是预警叫应响应仍需加强，1人次未在规定时间内应答。"
        "四是演练发现问题整改仍需加快，尚有3项整改措施未完成。"
        "五是应急预案评估工作仍需加强，2项应急预案逾期未评估。"
    )


def test_a_drill_records_its_form_and_scope_apart() -> None:
    assert DrillType.parse("综合实战演练") is DrillType.COMPREHENSIVE_LIVE
    assert DrillType.of(DrillForm.LIVE, DrillScope.COMPREHENSIVE) is DrillType.COMPREHENSIVE_LIVE
    assert DrillType.of(DrillForm.TABLETOP, None) is DrillType.TABLETOP
    # The values drills were recorded with before still load, each saying what it knew.
    assert (DrillType("live").form, DrillType("live").scope) == (DrillForm.LIVE, None)
    assert (DrillType("comprehensive").form, DrillType("comprehensive").scope) == (
        None,
        DrillScope.COMPREHENSIVE,
    )
    assert DrillType("single_tabletop").scope is DrillScope.SINGLE
    with pytest.raises(ValueError, match="give a form"):
        DrillType.of(None, None)


def test_plan_topics_and_numbers() -> None:
    assert summary_store.topic("嘉定区地震应急预案", None, ["嘉定区"]) == "地震"
    assert (
        summary_store.topic("嘉定区防汛防台专项应急预案（2022年修订）", None, ["嘉定区"])
        == "防汛防台"
    )
    assert summary_store.topic("某预案", "危化", ["嘉定区"]) == "危化"
    assert [chinese_number(n) for n in (1, 10, 12, 20, 37)] == [
        "一",
        "十",
        "十二",
        "二十",
        "三十七",
    ]


async def test_the_meihua_example_exports_in_the_bureaus_typography(database_url: str) -> None:
    async with fresh_stack(database_url) as stack:
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            await load_file(stack, MEIHUA)
            document = await summaries.run_summary(stack.client, stack.settings, 2022, "测试")
    assert (
        "顺利抗击台风“梅花”，累计紧急转移安置危险区域人员15541人，并完成灾情统计上报工作。"
        in document.markdown
    )
    assert "统筹做好嘉定区2022年防汛防台综合演练，5家单位参与，参演320人" in document.markdown
    assert "开展预警叫应1轮次，叫应率83.3%" in document.markdown
    docx = Document(io.BytesIO(summaries.export(document, "docx")))
    page = docx.sections[0]
    assert (round(page.page_width.mm), round(page.page_height.mm)) == (210, 297)
    assert docx.paragraphs[0].style.name == "公文标题"


async def test_schedule_runs_early_january_in_shanghai(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    settings = make_settings()
    await summaries.ensure_schedule(client, settings, task_queue)
    await summaries.ensure_schedule(client, settings, task_queue)  # idempotent
    description = await client.get_schedule_handle(summaries.SCHEDULE_ID).describe()
    shanghai = ZoneInfo("Asia/Shanghai")
    next_run = description.info.next_action_times[0].astimezone(shanghai)
    now = datetime.now(shanghai)
    year = now.year if now < datetime(now.year, 1, 5, 9, tzinfo=shanghai) else now.year + 1
    assert next_run == datetime(year, 1, 5, 9, 0, tzinfo=shanghai)
    policy = description.schedule.policy
    assert policy.overlap is ScheduleOverlapPolicy.SKIP
    assert policy.catchup_window == timedelta(days=31)
    assert description.schedule.spec.time_zone_name == "Asia/Shanghai"
    # The schedule sends no as_of: the full year.
    assert summaries.schedule(settings).action.args[0].as_of is None  # type: ignore[attr-defined]


async def test_a_past_years_typhoon_closed_late_is_in_that_year(engine, code: str) -> None:
    """A typhoon of a past year entered (and closed) only now — the README's walkthrough runs
    2024's 贝碧嘉 today — belongs to its own year's summary once it is closed; an open one to
    none."""
    district = f"迟录区{code}"
    year = date.today().year - 2
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    async with engine.begin() as conn:
        for number, status in ((13, "closed"), (14, "open")):
            event = f"{year}:{number}{code[-3:]}"[:16]
            await conn.execute(
                text(
                    "INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, "
                    "district, status, level, warning, opened_at, closed_at, last_seq, hazard) "
                    "VALUES (:e, :w, :y, :n, :name, :d, :s, 'none', 'lifted', :at, :closed, 1, "
                    "'typhoon')"
                ),
                {
                    "e": event, "w": f"typhoon:{event}", "y": year, "n": number,
                    "name": f"迟录{number}", "d": district, "s": status, "at": now,
                    "closed": now if status == "closed" else None,
                },
            )  # fmt: skip
            await conn.execute(
                text("INSERT INTO typhoon_totals (event_id, relocated) VALUES (:e, 1490)"),
                {"e": event},
            )
    figures = await summary_store.figures(engine, year, district)
    assert [(e.name, e.relocated) for e in figures.events] == [("迟录13", 1490)]
