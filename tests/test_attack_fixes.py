"""What the attackers of this round found in the typhoon and shelter registers, each fixed."""

from __future__ import annotations

import pytest

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
