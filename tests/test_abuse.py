"""The outside review's findings ([3/7]), each reproduced against the console or the stack.

Each test names the finding it covers; it failed on the code the review probed."""

from __future__ import annotations

import resource
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from models.common import CHINA_TZ
from models.disaster import DisasterOpen
from models.plan import PlanCreate, RevisionTrigger
from models.typhoon import Figures, UnitReport
from models.warning import Contact
from tests.conftest import console_tokens_for, make_settings
from tests.helpers import eventually, new_event, rows
from yingji.console.app import create_app
from yingji.core.errors import DomainRefusal
from yingji.services import disaster as disasters
from yingji.services import typhoon as typhoons
from yingji.services import unit as unit_service
from yingji.stores.typhoon import ReportRejected

OFFICER = "abuse-officer-0123456789abcdef0123456789"
TOKENS = console_tokens_for({OFFICER: "duty_officer"})


@pytest.fixture
async def console(engine) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    # Nothing here reaches a workflow: any object stands in for the Temporal client.
    settings = make_settings(console_tokens=TOKENS, console_max_body_bytes=1_000_000)
    app = create_app(settings, client=object(), engine=engine)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_finding_3_a_huge_body_is_refused_before_the_token_and_memory_stays_flat(
    console: httpx.AsyncClient,
) -> None:
    """A 200 MB body with no token took 4.5 s to get its 401 and pushed memory from 157 to
    755 MB. Now: 413 at once, from the declared length or from the bytes received, with or
    without a token, and the body is never read into memory."""
    declared = {"Content-Length": str(200 * 1024 * 1024), "Content-Type": "application/json"}
    r = await console.post("/api/plans", content=b"{}", headers=declared)
    assert r.status_code == 413 and "1,000,000 bytes" in r.json()["detail"]

    chunks_sent = 0
    chunk = b"x" * (1024 * 1024)

    async def body() -> AsyncIterator[bytes]:  # 200 MB, no Content-Length (chunked)
        nonlocal chunks_sent
        for _ in range(200):
            chunks_sent += 1
            yield chunk

    before = peak_rss_mb()
    r = await console.post(
        "/api/plans",
        content=body(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {OFFICER}"},
    )
    assert r.status_code == 413
    assert chunks_sent <= 3, chunks_sent  # reading stopped at the limit
    assert peak_rss_mb() - before < 50  # nothing like 200 MB was held

    # Under the limit the request goes on to auth as before.
    r = await console.post("/api/plans", json={"code": "X"})
    assert r.status_code == 401


async def test_finding_3_the_unit_import_keeps_its_own_larger_limit(
    console: httpx.AsyncClient,
) -> None:
    """A CSV register is larger than an API body: its route has its own cap, still checked
    before the token."""
    big = {"Content-Length": str(2_000_000), "Content-Type": "text/csv"}
    r = await console.post("/api/units", content=b"x" * 2_000_000, headers=big)
    assert r.status_code == 401  # past the body limit, stopped by auth
    huge = {"Content-Length": str(64 * 1024 * 1024), "Content-Type": "text/csv"}
    r = await console.post("/api/units", content=b"x", headers=huge)
    assert r.status_code == 413


async def test_finding_6_a_refused_typhoon_reopen_changes_nothing(ts_client, engine, code) -> None:  # type: ignore[no-untyped-def]
    """POST /api/typhoons for an open event with another district answered 409 but had already
    registered that district's units; a 5,000-person report from one of them then entered the
    first district's total. Now the re-open is refused before any unit is registered."""
    other = f"另区{code}"
    await unit_service.import_csv(
        engine, f"code,name,level,parent_code,district\n{code}-T1,别镇,town,,{other}\n".encode()
    )
    event = await new_event(engine)
    await typhoons.open_typhoon(ts_client, engine, make_settings(), event)
    before = await registered(engine, event.event_id)

    stranger = event.model_copy(update={"district": other})
    with pytest.raises(ReportRejected, match=f"already open for {event.district}"):
        await typhoons.open_typhoon(ts_client, engine, make_settings(), stranger)
    assert await registered(engine, event.event_id) == before
    assert f"{code}-T1" not in before

    report = UnitReport(
        event_id=event.event_id,
        report_id=f"{code}-R1",
        unit=f"{code}-T1",
        as_of=datetime.now(UTC),
        figures=Figures(relocated=5000, centralized=5000),
        reported_by="别镇",
    )
    with pytest.raises(ReportRejected, match="not a reporting unit"):
        await typhoons.submit_report(engine, report)


async def registered(engine, event_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT unit_code FROM typhoon_unit WHERE event_id = :e ORDER BY unit_code"),
            {"e": event_id},
        )
        return list(rows.scalars())


async def test_finding_7_a_wrong_date_or_a_control_character_is_refused(
    ts_client, engine, code
) -> None:  # type: ignore[no-untyped-def]
    """A typhoon report dated 2030 was accepted, and every later real report of its unit was
    "late" and never counted; a disaster dated 2031 was accepted; a control character in a name
    made the .docx export fail. Each is now refused by field, and the unit still reports."""
    event = await new_event(engine)
    await typhoons.open_typhoon(ts_client, engine, make_settings(), event)

    def report(report_id: str, as_of: datetime, relocated: int) -> UnitReport:
        return UnitReport(
            event_id=event.event_id,
            report_id=f"{code}-{report_id}",
            unit="JD-04",
            as_of=as_of,
            figures=Figures(relocated=relocated, centralized=relocated),
            reported_by="南翔镇信息员",
        )

    with pytest.raises(DomainRefusal, match=r"^as_of: 2030-01-01T00:00:00\+00:00 is in the future"):
        await typhoons.submit_report(engine, report("F", datetime(2030, 1, 1, tzinfo=UTC), 5000))
    receipt = await typhoons.submit_report(engine, report("R", datetime.now(UTC), 120))
    assert receipt.status == "accepted"

    opened = DisasterOpen(
        code=f"{code}-D",
        name="暴雨灾害过程",
        hazard="暴雨",
        district="嘉定区",
        occurred_at=datetime(2031, 7, 1, tzinfo=UTC),
        officer=Contact(name="区A岗", phone="13800000001"),
        backup=Contact(name="区B岗", phone="13800000002"),
        head=Contact(name="分管领导", phone="13800000003"),
        opened_by="值班员",
    )
    with pytest.raises(DomainRefusal, match=r"^occurred_at: .* is in the future"):
        await disasters.open_disaster(ts_client, make_settings(), opened)
    ancient = opened.model_copy(update={"occurred_at": datetime(1900, 1, 1, tzinfo=UTC)})
    with pytest.raises(DomainRefusal, match=r"^occurred_at: .* is more than 30 days ago"):
        await disasters.open_disaster(ts_client, make_settings(), ancient)

    with pytest.raises(
        ValidationError, match="name: contains the control character or noncharacter U\\+0007"
    ):
        PlanCreate(
            code=f"{code}-P",
            name="地震应急预案\x07",
            kind="special",
            level="district",
            unit="区应急管理局",
            drafter="张敏",
        )
    # line breaks and tabs are text
    trigger = RevisionTrigger(
        trigger_id="T1", cause="other", detail="第一条\n第二条\t", source="值班员"
    )
    assert "\n" in trigger.detail


async def test_finding_8_the_peak_is_a_fact_at_its_own_time(  # type: ignore[no-untyped-def]
    ts_client, engine, code, task_queue
) -> None:
    """After a correction from 1,450 to 1,430 the board still said 1,450, stamped with the time
    of processing. The peak is now the largest district sum of each unit's latest report as of
    each report time, at that report time, and a correction corrects it."""
    settings = make_settings(typhoon_apply_min_seconds=0.1, typhoon_apply_max_seconds=0.5)
    event = await new_event(engine)
    await typhoons.open_typhoon(ts_client, engine, settings, event, task_queue=task_queue)
    at = datetime(2024, 9, 16, 6, tzinfo=CHINA_TZ)

    def sheltered(report_id: str, unit: str, people: int, **extra: object) -> UnitReport:
        return UnitReport(
            event_id=event.event_id,
            report_id=f"{code}-{report_id}",
            unit=unit,
            as_of=at,
            figures=Figures(
                relocated=people, centralized=people, shelters_open=6, sheltered_now=people
            ),
            reported_by="信息员",
            **extra,  # type: ignore[arg-type]
        )

    await typhoons.submit_report(engine, sheltered("NX-06", "南翔镇", 1450))
    await typhoons.submit_report(engine, sheltered("AT-06", "安亭镇", 200))
    board = await eventually(
        lambda: typhoons.board(ts_client, event.event_id), lambda b: b.reports_applied >= 2
    )
    assert (board.peak_sheltered, board.peak_at) == (1650, at)
    fix = sheltered("NX-06b", "南翔镇", 1430, corrects=f"{code}-NX-06", reason="重复统计20人")
    await typhoons.submit_report(engine, fix)
    board = await eventually(
        lambda: typhoons.board(ts_client, event.event_id), lambda b: b.reports_applied >= 3
    )
    assert (board.peak_sheltered, board.peak_at) == (1630, at)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT peak_sheltered, peak_at FROM typhoon_totals WHERE event_id = :e"),
                {"e": event.event_id},
            )
        ).one()
    assert (stored.peak_sheltered, stored.peak_at) == (1630, at)


