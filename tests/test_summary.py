"""Year-end summaries: a constructed year's known sentences, reruns, an empty year, the schedule."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from docx import Document
from sqlalchemy import text
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from activities.summary_text import load_templates, render
from models.common import CHINA_TZ
from tests.conftest import make_settings
from yingji.services import summary as summaries
from yingji.stores import summary as summary_store

T = datetime(2019, 6, 18, 10, tzinfo=UTC)


async def constructed_year(conn, code: str, district: str) -> None:  # type: ignore[no-untyped-def]
    """A year with known figures, written inside the caller's transaction."""

    async def sql(statement: str, rows: list[dict]) -> None:
        for row in rows:
            await conn.execute(text(statement), row)

    plans = [
        ("overall", "district", "嘉定区突发事件总体应急预案"),
        ("special", "district", "嘉定区地震应急预案"),
        ("special", "district", "嘉定区危险化学品事故应急预案"),
        ("departmental", "district", "嘉定区交通保障部门应急预案"),
    ]
    await sql(
        "INSERT INTO plan (code, workflow_id, name, kind, level, unit, stage, version, "
        "filing_overdue, evaluation_overdue, last_seq, updated_at) VALUES (:c, :c, :n, :k, :l, "
        "'嘉定区应急管理局', 'in_force', 1, false, false, 1, now())",
        [{"c": f"{code}-P{i}", "n": n, "k": k, "l": lv} for i, (k, lv, n) in enumerate(plans)],
    )
    await sql(
        "INSERT INTO plan_event (plan_code, seq, at, kind, version, stage_to, actor, detail) "
        "VALUES (:c, 1, :t, 'issued', 1, 'issued', 'x', CAST(:d AS jsonb))",
        [
            {"c": f"{code}-P{i}", "t": T, "d": json.dumps({"issued_on": "2019-03-01"})}
            for i in range(len(plans))
        ],
    )
    await sql(
        "INSERT INTO plan_revision (plan_code, version, from_version, started_at, causes, "
        "triggers) VALUES (:c, 2, 1, :t, '[]', '[]')",
        [{"c": f"{code}-P1", "t": T}, {"c": f"{code}-P2", "t": T + timedelta(days=1)}],
    )
    drills = [
        ("comprehensive", "嘉安-2019", 320, '["区水务局", "区消防救援支队"]'),
        ("live", "月度实战演练1", 40, "[]"),
        ("live", "月度实战演练2", 45, "[]"),
    ]
    await sql(
        "INSERT INTO drill (code, workflow_id, name, drill_type, scenario, organiser, site, "
        "participants, stage, scheduled_on, conducted_on, participant_count, evaluation_overdue, "
        "open_actions, overdue_actions, last_seq, updated_at) VALUES (:c, :c, :n, :k, 's', "
        "'嘉定区应急管理局', 'x', CAST(:p AS jsonb), 'evaluated', :d, :d, :count, false, 0, 0, "
        "1, now())",
        [
            {
                "c": f"{code}-D{i}",
                "n": n,
                "k": k,
                "p": p,
                "d": date(2019, 6, 18) + timedelta(days=i),
                "count": count,
            }
            for i, (k, n, count, p) in enumerate(drills)
        ],
    )
    await sql(
        "INSERT INTO corrective_action (drill_code, number, finding, description, owner, due_on, "
        "done_on, overdue) VALUES (:c, :n, 1, 'x', 'y', '2019-07-30', :done, false)",
        [
            {"c": f"{code}-D0", "n": 1, "done": date(2019, 7, 1)},
            {"c": f"{code}-D0", "n": 2, "done": date(2019, 7, 2)},
            {"c": f"{code}-D1", "n": 1, "done": None},
        ],
    )
    # Two typhoons closed within the year; one still open and one closed only in the next year
    # are not the year's (a summary counts what is over by its end).
    for number, name, relocated, status, closed_at in (
        (13, "贝碧嘉", 15000, "closed", T),
        (14, "普拉桑", 5574, "closed", T),
        (15, "未结束", 900, "open", None),
        (16, "跨年", 700, "closed", datetime(2020, 1, 3, tzinfo=CHINA_TZ)),
    ):
        event = f"2019:{number}"
        await conn.execute(
            text(
                "INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, district, "
                "status, level, warning, opened_at, closed_at) VALUES (:e, :e, 2019, :n, :name, "
                ":d, :status, 'none', 'lifted', :t, :closed) ON CONFLICT (event_id) DO UPDATE "
                "SET district = :d, name = :name, status = :status, closed_at = :closed"
            ),
            {
                "e": event,
                "n": number,
                "name": name,
                "d": district,
                "t": T,
                "status": status,
                "closed": closed_at,
            },
        )
        await conn.execute(
            text(
                "INSERT INTO typhoon_totals (event_id, relocated, centralized) VALUES (:e, :r, :r) "
                "ON CONFLICT (event_id) DO UPDATE SET relocated = :r"
            ),
            {"e": event, "r": relocated},
        )
    await conn.execute(
        text(
            "INSERT INTO disaster (code, workflow_id, name, hazard, district, occurred_at, closed, "
            "reports, late_reports, last_seq) VALUES (:c, :c, 'x', '台风', :d, :t, true, 4, 1, 1)"
        ),
        {"c": f"{code}-X", "d": district, "t": T},
    )
    await sql(
        "INSERT INTO disaster_report (disaster_code, report_id, kind, slot, as_of, submitted_at, "
        "late, status, indicators, towns, review_reason) VALUES (:c, :r, 'update', 's', :t, :t, "
        ":late, 'passed', '{}', '[]', '')",
        [{"c": f"{code}-X", "r": f"R{i}", "t": T, "late": i == 3} for i in range(4)],
    )
    await sql(
        "INSERT INTO admin_unit (code, name, level, district) VALUES (:c, :c, 'town', :d)",
        [{"c": f"{code}-T{i}", "d": district} for i in range(3)],
    )
    await sql(
        "INSERT INTO officer (unit_code, role, name, phone, active, updated_at, valid_from) "
        "VALUES (:u, :r, :n, '138', true, now(), '2019-01-01')",
        [
            {"u": f"{code}-T0", "r": "A", "n": "甲"},
            {"u": f"{code}-T0", "r": "B", "n": "乙"},
            {"u": f"{code}-T1", "r": "A", "n": "丙"},
        ],
    )
    await sql(
        "INSERT INTO warning (warning_id, workflow_id, title, district, issued_by, issued_at, "
        "finished, targets, answered, not_reached, call_response_rate, last_seq) VALUES (:w, :w, "
        "'台风红色预警', :d, 'x', :t, true, :targets, :answered, 0, 0, 1)",
        [
            {"w": f"{code}-W1", "d": district, "t": T, "targets": 6, "answered": 6},
            {"w": f"{code}-W2", "d": district, "t": T, "targets": 4, "answered": 3},
        ],
    )


