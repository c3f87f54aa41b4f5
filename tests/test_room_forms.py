"""The forms a duty officer works an event from (issue #18), in headless Chromium (Debian's),
against a live console and worker: a 暴雨 event started from the page with its hazard chosen, an
instruction and its feedback, a shelter opened and its occupancy reported, a reporting round
started on demand, a disaster report with 集中/分散安置 broken down by 街镇; each step seen on the
page and in the API. And the reporter's page saying why a report was refused, in plain Chinese
naming the field, whichever shape the API's refusal takes."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from models.common import CHINA_TZ
from tests.conftest import LiveConsole
from tests.helpers import eventually, jiading_units
from tests.test_browser import CHROMIUM, FLAGS
from tests.test_duty_room import ENGLISH, api, capture, form, log_in, new_page
from yingji.services import shelter as shelters
from yingji.stores import token as tokens

ROOT = Path(__file__).parent.parent
#: What a refusal on the page must never show: the API's raw text.
RAW = ("Input should", "String should", "Value error", "may not report", '{"', "loc", "msg")


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def board(http: httpx.AsyncClient, token: str, event_id: str) -> dict[str, Any]:
    r = await http.get(f"/api/typhoons/{event_id.replace(':', '/')}", headers=headers(token))
    assert r.status_code == 200, r.text
    return r.json()


async def done(page: Page, title: str) -> None:
    """The form's action was carried out: the view says so (a Chinese notice)."""
    await expect(page.locator("#detail-notice")).to_contain_text(f"已办理：{title}", timeout=30_000)


async def submit(page: Page, title: str) -> None:
    """Submit the form ``title`` as its view shows it (If-Match: the view's ETag), and see it
    carried out. A view older than the event (its projection a step behind the workflow, as
    right after it opened) is refused with 412 and refreshed, saying so: then it is sent again,
    as the duty officer would."""
    action = form(page, title)
    notice = page.locator("#detail-notice")
    for _ in range(3):
        await action.locator("button[type=submit]").click()
        outcome = action.locator(".outcome")
        await expect(outcome).not_to_have_text(re.compile(r"^(|提交中…)$"), timeout=30_000)
        if "该事项已有更新" not in await outcome.inner_text():
            break
        await expect(outcome).to_contain_text("页面已刷新，请核对后重新提交")
    await expect(notice).to_contain_text(f"已办理：{title}", timeout=30_000)


async def test_a_duty_officer_works_a_rainstorm_from_its_forms(
    live_console: LiveConsole, engine, tmp_path: Path
) -> None:
    await jiading_units(engine)
    await shelters.import_csv(
        engine, (ROOT / "examples/jiading-shelters.csv").read_bytes(), district="嘉定区"
    )
    officer = (await tokens.issue(engine, "值班员 赵磊", "duty_officer")).token
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            async with httpx.AsyncClient(base_url=live_console.url, timeout=60) as http:
                await rainstorm(browser, http, live_console, tmp_path, officer)
        finally:
            await browser.close()


