"""Every past step keeps its time: a scenario whose steps carry ``at:`` is recorded at those
times by ``yingji load``, its deadlines are judged against them (not against the load's clock),
and the year-end figures count each thing in the year it happened. A step's ``at`` in the future,
or earlier than the step before, is refused naming the field, and nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowUpdateFailedError

from models.common import CHINA_TZ
from models.plan import PlanStage, SubmitDraft
from models.typhoon import LevelChange, ResponseLevel, WarningColour
from tests.stack import Stack, fresh_stack
from worker import build_worker
from workflows.base import start_of
from yingji import loader as scenario
from yingji.services import drill as drills
from yingji.services import plan as plans
from yingji.services import typhoon as typhoons
from yingji.stores import summary as summary_store

DISTRICT = "历史区"

#: Invented codes and names; the times are what matters.
YEAR = """
scenario: historical-times
units:
  - {code: LS-01, name: 历史一镇, level: town, district: 历史区}
  - {code: LS-02, name: 历史二镇, level: town, district: 历史区}
plans:
  - create: {code: LS-2022-FXFT, name: 历史区防汛防台专项应急预案, kind: special, level: district,
             unit: 历史区应急管理局, drafter: 预案科, at: '2022-03-01T09:00:00+08:00'}
    steps:
      - submit: {by: 预案科, at: '2022-03-15T10:00:00+08:00'}
      - review: {reviewer: 成员单位, opinion: 同意, outcome: pass, at: '2022-04-01T10:00:00+08:00'}
      - review: {reviewer: 专家组, opinion: 论证通过, outcome: pass,
                 at: '2022-04-15T10:00:00+08:00'}
      - review: {reviewer: 区司法局, opinion: 合法, outcome: pass, at: '2022-05-05T10:00:00+08:00'}
      - approve: {approver: 区政府常务会议, collective_discussion: true,
                  at: '2022-05-18T15:00:00+08:00'}
      - issue: {document_number: 历府办发〔2022〕1号, issuer: 区政府办公室,
                at: '2022-05-20T10:00:00+08:00'}
      - file: {filed_with: 市应急管理局, filed_by: 预案科, at: '2022-06-08T11:00:00+08:00'}
      - trigger_revision: {cause: law_changed, detail: 上位法修订, source: 值班员,
                           trigger_id: LS-law-2024, at: '2024-05-10T09:30:00+08:00'}
  - create: {code: LS-2023-LATE, name: 历史区迟备案预案, kind: departmental, level: district,
             unit: 历史区应急管理局, drafter: 减灾科, at: '2023-01-05T09:00:00+08:00'}
    steps:
      - submit: {by: 减灾科, at: '2023-01-10T09:00:00+08:00'}
      - review: {reviewer: 各街镇, opinion: 同意, outcome: pass, at: '2023-01-20T09:00:00+08:00'}
      - review: {reviewer: 专家, opinion: 同意, outcome: pass, at: '2023-02-01T09:00:00+08:00'}
      - review: {reviewer: 法规科, opinion: 合法, outcome: pass, at: '2023-02-10T09:00:00+08:00'}
      - approve: {approver: 局务会, at: '2023-02-20T09:00:00+08:00'}
      - issue: {document_number: 历应急〔2023〕2号, issuer: 区应急局, issued_on: 2023-03-01,
                at: '2023-03-01T16:00:00+08:00'}
      - file: {filed_with: 区政府, filed_by: 减灾科, filed_on: 2023-05-10,
               at: '2023-05-10T10:00:00+08:00'}
  # Steps without a time, as in examples/jiading-2022-meihua.yaml: their dates decide.
  - create: {code: LS-2022-UNTIMED, name: 历史区某现场处置方案, kind: on_site, level: town,
             unit: 历史一镇, drafter: 安全办}
    steps:
      - submit: {by: 安全办}
      - review: {reviewer: 各村居, opinion: 同意, outcome: pass}
      - review: {reviewer: 专家, opinion: 同意, outcome: pass}
      - review: {reviewer: 司法所, opinion: 合法, outcome: pass}
      - approve: {approver: 镇党委会}
      - issue: {document_number: 历一镇〔2022〕3号, issuer: 历史一镇, issued_on: 2022-05-20}
      - file: {filed_with: 区应急局, filed_by: 安全办, filed_on: 2022-06-08}