def test_finding_2_no_text_field_or_list_is_unbounded() -> None:
    """Ten revision triggers of 200 KB each froze a plan for good (its state passed 2 MB); a
    drill with 2,100 participants hit the 2,000 pending-activities limit and stayed stuck. The
    inputs are bounded where they enter, each refusal naming the field."""
    from models.drill import DrillCreate

    with pytest.raises(ValidationError, match=r"detail\n.*at most 2000 characters"):
        RevisionTrigger(trigger_id="T", cause="other", detail="字" * 200_000, source="值班员")
    base = {
        "code": "D-1",
        "name": "综合演练",
        "drill_type": "comprehensive",
        "scenario": "持续强降雨",
        "organiser": "区应急管理局",
        "site": "某地",
        "scheduled_on": "2030-06-01",
    }
    with pytest.raises(ValidationError, match=r"participants\n.*at most 500 items"):
        DrillCreate(**base, participants=[f"单位{i}" for i in range(2100)])
    with pytest.raises(ValidationError, match=r"document_number\n.*at most 100 characters"):
        from models.plan import IssueInput

        IssueInput(document_number="号" * 1_000_000, issuer="区政府办公室")
    assert len(DrillCreate(**base, participants=["单位"] * 500).participants) == 500


async def test_finding_2_a_flood_of_the_largest_causes_cannot_freeze_a_plan(  # type: ignore[no-untyped-def]
    ts_client, engine, code, task_queue
) -> None:
    """Ten 200 KB causes froze a plan for good. Now each cause is at most 2,000 characters and a
    plan holds at most 50 open causes: 60 of the largest, by signal, leave a plan that answers,
    whose state stays far below Temporal's 2 MB payload limit; the ten over the bound are in the
    event log as refused (nothing sent is lost), and a repeated cause is recorded once."""
    from models.plan import OPEN_TRIGGERS_MAX, SubmitDraft
    from yingji.services import plan as plans

    settings = make_settings(temporal_task_queue=task_queue)
    await plans.create_plan(
        ts_client,
        settings,
        PlanCreate(
            code=code, name="某预案", kind="special", level="district", unit="区", drafter="张敏"
        ),
    )
    handle = plans.plan_handle(ts_client, code)
    for i in range(OPEN_TRIGGERS_MAX + 10):
        cause = RevisionTrigger(
            trigger_id=f"flood-{i}", cause="other", detail="字" * 2000, source="值班员"
        )
        await handle.signal("trigger_revision", cause)
    first = cause.model_copy(update={"trigger_id": "flood-0"})
    await handle.signal("trigger_revision", first)  # a cause already held, again: ignored

    async def logged() -> list[dict]:
        return await rows(
            engine,
            "SELECT kind, count(*) AS n FROM plan_event WHERE plan_code = :c GROUP BY kind",
            c=code,
        )

    found = await eventually(
        logged, lambda r: {x["kind"]: x["n"] for x in r}.get("trigger_refused") == 10
    )
    kinds = {x["kind"]: x["n"] for x in found}
    assert kinds["trigger_noted_for_draft"] == OPEN_TRIGGERS_MAX
    view = await plans.show(ts_client, code)
    assert len(view.draft_triggers) == OPEN_TRIGGERS_MAX
    assert len(view.model_dump_json().encode()) < 512 * 1024  # the view: well under 2 MB
    # The plan still takes a step, and refuses a further cause sent as an update, saying why.
    view = await plans.act(ts_client, code, "submit", SubmitDraft(by="张敏"))
    assert view.stage == "consultation"
    from temporalio.client import WorkflowUpdateFailedError

    with pytest.raises(WorkflowUpdateFailedError) as err:
        await plans.trigger_revision(
            ts_client,
            code,
            RevisionTrigger(trigger_id="one-more", cause="other", detail="x", source="值班员"),
            update_id="one-more",
        )
    assert "already holds 50 causes" in str(err.value.cause)