async def rainstorm(
    browser: Browser, http: httpx.AsyncClient, live: LiveConsole, out: Path, officer: str
) -> None:
    context, page, errors = await new_page(browser)
    await page.goto(f"{live.url}/")
    await log_in(page, officer)

    # Start a 暴雨 event from the page: the hazard chosen, a code instead of a number.
    code = f"RS{uuid.uuid4().hex[:6].upper()}"
    name = f"测试暴雨{uuid.uuid4().hex[:4]}"
    await page.click("summary:has-text('启动台风过程')")
    start = form(page, "启动台风过程")
    await expect(start.locator("[name=hazard] option")).to_have_text(["台风", "暴雨", "寒潮"])
    await start.locator("[name=hazard]").select_option("rainstorm")
    await expect(start.locator("h4")).to_have_text("启动暴雨事件")
    await expect(start.locator("[name=number]")).to_be_hidden()
    await expect(start.locator("[name=code]")).to_have_value(re.compile(r"^RS\d{8}$"))
    await start.locator("[name=code]").fill(code)
    await start.locator("[name=name]").fill(name)
    year = await start.locator("[name=year]").input_value()
    await start.locator("[name=level]").select_option("IV")
    await start.locator("[name=warning]").select_option("blue")
    await capture(page, out / "start-rainstorm.png", "启动暴雨事件", "事件编号", "事件名称")
    await start.locator("button[type=submit]").click()
    event_id = f"{year}:{code}"
    title = page.locator("#detail-title")
    await expect(title).to_contain_text(f"暴雨 {year}年「{name}」", timeout=30_000)
    opened = await board(http, officer, event_id)
    assert (opened["hazard"], opened["code"], opened["number"]) == ("rainstorm", code, None)
    assert opened["level"] == "IV" and opened["warning"] == "blue"
    state = page.locator("#detail-state")
    await expect(state).to_contain_text("暴雨")

    # An instruction to every 街镇.
    instruct = form(page, "下达工作指令")
    await instruct.locator("[name=text]").fill("各街镇立即排查低洼地区积水点")
    await instruct.locator("[name=due_minutes]").fill("45")
    await submit(page, "下达工作指令")
    instructions = state.locator("table", has=page.locator("th", has_text="反馈期限"))
    await expect(instructions).to_contain_text("各街镇立即排查低洼地区积水点")
    b = await board(http, officer, event_id)
    # Ⅳ级 gave an instruction of its own when the event opened; ours comes after it.
    ours = [i for i in b["instructions"] if i["text"] == "各街镇立即排查低洼地区积水点"]
    assert [(i["id"], i["answered"], i["by"]) for i in ours] == [
        (f"I{len(b['instructions'])}", 0, "值班员 赵磊")
    ]
    inst = ours[0]["id"]
    towns = ours[0]["towns"]
    assert towns >= 12 and len(ours[0]["pending"]) == towns and "安亭镇" in ours[0]["pending"]
    row = instructions.locator("tr", has_text="各街镇立即排查低洼地区积水点")
    await expect(row).to_contain_text(f"0/{towns}")
    await expect(row).to_contain_text(inst)

    # 安亭镇's feedback on it, entered by the duty officer.
    feedback = form(page, "登记指令反馈")
    await feedback.locator("[name=instruction]").select_option(inst)
    await expect(feedback.locator("[name=town] option")).to_have_count(towns)
    await feedback.locator("[name=town]").select_option(label="安亭镇")
    await feedback.locator("[name=text]").fill("已排查积水点 8 处，均已设置警示")
    await submit(page, "登记指令反馈")
    await expect(row).to_contain_text(f"1/{towns}")
    b = await board(http, officer, event_id)
    (answered,) = [i for i in b["instructions"] if i["id"] == inst]
    assert answered["answered"] == 1 and "安亭镇" not in answered["pending"]
    # 安亭镇 has answered it: it is offered no more for that instruction.
    feedback = form(page, "登记指令反馈")
    await feedback.locator("[name=instruction]").select_option(inst)
    await expect(feedback.locator("[name=town] option")).to_have_count(towns - 1)
    history = page.locator("#detail-history")
    await expect(history).to_contain_text("下达工作指令", timeout=20_000)
    await expect(history).to_contain_text("反馈")

    # A shelter opened for the event, then its occupancy reported.
    opening = form(page, "开放避难场所")
    await opening.locator("[name=shelters]").select_option(["JD-BN-0501"])
    await submit(page, "开放避难场所")
    await expect(state).to_contain_text("安亭镇文体中心")
    b = await board(http, officer, event_id)
    assert [(s["code"], s["capacity"]) for s in b["shelters"]] == [("JD-BN-0501", 600)]

    occupancy = form(page, "报送避难场所在住人数")
    await occupancy.locator("[name=shelter]").select_option("JD-BN-0501")
    await occupancy.locator("[name=occupancy]").fill("120")
    await submit(page, "报送避难场所在住人数")
    await expect(page.locator("#detail-notice")).to_contain_text("已接收")
    await expect(state).to_contain_text("120/600", timeout=30_000)
    await expect(state).to_contain_text("在住 120 / 容量 600")
    b = await eventually(
        lambda: board(http, officer, event_id), lambda b: b["shelter_occupancy"] == 120
    )
    assert b["shelters"][0]["occupancy"] == 120

    # A reporting round on demand.
    rounds_before = len(b["rounds"])
    round_form = form(page, "开始报送轮次")
    await round_form.locator("[name=note]").fill("暴雨加强，加密报送")
    await submit(page, "开始报送轮次")
    no = rounds_before + 1
    await expect(state).to_contain_text(f"第{no}轮", timeout=30_000)
    b = await eventually(lambda: board(http, officer, event_id), lambda b: len(b["rounds"]) == no)
    assert b["rounds"][-1]["no"] == no and b["rounds"][-1]["units"] >= 12
    await expect(history).to_contain_text("开始报送轮次", timeout=20_000)
    # A round whose 未报单位 are counted but not named: how many, no dangling 等.
    rounds = state.locator("table", has=page.locator("th", has_text="未报单位"))
    board_url = re.compile(rf"/api/typhoons/{year}/{code}$")

    async def unnamed(route: Route) -> None:
        answer = await route.fetch()
        shown = await answer.json()
        for r in shown.get("rounds") or []:
            r["missing"], r["missing_count"] = [], 12
        await route.fulfill(response=answer, json=shown)

    await page.route(board_url, unnamed)
    row = rounds.locator("tr", has_text=f"第{no}轮")
    await expect(row).to_contain_text("12 个单位未报", timeout=20_000)
    assert "等 12" not in await row.inner_text()
    await page.unroute(board_url)
    # The view's version without the ETag's quotes.
    await expect(state.locator("p.note", has_text="视图版本")).to_have_text(
        re.compile(r"^视图版本 \d+$")
    )
    await capture(
        page,
        out / "rainstorm.png",
        name,
        "工作指令",
        "各街镇立即排查低洼地区积水点",
        "安亭镇文体中心",
        f"第{no}轮",
        "下达工作指令",
    )

    # The event is in hand on the home page, named as a 暴雨 event.
    await page.click("#who a:has-text('值班室首页')")
    live_events = page.locator("#live [data-kind=typhoon]")
    await expect(live_events).to_contain_text(f"{year}年暴雨事件 {code}「{name}」", timeout=20_000)

    await disaster_report(page, http, live, out, officer)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await context.close()