drills:
  - create: {code: LS-2022-UNTIMED-YL, name: 历史一镇2022年演练, drill_type: live, scenario: 内涝,
             organiser: 历史一镇, site: 历史一镇, scheduled_on: 2022-06-29}
    steps:
      - conduct: {conducted_on: 2022-06-29, participant_count: 40, by: 历史一镇}
      - evaluate: {evaluator: 镇评估组, summary: 有序, evaluated_on: 2022-07-08}
  - create: {code: LS-2023-YL, name: 历史区2023年防汛综合演练, drill_type: comprehensive,
             scenario: 台风登陆低洼地区人员转移, organiser: 历史区应急管理局,
             participants: [历史一镇], linked_plans: [LS-2022-FXFT], site: 历史一镇,
             scheduled_on: 2023-06-15, at: '2023-05-01T09:00:00+08:00'}
    steps:
      - conduct: {participant_count: 120, segments: [人员转移], by: 区应急局,
                  at: '2023-06-15T16:00:00+08:00'}
      - evaluate:
          evaluator: 区应急局演练评估组
          summary: 总体有序
          at: '2023-06-25T10:00:00+08:00'
          findings: [{severity: low, category: equipment, description: 物资清点偏慢}]
          actions: [{finding: 1, description: 建立电子台账, owner: 历史一镇, due_on: 2023-07-31}]
      - action-done: {action: 1, by: 历史一镇, at: '2023-07-20T10:00:00+08:00'}
typhoons:
  - open: {year: 2023, number: 5, name: 杜苏芮, district: 历史区, opened_by: 区防指, level: IV,
           warning: blue, at: '2023-07-27T20:00:00+08:00'}
    levels:
      - {level: III, warning: yellow, by: 区防指, at: '2023-07-28T08:00:00+08:00'}
      - {level: none, warning: lifted, by: 区防指, at: '2023-07-29T18:00:00+08:00'}
    reports:
      - {report_id: LS-01-R1, unit: LS-01, as_of: '2023-07-28T20:00:00+08:00', reported_by: 信息员,
         figures: {relocated: 10, centralized: 8, dispersed: 2}}
    close: {by: 区防指, at: '2023-07-29T20:00:00+08:00'}
  # Opened without a time: its level changes may still be earlier than the load. Left open.
  - open: {year: 2023, number: 6, name: 卡努, district: 历史区, opened_by: 区防指}
    levels:
      - {level: IV, warning: blue, by: 区防指, at: '2023-08-01T08:00:00+08:00'}