async def test_a_constructed_year_reads_as_the_bureau_writes(engine, code: str) -> None:
    district = f"总结区{code}"
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await constructed_year(conn, code, district)
            figures = await summary_store.figures(conn, 2019, district)
        finally:
            await transaction.rollback()  # the year exists only for this test
    title, markdown = render(figures, "上海市嘉定区应急管理局", load_templates())
    assert title == f"2019年{district}突发事件应对工作情况"
    for sentence in (
        "## （二）完善突发事件应对制度机制",
        "启动《嘉定区地震应急预案》和《嘉定区危险化学品事故应急预案》等专项应急预案修订。",
        "完成1项总体应急预案和3项专项部门应急预案制定工作。",
        f"统筹做好“嘉安-2019”{district}综合应急演练，3家单位参与，参演320人。",
        "全年组织各类应急演练3次，其中综合演练1次，实战演练2次。",
        "针对演练发现的问题，完成整改2项，1项正在整改。",
        "顺利抗击台风“贝碧嘉”和“普拉桑”，累计紧急转移安置危险区域人员20574人，并完成灾情统计上报工作。",
        "全年报送灾情信息4期，其中按时报送3期，迟报1期。",
        "现有灾害信息员3名，覆盖2个街镇、村居。尚有1个单位未配备在岗灾害信息员。",
        "发布预警叫应2次，叫应责任人10人次，叫应率90%。",
    ):
        assert sentence in markdown, sentence
    assert [t.name for t in figures.typhoons] == ["贝碧嘉", "普拉桑"]  # not the open one
    assert figures.plans_made == {"departmental": 1, "overall": 1, "special": 2}
    assert figures.plans_made_by_level == {"district": 4}
    assert (figures.plans_revised, figures.plans_revised_by_level) == (
        {"special": 2},
        {"district": 2},
    )

    # A city revises dozens: the text names a few and gives the count.
    many = figures.model_copy(update={"special_plans_revised": [f"预案{i}" for i in range(12)]})
    _, text_many = render(many, "上海市嘉定区应急管理局", load_templates())
    assert (
        "启动《预案0》、《预案1》、《预案2》、《预案3》和《预案4》等12项专项应急预案修订。"
        in text_many
    )


async def test_reruns_are_identical_and_an_empty_year_invents_nothing(
    ts_client: Client, task_queue: str, engine, code: str
) -> None:
    settings = make_settings(bureau_district=f"空白区{code}")
    first = await summaries.run_summary(ts_client, settings, 2017, "值班员", task_queue=task_queue)
    second = await summaries.run_summary(ts_client, settings, 2017, "值班员", task_queue=task_queue)
    assert second.version == first.version + 1
    assert (second.markdown, second.content_hash) == (first.markdown, first.content_hash)
    assert "台风" not in first.markdown and "演练" not in first.markdown
    assert first.markdown.startswith(f"# 2017年空白区{code}突发事件应对工作情况")
    stored = await summaries.latest(engine, settings, 2017)
    assert stored is not None and stored.version == second.version

    exported = json.loads(summaries.export(second, "json"))
    assert exported["figures"]["typhoon_relocated"] == 0 and exported["version"] == second.version
    docx = Document(io.BytesIO(summaries.export(second, "docx")))
    texts = [p.text for p in docx.paragraphs]
    assert texts[0] == f"2017年空白区{code}突发事件应对工作情况"
    assert texts[1] == "（二）完善突发事件应对制度机制"
    assert texts == [
        p.text for p in Document(io.BytesIO(summaries.export(first, "docx"))).paragraphs
    ]


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