def test_attacker_bounds_on_figures_text_and_lists() -> None:
    """The outside attack of the second review: a dict of 110 sectors × 2,000 emoji froze a
    disaster process; 500 actions with 2,000-character notes froze a drill; NaN and U+FFFF
    passed; a sum of unit figures over the per-unit cap stopped a typhoon's tally."""
    from models.disaster import Indicators
    from models.drill import ActionDoneInput, DrillEvaluateInput
    from models.typhoon import Totals

    with pytest.raises(ValidationError, match="loss_by_sector"):
        Indicators(
            relocated=0,
            centralized=0,
            dispersed=0,
            loss_by_sector={f"行业{i}": 0.0 for i in range(31)},
        )
    with pytest.raises(ValidationError, match="loss_by_sector"):
        Indicators(relocated=0, centralized=0, dispersed=0, loss_by_sector={"农" * 51: 0.0})
    with pytest.raises(ValidationError, match="direct_loss"):
        Indicators(relocated=0, centralized=0, dispersed=0, direct_loss=float("nan"))
    evaluation = {"evaluator": "专家组", "summary": "总结"}
    action = {"finding": 1, "description": "整改", "owner": "水务局", "due_on": "2030-01-01"}
    with pytest.raises(ValidationError, match="actions"):
        DrillEvaluateInput(**evaluation, actions=[action] * 101)
    with pytest.raises(ValidationError, match="note"):
        ActionDoneInput(action=1, by="某人", note="注" * 501)
    with pytest.raises(ValidationError, match="noncharacter U\\+FFFF"):
        PlanCreate(code="P-FFFF", name="预案\uffff", kind="special", level="district",
                   unit="区", drafter="张敏")  # fmt: skip
    # A district's sum may pass what one unit may report.
    assert Totals(relocated=300_000_000, centralized=300_000_000).relocated == 300_000_000


