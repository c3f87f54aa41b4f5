"""What the attackers of this round found in the typhoon and shelter registers, each fixed."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from models.typhoon import UnitReport
from yingji.services import unit as units
from yingji.stores import shelter as shelters


async def test_another_districts_import_never_moves_a_shelter(engine, code: str) -> None:
    """`shelter import --district 宝山区` with a code of 嘉定区's moved that shelter (and an open
    one kept reporting under its new name): the code stays its district's, the line refused."""
    a, b = f"甲区{code}", f"乙区{code}"
    await units.import_csv(
        engine,
        (
            "code,name,level,parent_code,district\n"
            f"{code}-A1,甲镇,town,,{a}\n{code}-B1,乙镇,town,,{b}\n"
        ).encode(),
    )
    head = "code,name,unit,type,capacity,address\n"
    await shelters.import_csv(engine, f"{head}{code}-S1,甲镇中学,甲镇,学校,400,甲\n", a)
    with pytest.raises(shelters.ShelterError) as refused:
        await shelters.import_csv(engine, f"{head}{code}-S1,劫持,乙镇,室内,100,乙\n", b)
    assert refused.value.errors == [
        f"line 2: code: {code}-S1 is a shelter of {a}; a shelter of {b} needs a code of its own"
    ]
    kept = await shelters.list_shelters(engine, a)
    assert [(s.code, s.name, s.district) for s in kept] == [(f"{code}-S1", "甲镇中学", a)]


def test_a_long_report_id_can_be_corrected() -> None:
    """`report_id` took 128 characters and `corrects` only 100: such a report could never be
    corrected."""
    rid = "R" * 128
    report = UnitReport(
        event_id="2024:13",
        report_id="R2",
        unit="南翔镇",
        as_of="2024-09-16T06:00:00+08:00",
        reported_by="信息员",
        corrects=rid,
        reason="更正",
        figures={"relocated": 1, "dispersed": 1},
    )
    assert report.corrects == rid


async def test_a_process_linked_to_a_typhoon_is_counted_for_that_typhoon_only(
    engine, code: str
) -> None:
    """The summary matched disaster processes to events by hazard and time, so a process opened
    with `--typhoon 2026:13` was also pinned on 2026:20 opened a minute later ("“贝碧嘉”和“压测”
    灾情核报尚未全部完成"). An explicit link decides; the heuristic serves unlinked ones."""
    from datetime import UTC, date, datetime, timedelta

    from yingji.stores import summary as summary_store

    district = f"链接区{code}"
    year = date.today().year - 1
    start = datetime(year, 9, 16, 8, tzinfo=UTC)
    events = {f"{year}:{n}": start + timedelta(minutes=n) for n in (13, 20)}
    async with engine.begin() as conn:
        for event, opened in events.items():
            await conn.execute(
                text(
                    "INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, "
                    "district, status, level, warning, opened_at, closed_at, last_seq, hazard) "
                    "VALUES (:e, :w, :y, :n, :name, :d, 'closed', 'none', 'lifted', :at, :closed, "
                    "1, 'typhoon')"
                ),
                {
                    "e": event, "w": f"typhoon:{event}", "y": year, "n": int(event[5:]),
                    "name": f"台{event[5:]}", "d": district, "at": opened,
                    "closed": opened + timedelta(days=2),
                },
            )  # fmt: skip
            await conn.execute(
                text("INSERT INTO typhoon_totals (event_id, relocated) VALUES (:e, 10)"),
                {"e": event},
            )
        await conn.execute(
            text(
                "INSERT INTO disaster (code, workflow_id, name, hazard, district, occurred_at, "
                "closed, reports, late_reports, last_seq, typhoon_event_id) VALUES (:c, :w, "
                "'台风灾害过程', '台风', :d, :at, false, 1, 0, 1, :t)"
            ),
            {
                "c": f"D{code}", "w": f"disaster:D{code}", "d": district,
                "at": start + timedelta(hours=1), "t": f"{year}:13",
            },
        )  # fmt: skip
    figures = await summary_store.figures(engine, year, district)
    assert {e.name: e.processes for e in figures.events} == {"台13": 1, "台20": 0}


async def test_a_report_sent_again_after_the_close_is_a_duplicate(engine, code: str) -> None:
    """A phone retrying a report the event already holds, after the event closed, was told
    "is closed; reports are no longer accepted" (被拒) for a report in the totals."""
    from datetime import UTC, datetime

    from yingji.stores import typhoon as intake

    event = f"2032:{int(code[-4:], 16) % 99 + 1}"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, district, "
                "status, level, warning, opened_at, last_seq, hazard) VALUES (:e, :w, 2032, 1, "
                "'重试', :d, 'open', 'IV', 'blue', now(), 1, 'typhoon')"
            ),
            {"e": event, "w": f"typhoon:{event}", "d": f"重试区{code}"},
        )
        await conn.execute(
            text("INSERT INTO typhoon_unit (event_id, unit_code, town_code) VALUES (:e, :u, :u)"),
            {"e": event, "u": f"{code}-T1"},
        )
    report = UnitReport(
        event_id=event,
        report_id=f"{code}-R1",
        unit=f"{code}-T1",
        as_of=datetime.now(UTC),
        reported_by="信息员",
        figures={"relocated": 5, "dispersed": 5},
    )
    assert (await intake.submit(engine, report)).status == "accepted"
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE typhoon_event SET status = 'closed' WHERE event_id = :e"), {"e": event}
        )
    assert (await intake.submit(engine, report)).status == "duplicate"
    with pytest.raises(intake.ReportRejected, match="is closed"):
        await intake.submit(engine, report.model_copy(update={"report_id": f"{code}-R2"}))
