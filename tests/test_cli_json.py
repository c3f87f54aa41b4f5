"""Every group of the CLI with ``--json``: each answer is one JSON document on stdout (the
request id goes to stderr), with times at +08:00. (``test_cli_polish.py`` covers the officer,
warning and disaster groups the same way, and checks that every command has ``--json``.)"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from tests.test_cli import create_args, yingji
from yingji.core.settings import get_settings


async def answer(cli: Any, *args: str) -> Any:
    """The command's JSON answer; it must succeed."""
    r = await yingji(cli, *args, "--json")
    assert r.exit_code == 0, (args, r.output)
    return json.loads(r.stdout)


async def test_every_group_answers_in_json(cli, code: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    district = f"机读区{code}"
    monkeypatch.setenv("YINGJI_BUREAU_DISTRICT", district)
    get_settings.cache_clear()

    # unit, responsible, shelter
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,level,parent_code,district\n"
        f"{code}-T1,东镇,town,,{district}\n{code}-V1,东村,village,{code}-T1,{district}\n",
        encoding="utf-8",
    )
    assert (await answer(cli, "unit", "import", str(units)))["created"] == 2
    assert {u["code"] for u in await answer(cli, "unit", "list", "--district", district)} == {
        f"{code}-T1",
        f"{code}-V1",
    }
    people = tmp_path / "people.csv"
    people.write_text(
        f"unit,role,name,phone,order\n{code}-T1,党政主要负责人,钱一,13900000021,1\n",
        encoding="utf-8",
    )
    assert (await answer(cli, "responsible", "import", str(people)))["created"] == 1
    assert [p["name"] for p in await answer(cli, "responsible", "list", "--district", district)]
    gaps = await answer(cli, "responsible", "gaps", "--district", district)
    assert [g["unit_code"] for g in gaps["gaps"]] == [f"{code}-V1"]
    shelters = tmp_path / "shelters.csv"
    shelters.write_text(
        f"code,name,unit,type,capacity,address\n{code}-S1,东镇文体中心,{code}-T1,室内,300,东镇\n",
        encoding="utf-8",
    )
    assert (await answer(cli, "shelter", "import", str(shelters)))["created"] == 1
    assert [s["code"] for s in await answer(cli, "shelter", "list")] == [f"{code}-S1"]

    # plan
    plan = f"{code}-P"
    made = await answer(cli, *create_args(plan, kind="special"))
    assert made["code"] == plan and made["stage"] == "drafting"
    assert (await answer(cli, "plan", "submit", plan, "--by", "张敏"))["stage"] == "consultation"
    shown = await answer(cli, "plan", "show", plan)
    assert shown["stage_since"].endswith("+08:00")
    assert plan in {p["code"] for p in await answer(cli, "plan", "list")}
    r = await yingji(cli, "plan", "show", plan)  # as people read it: China time, its offset
    assert r.exit_code == 0 and "+08:00" in r.output and "UTC" not in r.output
    withdrawn = await answer(cli, "plan", "withdraw", plan, "--by", "张敏", "--reason", "重复")
    assert withdrawn["stage"] == "withdrawn"

    # drill: a drill dated next week cannot be conducted "today" without --on
    drill = f"{code}-D"
    later = (date.today() + timedelta(days=7)).isoformat()
    planned = await answer(
        cli, "drill", "plan", drill, "--name", "机读演练", "--scenario", "暴雨",
        "--organiser", "区应急局", "--site", "东镇", "--date", later, "--form", "桌面演练",
    )  # fmt: skip
    assert planned["stage"] == "planned" and planned["drill_type"] == "tabletop"
    r = await yingji(cli, "drill", "conduct", drill, "--participants", "5", "--by", "甲")
    assert r.exit_code == 1 and f"scheduled for {later}" in r.output and "--on" in r.output
    r = await yingji(
        cli, "drill", "plan", f"{drill}2", "--name", "x", "--scenario", "x",
        "--organiser", "x", "--site", "x", "--date", later, "--plan", "NOPE", "--form", "实战",
    )  # fmt: skip
    assert r.exit_code == 1 and "linked_plans: no plan NOPE" in r.output, r.output
    assert (await answer(cli, "drill", "show", drill))["code"] == drill
    assert drill in {d["code"] for d in await answer(cli, "drill", "list", "--year", later[:4])}
    cancelled = await answer(cli, "drill", "cancel", drill, "--reason", "改期", "--by", "甲")
    assert cancelled["stage"] == "cancelled"

    # typhoon
    event = f"2031:{int(code[-4:], 16) % 90 + 1}"
    opened = await answer(cli, "typhoon", "open", event, "--name", "机读", "--level", "二级",
                          "--warning", "橙色")  # fmt: skip
    assert opened["level"] == "II" and opened["warning"] == "orange"
    receipt = await answer(
        cli, "typhoon", "report", event, "--unit", f"{code}-V1", "--report-id", f"{code}-R1",
        "--by", "信息员", "--relocated", "10", "--dispersed", "10",
    )  # fmt: skip
    assert receipt["status"] == "accepted"
    assert (await answer(cli, "typhoon", "show", event))["board"]["event_id"] == event
    listed = await answer(cli, "typhoon", "list")
    assert [e["event_id"] for e in listed] == [event] and listed[0]["opened_at"].endswith("+08:00")

    # disaster, summary, token, load
    assert await answer(cli, "disaster", "list") == []
    year = str(date.today().year - 1)
    docs = await answer(cli, "summary", "run", "--year", year)
    assert docs[0]["year"] == int(year) and docs[0]["created_at"].endswith("+08:00")
    assert (await answer(cli, "summary", "show", "--year", year))["version"] == 1
    exported = await answer(cli, "summary", "export", "--year", year, "--format", "md")
    assert exported["format"] == "md" and "突发事件应对" in exported["text"]
    added = await answer(cli, "token", "add", "--person", f"机读{code}", "--role", "viewer")
    assert len(added["token"]) >= 32 and added["holder"]["role"] == "viewer"
    assert any(t["person"] == f"机读{code}" for t in await answer(cli, "token", "list"))
    revoked = await answer(cli, "token", "revoke", "--person", f"机读{code}")
    assert [t["holder"]["person"] for t in revoked] == [f"机读{code}"]
    checked = await answer(cli, "load", "examples/jiading-2022-meihua.yaml", "--check")
    assert checked["valid"] is True and checked["report"] is None
