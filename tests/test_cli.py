"""The duty officers' CLI against a dev server and a worker, as a person would use it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from models.common import CHINA_TZ
from tests.helpers import db_plan, eventually, new_event
from yingji.cli import app
from yingji.core.settings import get_settings


async def yingji(runner: CliRunner, *args: str) -> Result:
    # The CLI runs its own event loop, so it runs in a thread beside the test's worker.
    return await asyncio.to_thread(runner.invoke, app, list(args))


def create_args(code: str, **options: str) -> list[str]:
    """``plan create`` arguments: a valid plan unless ``options`` say otherwise."""
    values = {
        "name": "嘉定区突发事件总体应急预案",
        "kind": "overall",
        "level": "district",
        "unit": "嘉定区人民政府",
        "drafter": "张敏",
        **options,
    }
    args = ["plan", "create", code]
    for key, value in values.items():
        args += [f"--{key}", value]
    return args


async def test_plan_from_draft_to_in_force_and_into_revision(cli: CliRunner, engine, code) -> None:
    r = await yingji(
        cli,
        *create_args(code, name="嘉定区地震应急预案", kind="专项应急预案", level="区/县"),
    )
    assert r.exit_code == 0, r.output
    assert "编制" in r.output and "submit, withdraw" in r.output

    steps = [
        ("submit", "--by", "张敏"),
        ("review", "--reviewer", "区地震办", "--opinion", "同意"),
        ("review", "--reviewer", "专家组", "--opinion", "论证通过", "--outcome", "通过"),
        ("review", "--reviewer", "区司法局", "--opinion", "合法"),
        ("approve", "--approver", "区政府常务会议", "--collective"),
        ("issue", "--document-number", "嘉府办发〔2026〕8号", "--issuer", "区政府办公室"),
        ("file", "--filed-with", "上海市应急管理局", "--by", "张敏"),
    ]
    for command, *options in steps:
        r = await yingji(cli, "plan", command, code, *options)
        assert r.exit_code == 0, (command, r.output)

    r = await yingji(cli, "plan", "show", code)
    assert r.exit_code == 0, r.output
    assert "施行中" in r.output and "版本 version: 1" in r.output
    assert "评估 evaluation" in r.output  # the open deadline, with its due date
    assert "嘉府办发〔2026〕8号" in r.output

    r = await yingji(cli, "plan", "list", "--stage", "in_force")
    assert r.exit_code == 0 and code in r.output

    r = await yingji(
        cli,
        "plan",
        "trigger-revision",
        code,
        "--cause",
        "risk_changed",
        "--detail",
        "新增地下空间风险",
        "--source",
        "值班员 李强",
    )
    assert r.exit_code == 0, r.output

    async def shown() -> dict:
        r = await yingji(cli, "plan", "show", code, "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    plan = await eventually(shown, lambda p: p["version"] == 2)
    assert plan["stage"] == "drafting" and plan["revisions"][0]["triggers"][0]["cause"] == (
        "risk_changed"
    )
    row = await db_plan(engine, code)
    assert row is not None and row["in_force_version"] == 1


async def test_bad_input_gets_a_clear_message_and_non_zero_exit(cli: CliRunner, code) -> None:
    r = await yingji(cli, "plan", "show", "NO-SUCH-PLAN")
    assert r.exit_code == 1 and "plan NO-SUCH-PLAN not found" in r.output

    r = await yingji(cli, *create_args(code, kind="nonsense"))
    assert r.exit_code == 2 and "'nonsense' is not one of" in r.output

    r = await yingji(cli, *create_args(code, name="  "))
    assert r.exit_code == 1 and "invalid input: name" in r.output

    create = create_args(code)
    assert (await yingji(cli, *create)).exit_code == 0
    r = await yingji(cli, *create)
    assert r.exit_code == 1 and "already exists" in r.output

    r = await yingji(cli, "plan", "approve", code, "--approver", "区长")
    assert r.exit_code == 1
    assert "stage 'drafting'" in r.output and "Allowed actions: submit, withdraw" in r.output

    r = await yingji(
        cli,
        "plan",
        "issue",
        code,
        "--document-number",
        "x",
        "--issuer",
        "y",
        "--issued-on",
        "2024-13-01",
    )
    assert r.exit_code == 2 and "is not a date" in r.output

    r = await yingji(
        cli, "plan", "trigger-revision", code, "--cause", "bored", "--detail", "x", "--source", "y"
    )
    assert r.exit_code == 2 and "law_changed" in r.output

    # Nothing above changed the stored plan.
    r = await yingji(cli, "plan", "show", code, "--json")
    plan = json.loads(r.stdout)
    assert (plan["stage"], plan["last_seq"], plan["reviews"]) == ("drafting", 1, [])


async def test_drill_commands(cli: CliRunner, dev_env, code: str, tmp_path) -> None:
    plan_code = f"{code}-P"
    assert (await yingji(cli, *create_args(plan_code, kind="special"))).exit_code == 0
    for command, *options in [
        ("submit", "--by", "张敏"),
        ("review", "--reviewer", "a", "--opinion", "同意"),
        ("review", "--reviewer", "b", "--opinion", "同意"),
        ("review", "--reviewer", "c", "--opinion", "同意"),
        ("approve", "--approver", "区政府"),
        ("issue", "--document-number", "嘉府办发〔2026〕9号", "--issuer", "区政府办"),
        ("file", "--filed-with", "市应急局", "--by", "张敏"),
    ]:
        assert (await yingji(cli, "plan", command, plan_code, *options)).exit_code == 0

    today = datetime.now(CHINA_TZ).date().isoformat()  # the date the workflows use
    r = await yingji(
        cli,
        "drill",
        "plan",
        code,
        "--name",
        "嘉安-2026",
        "--type",
        "综合演练",
        "--scenario",
        "持续强降雨",
        "--organiser",
        "嘉定区应急管理局",
        "--site",
        "远香湖",
        "--date",
        today,
        "--participant",
        "嘉定区水务局",
        "--plan",
        plan_code,
    )
    assert r.exit_code == 0, r.output
    assert "综合演练" in r.output and "已计划" in r.output

    r = await yingji(
        cli, "drill", "postpone", code, "--to", "2020-01-01", "--reason", "x", "--by", "y"
    )
    assert r.exit_code == 1 and "new_date" in r.output

    r = await yingji(
        cli,
        "drill",
        "conduct",
        code,
        "--participants",
        "320",
        "--by",
        "指挥部",
        "--segment",
        "商场人员疏散",
        "--segment",
        "水上救援",
    )
    assert r.exit_code == 0 and "320 people" in r.output, r.output

    findings = tmp_path / "findings.json"
    findings.write_text(
        json.dumps(
            {
                "findings": [
                    {
                        "severity": "high",
                        "category": "plan_soundness",
                        "description": "转移路线不明确",
                        "plan_defect": True,
                        "plan_code": plan_code,
                    }
                ],
                "actions": [
                    {
                        "finding": 1,
                        "description": "修订转移路线",
                        "owner": "区应急局",
                        "due_on": today,
                    }
                ],
            },
            ensure_ascii=False,
        )
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = await yingji(
        cli, "drill", "evaluate", code, "--evaluator", "e", "--summary", "s", "--file", str(bad)
    )
    assert r.exit_code == 2 and "is not JSON" in r.output

    r = await yingji(
        cli,
        "drill",
        "evaluate",
        code,
        "--evaluator",
        "第三方评估组",
        "--summary",
        "总体成功",
        "--third-party",
        "--file",
        str(findings),
    )
    assert r.exit_code == 0, r.output
    assert "revision requested" in r.output and "修订转移路线" in r.output

    r = await yingji(cli, "drill", "action-done", code, "1", "--by", "区应急局")
    assert r.exit_code == 0 and "已完成" in r.output, r.output

    r = await yingji(cli, "drill", "list", "--year", today[:4])
    assert r.exit_code == 0 and code in r.output
    r = await yingji(cli, "drill", "coverage", "--all", "--json")
    assert r.exit_code == 0
    rows = {row["plan_code"]: row for row in json.loads(r.stdout)}
    assert rows[plan_code]["last_drilled"] == today

    # The plan defect reopened the plan.
    r = await yingji(cli, "plan", "show", plan_code, "--json")
    assert json.loads(r.stdout)["revisions"][0]["triggers"][0]["source"] == f"drill:{code}"

    r = await yingji(cli, "drill", "show", "NO-SUCH-DRILL")
    assert r.exit_code == 1 and "drill NO-SUCH-DRILL not found" in r.output

    year = str(int(today[:4]) + 1)
    r = await yingji(
        cli,
        "drill",
        "programme",
        "start",
        "--unit",
        "西安市应急管理局",
        "--unit-code",
        code,
        "--year",
        year,
    )
    assert r.exit_code == 0, r.output
    r = await yingji(cli, "drill", "programme", "show", code, year)
    assert r.exit_code == 0 and f"{code}-{year}-M01" in r.output and f"{code}-{year}-A" in r.output
    assert r.output.count("pending") == 17


async def test_typhoon_commands(cli: CliRunner, dev_env, engine) -> None:
    event = (await new_event(engine)).event_id
    r = await yingji(
        cli,
        "typhoon",
        "open",
        event,
        "--name",
        "贝碧嘉",
        "--level",
        "IV",
        "--warning",
        "blue",
        "--by",
        "值班员 李强",
    )
    assert r.exit_code == 0, r.output
    assert "「贝碧嘉」" in r.output and "Ⅳ级" in r.output

    def report(report_id: str, unit: str, hour: int, *figures: str) -> list[str]:
        return [
            "typhoon",
            "report",
            event,
            "--unit",
            unit,
            "--report-id",
            report_id,
            "--by",
            "信息员",
            "--as-of",
            f"2024-09-16T{hour:02d}:00",
            *figures,
        ]

    r = await yingji(cli, *report("nx-1", "南翔镇", 6, "--centralized", "900", "--dispersed", "40"))
    assert r.exit_code == 0 and "nx-1: accepted" in r.output, r.output
    r = await yingji(cli, *report("nx-1", "南翔镇", 6, "--centralized", "900", "--dispersed", "40"))
    assert r.exit_code == 0 and "duplicate" in r.output
    r = await yingji(cli, *report("nx-0", "南翔镇", 5, "--centralized", "100"))
    assert r.exit_code == 0 and "accepted late" in r.output
    r = await yingji(
        cli,
        *report(
            "at-1", "安亭镇", 6, "--centralized", "10", "--dispersed", "5", "--relocated", "16"
        ),
    )
    assert r.exit_code == 1 and "relocated: 集中 10 + 分散 5 = 15 ≠ 转移安置 16" in r.output
    r = await yingji(cli, *report("x-1", "火星镇", 6, "--centralized", "1"))
    assert r.exit_code == 1 and "unit: '火星镇' is not a reporting unit" in r.output
    r = await yingji(cli, *report("x-2", "安亭镇", 6, "--centralized", "-3"))
    assert r.exit_code == 1 and "centralized" in r.output

    r = await yingji(cli, "typhoon", "close", event, "--by", "区防指")
    assert r.exit_code == 1 and "the response is still Ⅳ级" in r.output
    r = await yingji(
        cli, "typhoon", "level", event, "--level", "none", "--warning", "lifted", "--by", "区防指"
    )
    assert r.exit_code == 0, r.output
    r = await yingji(cli, "typhoon", "close", event, "--by", "区防指", "--json")
    assert r.exit_code == 0, r.output
    final = json.loads(r.stdout)
    assert final["status"] == "closed" and final["district_totals"]["relocated"] == 940

    r = await yingji(cli, *report("nx-2", "南翔镇", 9, "--centralized", "1000"))
    assert r.exit_code == 1 and "is closed" in r.output
    r = await yingji(cli, "typhoon", "show", event, "--season", "--units", "南翔镇")
    assert r.exit_code == 0 and "台风季累计紧急转移安置" in r.output and "nx-1" in r.output
    r = await yingji(cli, "typhoon", "show", "2024-13")
    assert r.exit_code == 2 and "YEAR:NUMBER" in r.output


async def test_officer_and_warning_commands(cli: CliRunner, engine, code: str, tmp_path) -> None:
    from yingji.stores.typhoon import add_units

    district = f"命令区{code}"
    await add_units(
        engine,
        [
            {
                "code": f"{code}-T{i}",
                "name": f"第{i}镇",
                "level": "town",
                "parent_code": None,
                "district": district,
            }
            for i in (1, 2, 3)
        ],
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(f"unit,role,name,phone\n{code}-T1,X,某,123\n", encoding="utf-8")
    r = await yingji(cli, "officer", "import", str(bad))
    assert r.exit_code == 2 and "line 2: role" in r.output and "nothing imported" in r.output
    good = tmp_path / "roster.csv"
    good.write_text(
        f"unit,role,name,phone\n{code}-T1,A,王强,13800000001\n{code}-T1,B,李娜,13800000002\n"
        f"{code}-T2,A,赵敏,13800000003\n",
        encoding="utf-8",
    )
    r = await yingji(cli, "officer", "import", str(good))
    assert r.exit_code == 0 and "imported 3" in r.output
    r = await yingji(cli, "officer", "list", "--district", district)
    assert r.exit_code == 0 and "王强" in r.output and "赵敏" in r.output
    r = await yingji(cli, "officer", "gaps", "--district", district)
    assert r.exit_code == 0 and f"{code}-T3" in r.output and "无人在岗" in r.output

    # 叫应 of the officers (the register of responsible people is in test_responsible.py):
    # one chain per 街镇 with someone on duty, by 街镇; 第3镇 has nobody.
    r = await yingji(
        cli,
        "warning",
        "issue",
        f"{code}-W",
        "--title",
        "台风红色预警",
        "--by",
        "区防指",
        "--district",
        district,
        "--who",
        "officer",
    )
    assert r.exit_code == 0, r.output
    assert "第1镇" in r.output and "第2镇" in r.output and "calling" in r.output
    assert f"第3镇（{code}-T3）" in r.output  # nobody to call
    r = await yingji(cli, "warning", "ack", f"{code}-W", "--person", "王强")
    assert r.exit_code == 0 and "已应答" in r.output, r.output
    r = await yingji(cli, "warning", "ack", f"{code}-W", "--person", "无名氏")
    assert r.exit_code == 1 and "nobody called for warning" in r.output
    r = await yingji(cli, "warning", "show", f"{code}-W")
    assert r.exit_code == 0 and "叫应率" in r.output


async def test_disaster_commands(cli: CliRunner, code: str, tmp_path) -> None:
    initial = tmp_path / "initial.json"
    initial.write_text(
        json.dumps(
            {
                "indicators": {
                    "affected": 24523,
                    "pre_evacuated": 8982,
                    "relocated": 15541,
                    "centralized": 14952,
                    "dispersed": 589,
                    "direct_loss": 281.01,
                    "loss_by_sector": {"住房": 30.0, "农业": 245.71, "其他": 5.3},
                },
                "towns": [
                    {
                        "town": "嘉定镇街道",
                        "indicators": {
                            "affected": 100,
                            "relocated": 0,
                            "centralized": 0,
                            "dispersed": 0,
                        },
                    }
                ],
                "narrative": "12个街镇均受灾",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    r = await yingji(
        cli,
        "disaster",
        "open",
        code,
        "--name",
        "台风“梅花”灾害过程",
        "--hazard",
        "台风",
        "--officer",
        "区A岗:13800000001",
        "--by",
        "值班员",
        "--backup",
        "区B岗:13800000002",
    )
    assert r.exit_code == 0 and "待报" in r.output, r.output
    r = await yingji(
        cli,
        "disaster",
        "open",
        f"{code}-bad",
        "--name",
        "x",
        "--hazard",
        "台风",
        "--officer",
        "no-phone",
        "--by",
        "值班员",
    )
    assert r.exit_code == 2 and "NAME:PHONE" in r.output
    r = await yingji(
        cli,
        "disaster",
        "report",
        code,
        "--kind",
        "初报",
        "--report-id",
        "I-1",
        "--by",
        "区A岗",
        "--file",
        str(initial),
    )
    assert r.exit_code == 0 and "I-1" in r.output and "受灾 24,523" in r.output, r.output
    r = await yingji(
        cli,
        "disaster",
        "report",
        code,
        "--kind",
        "核报",
        "--report-id",
        "F-1",
        "--by",
        "区A岗",
        "--file",
        str(initial),
    )
    assert r.exit_code == 1 and "kind: a 核报 (final) comes after" in r.output
    r = await yingji(
        cli,
        "disaster",
        "review",
        code,
        "--report-id",
        "I-1",
        "--reviewer",
        "市应急局",
        "--decision",
        "退回",
    )
    assert r.exit_code == 1 and "reason: a rejection must say why" in r.output
    r = await yingji(
        cli,
        "disaster",
        "review",
        code,
        "--report-id",
        "I-1",
        "--reviewer",
        "市应急局",
        "--decision",
        "pass",
    )
    assert r.exit_code == 0 and "审核通过" in r.output
    r = await yingji(cli, "disaster", "stable", code, "--by", "区防指")
    assert r.exit_code == 0 and "核报 final" in r.output, r.output
    r = await yingji(cli, "disaster", "show", code, "--json")
    assert json.loads(r.stdout)["stable_on"] is not None


async def test_summary_commands(cli: CliRunner, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YINGJI_BUREAU_DISTRICT", f"命令区{code}")
    get_settings.cache_clear()
    r = await yingji(cli, "summary", "show", "--year", "2016")
    assert r.exit_code == 1 and "no summary for 2016 yet" in r.output
    r = await yingji(cli, "summary", "run", "--year", "2016", "--year", "2015")
    assert r.exit_code == 0, r.output
    assert r.output.index("2015年") < r.output.index("2016年")  # backfill in year order
    r = await yingji(cli, "summary", "show", "--year", "2016")
    assert r.exit_code == 0 and "v1" in r.output and "突发事件应对工作情况" in r.output
    target = tmp_path / "2016.docx"
    r = await yingji(
        cli, "summary", "export", "--year", "2016", "--format", "docx", "--output", str(target)
    )
    assert r.exit_code == 0 and target.read_bytes()[:2] == b"PK"
    r = await yingji(cli, "summary", "export", "--year", "2016", "--format", "json")
    assert json.loads(r.stdout)["year"] == 2016
    r = await yingji(cli, "summary", "export", "--year", "2016", "--format", "odt")
    assert r.exit_code == 2 and "not md, json, docx or pdf" in r.output


async def test_every_default_district_is_the_configured_one(cli: CliRunner, monkeypatch) -> None:
    """No district is built in: without --district a command uses YINGJI_BUREAU_DISTRICT, and
    with neither it says which to give."""
    monkeypatch.setenv("YINGJI_BUREAU_DISTRICT", "青禾区")
    get_settings.cache_clear()
    r = await yingji(cli, "officer", "gaps")
    assert r.exit_code == 0 and "青禾区 灾害信息员空缺" in r.output, r.output
    monkeypatch.delenv("YINGJI_BUREAU_DISTRICT")
    get_settings.cache_clear()
    for args in (
        ["officer", "gaps"],
        ["warning", "issue", "W-NODISTRICT", "--title", "暴雨红色预警", "--by", "值班员"],
        ["typhoon", "open", "2031:1", "--name", "测试", "--by", "值班员"],
    ):
        r = await yingji(cli, *args)
        assert r.exit_code == 1, (args, r.output)
        assert "district: no district given and YINGJI_BUREAU_DISTRICT is not set" in r.output, (
            r.output
        )
    monkeypatch.delenv("YINGJI_BUREAU_NAME")
    get_settings.cache_clear()
    r = await yingji(cli, "summary", "run", "--year", "2016")
    assert r.exit_code == 1
    assert "set YINGJI_BUREAU_NAME, YINGJI_BUREAU_DISTRICT" in r.output, r.output


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://who:s3cretpw@127.0.0.1:1/none", "cannot connect ("),
        ("postgresql://nobody-here:s3cretpw@{host}/none", "the database refused or dropped"),
    ],
)
def test_a_database_failure_is_one_line_naming_the_setting(
    url: str, reason: str, database_url: str, tmp_path
) -> None:
    """A lost or refused database gave a traceback (with typer 0.15 the password, 8 times):
    now one line that names the setting to check, and never the URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    host = f"{parsed.host or '127.0.0.1'}:{parsed.port or 5432}"
    if not parsed.host:  # a socket directory (pgserver): use its query string
        url = url.replace("@{host}/none", f"@/none?host={parsed.query['host']}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        "YINGJI_DATABASE_URL": url.format(host=host),
        "YINGJI_DATA_DIR": str(tmp_path),
    }
    r = subprocess.run(
        [str(Path(sys.executable).parent / "yingji"), "plan", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and "YINGJI_DATABASE_URL" in lines[0], r.stderr
    assert "s3cretpw" not in r.stderr + r.stdout and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (["serve"], {"YINGJI_ENVIRONMENT": "PRODUCTION"}, "invalid settings: YINGJI_ENVIRONMENT"),
        (["plan", "list"], {"YINGJI_CONSOLE_TOKENS": "notjson"}, "invalid settings:"),
        (
            ["serve"],
            {
                "YINGJI_ENVIRONMENT": "production",
                "YINGJI_BUREAU_NAME": "  ",
                "YINGJI_BUREAU_DISTRICT": " ",
                "YINGJI_BUREAU_LEVEL": "district",
            },
            "set YINGJI_BUREAU_NAME, YINGJI_BUREAU_DISTRICT",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    command: list[str], env: dict[str, str], message: str, tmp_path
) -> None:
    """A bad value gave a 47-line pydantic traceback; blank bureau settings passed the
    production check and failed later. Now each is refused at once, in one line."""
    r = subprocess.run(
        [str(Path(sys.executable).parent / "yingji"), *command],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
            "YINGJI_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "temporal.db").exists()  # nothing started


def test_files_in_any_encoding_and_bad_files_get_a_message(tmp_path) -> None:
    """A GBK or binary --file, or JSON that is not an object, gave a UnicodeDecodeError or a
    TypeError traceback; a missing output directory a FileNotFoundError."""
    runner = CliRunner()
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\xd8\x00\xdc")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    for args, expected in (
        (
            [
                "disaster",
                "report",
                "X",
                "--kind",
                "初报",
                "--report-id",
                "r",
                "--by",
                "b",
                "--file",
                str(binary),
            ],
            "neither UTF-8 nor GBK",
        ),
        (
            [
                "disaster",
                "report",
                "X",
                "--kind",
                "初报",
                "--report-id",
                "r",
                "--by",
                "b",
                "--file",
                str(listed),
            ],
            "must hold a JSON object",
        ),
        (
            ["drill", "evaluate", "X", "--evaluator", "e", "--summary", "s", "--file", str(binary)],
            "neither UTF-8 nor GBK",
        ),
        (
            [
                "drill",
                "evaluate",
                "X",
                "--evaluator",
                "e",
                "--summary",
                "s",
                "--file",
                str(tmp_path / "missing.json"),
            ],
            "cannot read",
        ),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output and "Traceback" not in result.output, result.output
    # GBK, as Excel writes it, is read as text
    from yingji.cli.common import read_json_object

    gbk = tmp_path / "gbk.json"
    gbk.write_bytes('{"findings": [{"description": "预案未明确转移路线"}]}'.encode("gbk"))
    assert read_json_object(gbk, "--file")["findings"][0]["description"] == "预案未明确转移路线"


def test_a_gbk_roster_is_read(tmp_path) -> None:
    """`officer import` of a GBK file (what Excel on Chinese Windows writes) was a
    UnicodeDecodeError traceback: it is read, and a bad line is reported by its number."""
    roster = tmp_path / "roster.csv"
    roster.write_bytes("unit,role,name,phone\n南翔镇,Z,王强,13800000001\n".encode("gbk"))
    result = CliRunner().invoke(app, ["officer", "import", str(roster)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "line 2" in result.output and "role" in result.output, result.output