"""


def t(text_: str) -> datetime:
    return datetime.fromisoformat(text_)


@pytest.fixture(scope="module")
async def loaded(database_url: str) -> AsyncIterator[tuple[Stack, scenario.LoadReport]]:
    async with fresh_stack(database_url) as stack:
        # The scenario is 历史区's: its plans and drills are that bureau's (their district).
        stack.settings = stack.settings.model_copy(update={"bureau_district": DISTRICT})
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            report = await scenario.load(
                stack.client, stack.engine, stack.settings, scenario.parse(YEAR)
            )
            yield stack, report


async def rows(stack: Stack, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with stack.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def test_a_past_plan_keeps_its_times_and_files_on_time(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, report = loaded
    assert report.created == {"plans": 3, "drills": 2, "typhoons": 2}

    view = await plans.show(stack.client, "LS-2022-FXFT")
    # Issued 2022-05-20 (the day of its at), filed 2022-06-08: within the 20 working days,
    # although that window had long closed when the load sent `file`.
    assert view.issue is not None and view.issue.issued_on == date(2022, 5, 20)
    assert view.filing is not None and view.filing.filed_on == date(2022, 6, 8)
    assert view.filing.late_by_days == 0 and view.filing.due > date(2022, 6, 8)
    # The law changed in 2024, before the evaluation fell due (2025): revision, version 2.
    assert view.version == 2 and view.stage is PlanStage.DRAFTING
    assert view.revisions[-1].started_at == t("2024-05-10T09:30:00+08:00")
    assert view.stage_since == t("2024-05-10T09:30:00+08:00")
    assert not view.filing_overdue and not view.evaluation_overdue

    events = await rows(
        stack,
        "SELECT seq, at, kind FROM plan_event WHERE plan_code = :c ORDER BY seq",
        c="LS-2022-FXFT",
    )
    kinds = [e["kind"] for e in events]
    assert not [k for k in kinds if "overdue" in k or "opened" in k], kinds
    assert kinds[:2] == ["created", "submitted"] and "filed" in kinds
    assert kinds[-3:] == ["trigger_received", "revision_started", "revision_drafting"]
    assert events[0]["at"] == t("2022-03-01T09:00:00+08:00")
    by_kind = {e["kind"]: e["at"] for e in events}
    assert [e["at"] for e in events if e["kind"] == "review_passed"] == [
        t("2022-04-01T10:00:00+08:00"),
        t("2022-04-15T10:00:00+08:00"),
        t("2022-05-05T10:00:00+08:00"),
    ]
    assert by_kind["approved"] == t("2022-05-18T15:00:00+08:00")
    assert by_kind["issued"] == t("2022-05-20T10:00:00+08:00")
    assert by_kind["filed"] == by_kind["in_force"] == t("2022-06-08T11:00:00+08:00")
    assert by_kind["revision_drafting"] == t("2024-05-10T09:30:00+08:00")
    # Nothing is stamped with the load's time, and the log runs forward.
    assert all(e["at"] < stack.started for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)

    (revision,) = await rows(
        stack,
        "SELECT started_at, triggers FROM plan_revision WHERE plan_code = :c",
        c="LS-2022-FXFT",
    )
    assert revision["started_at"] == t("2024-05-10T09:30:00+08:00")
    assert revision["triggers"][0]["at"] == "2024-05-10T09:30:00+08:00"


async def test_a_late_past_filing_is_logged_overdue_when_it_fell_due(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    view = await plans.show(stack.client, "LS-2023-LATE")
    assert view.filing is not None and view.filing.late_by_days > 0
    due = view.filing.due
    events = await rows(
        stack,
        "SELECT at, kind FROM plan_event WHERE plan_code = :c ORDER BY seq",
        c="LS-2023-LATE",
    )
    kinds = [e["kind"] for e in events]
    # As the clock would have: overdue the day after the due date, then filed (late).
    assert kinds.index("filing_overdue") == kinds.index("filed") - 1
    overdue = events[kinds.index("filing_overdue")]
    assert overdue["at"] == start_of(due + timedelta(days=1))
    # Issued 2023-03-01, so in force with its evaluation due in 2026; still judged by the
    # clock now the load is over (end_history), like any live plan.
    assert view.stage in (PlanStage.IN_FORCE, PlanStage.UNDER_EVALUATION)
    assert all(e["at"] < stack.started for e in events)


async def test_steps_without_a_time_are_judged_by_their_dates(loaded) -> None:  # type: ignore[no-untyped-def]
    """No ``at``: each step is logged when the load sends it, but a filing on time in 2022 is on
    time, and a drill held on its day in 2022 did not let that day pass."""
    stack, _ = loaded
    view = await plans.show(stack.client, "LS-2022-UNTIMED")
    assert view.filing is not None and view.filing.late_by_days == 0
    kinds = [
        e["kind"]
        for e in await rows(
            stack,
            "SELECT kind FROM plan_event WHERE plan_code = :c ORDER BY seq",
            c="LS-2022-UNTIMED",
        )
    ]
    assert "filing_overdue" not in kinds
    # Once loaded, today's clock judges it: its evaluation fell due in 2025 and is overdue.
    assert kinds[-2:] == ["evaluation_opened", "evaluation_overdue"]
    assert view.stage is PlanStage.UNDER_EVALUATION and view.evaluation_overdue

    drill = await drills.show(stack.client, "LS-2022-UNTIMED-YL")
    assert drill.stage.value == "closed" and not drill.date_passed_unconducted
    assert drill.evaluation is not None and not drill.evaluation.late
    drill_kinds = [
        e["kind"]
        for e in await rows(
            stack,
            "SELECT kind FROM drill_event WHERE drill_code = :c ORDER BY seq",
            c="LS-2022-UNTIMED-YL",
        )
    ]
    assert drill_kinds == ["planned", "conducted", "evaluated", "closed"]


async def test_a_past_drill_is_not_flagged_and_nobody_is_reminded(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    view = await drills.show(stack.client, "LS-2023-YL")
    assert view.stage.value == "closed"
    assert not view.date_passed_unconducted and not view.evaluation_overdue
    assert view.conduct is not None and view.conduct.conducted_on == date(2023, 6, 15)
    assert view.evaluation is not None and view.evaluation.evaluated_on == date(2023, 6, 25)
    assert not view.evaluation.late
    assert view.actions[0].done_on == date(2023, 7, 20) and not view.actions[0].overdue

    events = await rows(
        stack,
        "SELECT at, kind FROM drill_event WHERE drill_code = :c ORDER BY seq",
        c="LS-2023-YL",
    )
    assert [(e["kind"], e["at"]) for e in events] == [
        ("planned", t("2023-05-01T09:00:00+08:00")),
        ("conducted", t("2023-06-15T16:00:00+08:00")),
        ("evaluated", t("2023-06-25T10:00:00+08:00")),
        ("action_done", t("2023-07-20T10:00:00+08:00")),
        ("closed", t("2023-07-20T10:00:00+08:00")),
    ]
    # Its reminders fell before the drill: marked, but nobody is reminded now.
    assert len(view.reminders_sent) == 2
    sent = await rows(stack, "SELECT key FROM notification WHERE source = :s", s="drill:LS-2023-YL")
    assert sent == []


async def test_a_past_typhoon_keeps_its_level_times_and_closing(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    board = await typhoons.board(stack.client, "2023:5")
    assert [(r.level, r.warning, r.at) for r in board.levels] == [
        (ResponseLevel.IV, WarningColour.BLUE, t("2023-07-27T20:00:00+08:00")),
        (ResponseLevel.III, WarningColour.YELLOW, t("2023-07-28T08:00:00+08:00")),
        (ResponseLevel.NONE, WarningColour.LIFTED, t("2023-07-29T18:00:00+08:00")),
    ]
    assert board.closed_at == t("2023-07-29T20:00:00+08:00")
    assert board.district_totals.relocated == 10
    (event,) = await rows(
        stack, "SELECT opened_at, closed_at FROM typhoon_event WHERE event_id = '2023:5'"
    )
    assert event["opened_at"] == t("2023-07-27T20:00:00+08:00")  # the open step's at
    assert event["closed_at"] == t("2023-07-29T20:00:00+08:00")
    log = await rows(
        stack, "SELECT at, kind FROM typhoon_log WHERE event_id = '2023:5' ORDER BY seq"
    )
    assert [e["at"] for e in log if e["kind"] == "level_changed"] == [
        t("2023-07-28T08:00:00+08:00"),
        t("2023-07-29T18:00:00+08:00"),
    ]

    # Opened without a time: the load's; its first level change is still its own.
    other = await typhoons.board(stack.client, "2023:6")
    assert other.levels[-1].at == t("2023-08-01T08:00:00+08:00")


async def test_the_year_end_figures_count_each_thing_in_its_own_year(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    y2022 = await summary_store.figures(stack.engine, 2022, DISTRICT)
    y2023 = await summary_store.figures(stack.engine, 2023, DISTRICT)
    y2024 = await summary_store.figures(stack.engine, 2024, DISTRICT)
    this_year = await summary_store.figures(stack.engine, stack.started.year, DISTRICT)
    # An on-site procedure (现场处置方案) is an enterprise's: received for filing, not made.
    assert y2022.plans_made == {"special": 1} and y2022.plans_received == 1
    assert y2022.revisions_started == 0 and y2022.drills_conducted == 1
    assert y2023.plans_made == {"departmental": 1} and y2023.revisions_started == 0
    assert y2024.revisions_started == 1 and y2024.plans_made == {}
    assert this_year.revisions_started == 0 and this_year.drills_conducted == 0
    assert y2023.drills_conducted == 1
    assert [(ty.name, ty.relocated) for ty in y2023.typhoons] == [("杜苏芮", 10)]
    assert this_year.typhoons == []


async def refused(call: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    cause = caught.value.cause
    assert getattr(cause, "type", None) == "InvalidInput", repr(cause)
    return str(getattr(cause, "message", ""))


async def test_an_at_in_the_future_or_going_backwards_is_refused(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    client = stack.client
    future = datetime.now(UTC) + timedelta(days=1)

    before = await plans.show(client, "LS-2022-FXFT")
    message = await refused(
        plans.act(client, "LS-2022-FXFT", "submit", SubmitDraft(by="预案科", at=future))
    )
    assert message.startswith("at: ") and "in the future" in message
    message = await refused(
        plans.act(
            client,
            "LS-2022-FXFT",
            "submit",
            SubmitDraft(by="预案科", at=datetime(2024, 1, 2, 9, tzinfo=CHINA_TZ)),
        )
    )
    assert message.startswith("at: earlier than the previous step (2024-05-10T09:30:00+08:00)")
    assert await plans.show(client, "LS-2022-FXFT") == before

    board = await typhoons.board(client, "2023:6")
    level = LevelChange(level=ResponseLevel.III, warning=WarningColour.YELLOW, by="区防指")
    message = await refused(
        typhoons.change_level(client, "2023:6", level.model_copy(update={"at": future}))
    )
    assert message.startswith("at: ") and "in the future" in message
    message = await refused(
        typhoons.change_level(
            client,
            "2023:6",
            level.model_copy(update={"at": datetime(2023, 7, 31, 8, tzinfo=CHINA_TZ)}),
        )
    )
    assert message.startswith("at: earlier than the previous step (2023-08-01T08:00:00+08:00)")
    after = await typhoons.board(client, "2023:6")
    assert after.model_dump(exclude={"batches_applied"}) == board.model_dump(
        exclude={"batches_applied"}
    )


BACKWARDS = """
scenario: backwards
plans:
  - create: {code: LS-BACK, name: 倒序预案, kind: special, level: district, unit: 历史区应急管理局,
             drafter: 预案科}
    steps:
      - submit: {by: 预案科, at: '2022-03-15T10:00:00+08:00'}
      - review: {reviewer: 成员单位, opinion: 同意, outcome: pass, at: '2022-03-14T10:00:00+08:00'}