async def test_attacker_a_nul_in_a_query_is_a_422_not_a_500(console: httpx.AsyncClient) -> None:
    r = await console.get("/api/plans?stage=%00", headers={"Authorization": f"Bearer {OFFICER}"})
    assert r.status_code == 422 and "control character" in r.json()["detail"]


async def test_attacker_the_console_does_not_open_a_historical_disaster(
    console: httpx.AsyncClient,
) -> None:
    body = {
        "code": "DHIST",
        "name": "某灾害过程",
        "hazard": "台风",
        "district": "某区",
        "occurred_at": "2020-01-01T00:00:00+08:00",
        "opened_by": "值班员",
        "officer": {"name": "甲", "phone": "13800000001"},
        "historical": True,
    }
    headers = {"Authorization": f"Bearer {OFFICER}"}
    r = await console.post("/api/disasters", json=body, headers=headers)
    assert r.status_code == 409 and "yingji load" in r.json()["detail"]
    r = await console.post(
        "/api/disasters",
        json={**body, "historical": False, "occurred_at": "0001-01-01T00:00:00+14:00"},
        headers=headers,
    )
    assert r.status_code == 422 and "plausible" in r.text


def test_attacker_a_poll_answer_masks_phones_below_duty_officer() -> None:
    from yingji.console.mutations import _masked

    answer = {"calls": [{"person": "王强", "phone": "13812345678"}], "last_seq": 3}
    assert _masked(answer)["calls"][0]["phone"] == "138****5678"


async def test_attacker_long_names_in_derived_text_do_not_freeze_a_plan_or_a_drill(  # type: ignore[no-untyped-def]
    ts_env, ts_client, engine, task_queue, code
) -> None:
    """An evaluator's name of 90 characters made ``evaluation by …`` longer than a cause's
    source may be; a finding of 1,999 characters made ``{drill}演练发现：…`` longer than a
    cause's detail: each failed the workflow task for good. Derived text is cut to its bound."""
    from datetime import timedelta

    from models.drill import ConductInput, DrillEvaluateInput, FindingInput
    from models.plan import EvaluateInput
    from tests.helpers import view
    from tests.test_drills import jiaan, plan_in_force, today
    from yingji.services import drill as drills
    from yingji.services import plan as plans

    await plan_in_force(ts_client, code, task_queue)
    await plans.act(ts_client, code, "evaluate", EvaluateInput(
        evaluator="评" * 100, outcome="revise", findings="需要修订"))  # fmt: skip
    revised = await eventually(lambda: view(ts_client, code), lambda v: v.version == 2)
    assert revised.revisions[-1].triggers[0].source == ("evaluation by " + "评" * 100)[:100]

    other = f"{code}-2"
    await plan_in_force(ts_client, other, task_queue)
    day = await today(ts_env)
    drill = jiaan(f"{code}-D", day + timedelta(days=1), [other])
    await drills.create_drill(ts_client, make_settings(), drill, task_queue=task_queue)
    await ts_env.sleep(timedelta(days=1))
    await drills.act(
        ts_client, drill.code, "conduct", ConductInput(by="区应急局", participant_count=10)
    )
    finding = FindingInput(
        description="问" * 1000, category="plan_soundness", severity="high", plan_defect=True,
        plan_code=other,
    )  # fmt: skip
    evaluated = await drills.act(
        ts_client,
        drill.code,
        "evaluate",
        DrillEvaluateInput(evaluator="专家组", summary="总结", findings=[finding]),
    )
    assert evaluated.stage == "closed"  # no corrective action left open
    reopened = await eventually(lambda: view(ts_client, other), lambda v: v.version == 2)
    assert len(reopened.revisions[-1].triggers[0].detail) <= 2000