async def disaster_report(
    page: Page, http: httpx.AsyncClient, live: LiveConsole, out: Path, officer: str
) -> None:
    """A 暴雨 disaster process (no typhoon tally linked): its 初报 with 集中/分散安置, by 街镇."""
    code = f"DZ{uuid.uuid4().hex[:8]}"
    occurred = (datetime.now(CHINA_TZ) - timedelta(hours=1)).isoformat(timespec="seconds")
    await api(
        http,
        live.admin,
        "/api/disasters",
        {
            "code": code,
            "name": "“7·21”暴雨灾害过程",
            "hazard": "暴雨洪涝",
            "district": "嘉定区",
            "occurred_at": occurred,
            "opened_by": "值班员 赵磊",
            "officer": {"name": "陈静", "phone": "13900000005"},
        },
    )
    await page.goto(f"{live.url}/#/disaster/{code}")
    report = form(page, "报送灾情")
    await expect(report).to_be_visible(timeout=30_000)
    await expect(report.locator("[name=kind]")).to_have_value("initial")
    await report.locator("[name=affected]").fill("500")
    await report.locator("[name=pre_evacuated]").fill("100")
    await report.locator("[name=centralized]").fill("120")
    await report.locator("[name=dispersed]").fill("80")

    # A 初报 not broken down by 街镇 is refused, saying so in Chinese.
    await report.locator("button[type=submit]").click()
    outcome = report.locator(".outcome")
    await expect(outcome).to_have_text("未办理：「分街镇」初报须按街镇分列", timeout=30_000)
    r = await http.get(f"/api/disasters/{code}", headers=headers(officer))
    assert r.json()["reports"] == []

    rows = report.locator("fieldset.rows tbody tr")
    for i, (town, affected, centralized, dispersed) in enumerate(
        [("安亭镇", 300, 70, 30), ("南翔镇", 200, 50, 50)]
    ):
        row = rows.nth(i)
        await row.locator("[data-col=town]").select_option(label=town)
        await row.locator("[data-col=affected]").fill(str(affected))
        await row.locator("[data-col=centralized]").fill(str(centralized))
        await row.locator("[data-col=dispersed]").fill(str(dispersed))
    await report.locator("[name=narrative]").fill("强降雨致部分低洼地区积水")
    await report.locator("button[type=submit]").click()
    await done(page, "报送灾情")
    state = page.locator("#detail-state")
    await expect(state).to_contain_text("200（集中 120，分散 80）")
    breakdown = state.locator(".town-breakdown")
    await expect(breakdown.locator("tr", has_text="安亭镇")).to_contain_text("70")
    await expect(breakdown.locator("tr", has_text="南翔镇")).to_contain_text("50")
    r = await http.get(f"/api/disasters/{code}", headers=headers(officer))
    (filed,) = r.json()["reports"]
    assert filed["kind"] == "initial"
    got = filed["indicators"]
    assert (got["relocated"], got["centralized"], got["dispersed"]) == (200, 120, 80)
    assert [
        (t["town"], t["indicators"]["centralized"], t["indicators"]["dispersed"])
        for t in filed["towns"]
    ] == [("JD-05", 70, 30), ("JD-04", 50, 50)]
    await capture(page, out / "disaster.png", "分街镇", "安亭镇", "南翔镇", "集中 120")