"""

FUTURE = """
scenario: future
drills:
  - create: {code: LS-FUTURE, name: 未来演练, drill_type: live, scenario: 内涝,
             organiser: 历史区应急管理局, site: 历史二镇, scheduled_on: 2023-06-15}
    steps:
      - conduct: {participant_count: 10, by: 区应急局, at: '2099-06-15T16:00:00+08:00'}
"""


async def test_the_loader_stops_at_a_step_whose_time_is_refused(loaded) -> None:  # type: ignore[no-untyped-def]
    stack, _ = loaded
    parsed = scenario.parse(BACKWARDS)
    with pytest.raises(scenario.ScenarioError) as caught:
        await scenario.load(stack.client, stack.engine, stack.settings, parsed)
    # Stopped at the review, with its place and the field; the submit before it stays.
    assert str(caught.value).startswith(
        "plans[0].steps[1] (review): refused: at: earlier than the previous step "
        "(2022-03-15T10:00:00+08:00)"
    )
    view = await plans.show(stack.client, "LS-BACK")
    assert view.stage is PlanStage.CONSULTATION and view.reviews == []

    with pytest.raises(scenario.ScenarioError) as caught:
        await scenario.load(stack.client, stack.engine, stack.settings, scenario.parse(FUTURE))
    assert str(caught.value).startswith(
        "drills[0].steps[0] (conduct): refused: at: 2099-06-15T16:00:00+08:00 is in the future"
    )
    drill = await drills.show(stack.client, "LS-FUTURE")
    assert drill.stage.value == "planned" and drill.conduct is None


def test_a_step_time_must_be_aware() -> None:
    bad = YEAR.replace("at: '2022-03-15T10:00:00+08:00'", "at: '2022-03-15T10:00:00'")
    with pytest.raises(scenario.ScenarioError) as caught:
        scenario.parse(bad)
    assert "steps[0].submit: at: needs its time zone, e.g. 2024-09-16T08:00+08:00" in str(
        caught.value
    )


async def test_loading_a_year_with_a_revision_twice_changes_nothing(loaded) -> None:  # type: ignore[no-untyped-def]
    """The revision of 2024 starts a new run of the plan, and Temporal knows an update id only
    within its run: a second load sent the 2022 steps again and was refused ("earlier than the
    previous step"). The plan remembers the update ids it applied across runs."""
    stack, _ = loaded
    before = await rows(stack, "SELECT seq, kind FROM plan_event ORDER BY plan_code, seq")
    view = await plans.show(stack.client, "LS-2022-FXFT")
    await scenario.load(stack.client, stack.engine, stack.settings, scenario.parse(YEAR))
    assert await rows(stack, "SELECT seq, kind FROM plan_event ORDER BY plan_code, seq") == before
    again = await plans.show(stack.client, "LS-2022-FXFT")
    assert (again.stage, again.version, len(again.revisions)) == (
        view.stage,
        view.version,
        len(view.revisions),
    )
