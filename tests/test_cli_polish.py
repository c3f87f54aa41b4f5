"""The CLI's rough edges, smoothed: field errors in plain words, full-width tables when piped."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.fanout import FanoutIssue
from models.officer import OfficerRow
from yingji.core.errors import plain_errors


def errors_of(model: type, **data: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model(**data)
    return plain_errors(caught.value.errors())  # type: ignore[arg-type]


def test_field_errors_name_the_field_and_say_what_it_must_be() -> None:
    said = errors_of(
        FanoutIssue,
        warning_id="a b",
        title="题" * 201,
        district="",
        issued_by="值班员",
        level="town",
        junk=1,
    )
    assert said == (
        "warning_id: may not contain blanks, control characters, ':' or '/'; "
        "title: at most 200 characters; district: must not be empty; "
        "junk: is not a field of this request"
    )
    assert "String should" not in said and "pattern" not in said


def test_a_phone_is_described_not_its_regular_expression() -> None:
    fields = set(OfficerRow.model_fields)
    data = {f: "x" for f in fields if OfficerRow.model_fields[f].is_required()}
    data["phone"] = "call me"
    said = errors_of(OfficerRow, **data)
    assert "phone: must be a phone number" in said and "\\d" not in said


def test_tables_are_not_cut_at_80_columns_when_piped() -> None:
    from rich.table import Table

    from yingji.cli.common import out

    table = Table("单位", "说明")
    table.add_row("嘉定工业区", "很长的说明" * 30)
    with out.capture() as captured:
        out.print(table)
    text = captured.get()
    assert "很长的说明" * 30 in text and "…" not in text


async def test_officer_warning_and_disaster_commands_speak_json_in_china_time(
    cli, engine, code: str, tmp_path
) -> None:
    """`--json` on officer import/list/gaps, warning issue/ack/show/list and disaster list: one
    JSON document each, times at +08:00. An import names every bad line at once, the unknown
    unit with its line too."""
    import json

    from tests.test_cli import yingji
    from yingji.services import unit as units
    from yingji.stores import responsible

    district = f"格式区{code}"
    await units.import_csv(
        engine,
        (
            "code,name,level,parent_code,district\n"
            f"{code}-T1,一镇,town,,{district}\n{code}-T2,二镇,town,,{district}\n"
        ).encode(),
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"unit,role,name,phone\n{code}-T1,A,甲,call-me\n无此镇,A,乙,13800000002\n"
        f"{code}-T2,C,丙,13800000003\n",
        encoding="utf-8",
    )
    r = await yingji(cli, "officer", "import", str(bad), "--json")
    assert r.exit_code == 2, r.output
    said = json.loads(r.stdout)
    assert said["imported"] == 0 and [e.split(":")[0] for e in said["errors"]] == [
        "line 2",
        "line 3",
        "line 4",
    ]
    assert "line 3: unit: '无此镇' is not a registered 街镇/村居" in said["errors"][1]
    good = tmp_path / "good.csv"
    good.write_text(f"unit,role,name,phone\n{code}-T1,A,甲,13800000001\n", encoding="utf-8")
    r = await yingji(cli, "officer", "import", str(good), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"imported": 1}
    r = await yingji(cli, "officer", "list", "--district", district, "--json")
    assert [o["name"] for o in json.loads(r.stdout)] == ["甲"]
    r = await yingji(cli, "officer", "gaps", "--district", district, "--json")
    gaps = json.loads(r.stdout)
    assert [g["unit_code"] for g in gaps["gaps"]] == [f"{code}-T2"]

    await responsible.import_csv(
        engine,
        (
            "unit,role,name,phone,order\n"
            f"{code}-T1,党政主要负责人,王一,13900000011,1\n"
            f"{code}-T2,党政主要负责人,王二,13900000012,1\n"
        ).encode(),
    )
    wid = f"{code}-W"
    r = await yingji(
        cli, "warning", "issue", wid, "--title", "暴雨红色预警", "--by", "值班员",
        "--district", district, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    issued = json.loads(r.stdout)
    assert issued["chains"] == 2 and issued["issued_at"].endswith("+08:00")
    r = await yingji(cli, "warning", "ack", wid, "--person", "13900000011", "--json")
    assert json.loads(r.stdout)["status"] == "answered"
    r = await yingji(cli, "warning", "show", wid, "--json")
    assert json.loads(r.stdout)["warning_id"] == wid
    r = await yingji(cli, "warning", "list", "--district", district, "--json")
    listed = json.loads(r.stdout)
    assert [w["warning_id"] for w in listed] == [wid]
    assert listed[0]["issued_at"].endswith("+08:00") and listed[0]["finished"] is False
    r = await yingji(cli, "warning", "list", "--district", district)
    assert r.exit_code == 0 and "暴雨红色预警" in r.output and "+08:00" in r.output
    r = await yingji(cli, "disaster", "list", "--district", district, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []


def test_times_are_shown_in_china_time_with_the_offset() -> None:
    from datetime import UTC, datetime

    from yingji.cli.common import local_times, when

    at = datetime(2022, 9, 14, 15, 0, tzinfo=UTC)
    assert when(at) == "2022-09-14 23:00+08:00"
    assert local_times({"at": [at]}) == {"at": ["2022-09-14T23:00:00+08:00"]}


def test_every_enum_takes_the_short_forms_people_write() -> None:
    """二级/Ⅱ级/II, 蓝色, 桌面演练, 专项预案 … are accepted the same way by every enum; no two
    members of one enum share a form."""
    import importlib
    import pkgutil

    import models
    from models.common import LabelledEnum
    from models.drill import DrillType
    from models.plan import PlanKind
    from models.typhoon import ResponseLevel, WarningColour

    for given, member in [
        ("二级", ResponseLevel.II),
        ("Ⅱ级", ResponseLevel.II),
        ("II", ResponseLevel.II),
        ("ⅳ级", ResponseLevel.IV),
        ("蓝色", WarningColour.BLUE),
        ("红色预警", WarningColour.RED),
        ("桌面演练", DrillType.TABLETOP),
        ("专项预案", PlanKind.SPECIAL),
        ("专项应急预案", PlanKind.SPECIAL),
    ]:
        assert type(member).parse(given) is member, given
    with pytest.raises(ValueError, match="is not one of: none"):
        ResponseLevel.parse("五级")

    for info in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"models.{info.name}")

    def kinds(cls: type) -> list[type]:
        return [k for s in cls.__subclasses__() for k in (s, *kinds(s))]

    for kind in kinds(LabelledEnum):
        for member in kind:
            for form in member.forms():
                assert kind.parse(form) is member, (kind.__name__, form)


def test_every_command_has_json() -> None:
    """`--json` on every command that answers (the servers `serve`, `worker`, `console` run
    until stopped and print logs, not answers)."""
    import click

    from yingji.cli import GROUPS, load_group

    def leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            return [
                leaf
                for name, sub in command.commands.items()
                for leaf in leaves(sub, f"{path} {name}")
            ]
        return [(path, command)]

    missing = [
        path
        for name in GROUPS
        for path, command in leaves(load_group(name), name)
        if "--json" not in {o for p in command.params for o in getattr(p, "opts", [])}
    ]
    assert missing == []