async def test_the_reporter_page_says_why_a_report_was_refused(
    live_console: LiveConsole, engine, tmp_path: Path
) -> None:
    await jiading_units(engine)
    reporter = (await tokens.issue(engine, "安亭镇信息员 周婷", "reporter", ["安亭镇"])).token
    code = f"CW{uuid.uuid4().hex[:6].upper()}"
    year = datetime.now(CHINA_TZ).year
    event_id = f"{year}:{code}"
    async with httpx.AsyncClient(base_url=live_console.url, timeout=60) as http:
        body = {
            "year": year,
            "code": code,
            "hazard": "cold_wave",
            "name": f"测试寒潮{code[-4:]}",
            "district": "嘉定区",
            "opened_by": "值班员 赵磊",
        }
        await api(http, live_console.admin, "/api/typhoons", body)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                await refusals(browser, live_console, tmp_path, reporter, event_id)
            finally:
                await browser.close()
        # Nothing refused was recorded.
        r = await http.get(
            "/api/room/reporter", params={"event": event_id}, headers=headers(reporter)
        )
        assert r.status_code == 200, r.text
        (event,) = r.json()["events"]
        assert event["units"] == ["JD-05"] and event["last"] == {}


async def refusals(
    browser: Browser, live: LiveConsole, out: Path, token: str, event_id: str
) -> None:
    context, page, _ = await new_page(browser, phone=True)
    verdict, why = page.locator("#verdict"), page.locator("#reason-text")

    async def refused(shot: str, *expected: str) -> None:
        await expect(verdict).to_have_text("被拒", timeout=20_000)
        for text in expected:
            await expect(why).to_contain_text(text)
        shown = await why.inner_text()
        assert not [raw for raw in RAW if raw in shown], shown
        assert not ENGLISH.findall(shown), shown
        await capture(page, out / shot, "被拒", *expected)

    try:
        await page.goto(f"{live.url}/reporter")
        await log_in(page, token)
        await page.locator("#event").select_option(event_id)
        await expect(page.locator("#unit")).to_contain_text("安亭镇")

        # A figure above the API's bound: the field named, the bound said, in Chinese.
        await page.fill("#f-centralized", "200000000")
        await page.click("#send")
        await refused("refused-oversized.png", "「集中安置」不能大于 100,000,000")

        # A unit not theirs (the request altered on its way): 无权 for that unit, by name.
        async def other_unit(route: Route) -> None:
            sent = json.loads(route.request.post_data or "{}")
            await route.continue_(post_data=json.dumps({**sent, "unit": "南翔镇"}))

        await page.fill("#f-centralized", "10")
        await page.route("**/api/typhoons/reports", other_unit)
        await page.click("#send")
        await refused("refused-unit.png", "无权为「南翔镇」报送")
        await page.unroute("**/api/typhoons/reports")

        # The API's problem+json (RFC 9457) shape: errors[].reason with the field's path.
        async def problem(route: Route) -> None:
            answer = {
                "type": "about:blank",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "1 validation error",
                "errors": [
                    {
                        "path": "figures.dispersed",
                        "reason": "Input should be greater than or equal to 0",
                    }
                ],
            }
            await route.fulfill(
                status=422, content_type="application/problem+json", body=json.dumps(answer)
            )

        await page.route("**/api/typhoons/reports", problem)
        await page.click("#send")
        await refused("refused-problem.png", "「分散安置」不能小于 0")
        # … and one with only a detail, or only a title.
        for answer, expected in (
            ({"title": "Conflict", "status": 409, "detail": "as_of: 2099-01-01 is in the future"},
             "「数据截至」不能晚于当前时间"),
            ({"title": "Conflict", "status": 409}, "与当前状态冲突"),
        ):  # fmt: skip
            await page.unroute("**/api/typhoons/reports")

            await page.route("**/api/typhoons/reports", answering(answer))
            await page.click("#send")
            await expect(why).to_contain_text(expected, timeout=20_000)
            await refused("refused-shape.png", expected)
        await page.unroute("**/api/typhoons/reports")
    finally:
        await context.close()


def answering(answer: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A route handler that answers with ``answer`` as the API's problem (RFC 9457)."""

    async def fulfil(route: Route) -> None:
        await route.fulfill(
            status=answer["status"],
            content_type="application/problem+json",
            body=json.dumps(answer),
        )

    return fulfil
