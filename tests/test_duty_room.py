"""The duty room's page and the reporter's page, in headless Chromium (Debian's), against a live
console and worker: a duty officer starts and opens a typhoon from the page, changes its level,
sees a report sent from the reporter's page (at phone size) on the board by 街镇 name, issues a
叫应 and sees an answer counted; every page is captured and its visible text checked; a bad or a
revoked token goes back to the login with a message."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from models.common import CHINA_TZ
from tests.conftest import LiveConsole
from tests.helpers import eventually, jiading_units, new_event
from tests.test_browser import CHROMIUM, FLAGS
from yingji.stores import responsible
from yingji.stores import token as tokens

ROOT = Path(__file__).parent.parent
PHONE = {"width": 390, "height": 844}
#: What the page must never show: the workflows' English identifiers instead of Chinese labels.
ENGLISH = re.compile(
    r"\b(comprehensive|planned|closed|conducted|drafting|in_force|consultation|special|"
    r"district|typhoon|accepted|duplicate|late|refused|undefined|null|NaN)\b"
)


async def api(http: httpx.AsyncClient, token: str, path: str, body: dict[str, Any]) -> Any:
    """A console POST as a client sends it (a fresh Idempotency-Key, a 202 polled)."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    r = await http.post(path, json=body, headers=headers)
    while r.status_code == 202:
        r = await http.get(r.json()["poll"], headers=headers)
    assert r.status_code in (200, 201), (path, r.status_code, r.text)
    return r.json()


async def plan_in_revision(http: httpx.AsyncClient, admin: str, code: str) -> None:
    """A plan in force as v1 whose v2 is being drafted."""
    await api(
        http,
        admin,
        "/api/plans",
        {
            "code": code,
            "name": "嘉定区防汛防台专项应急预案",
            "kind": "special",
            "level": "district",
            "unit": "嘉定区应急管理局",
            "drafter": "张敏",
        },
    )
    await api(http, admin, f"/api/plans/{code}/submit", {"by": "张敏"})
    for reviewer in ("区水务局", "专家组", "区司法局"):
        body = {"reviewer": reviewer, "opinion": "同意", "outcome": "pass"}
        await api(http, admin, f"/api/plans/{code}/review", body)
    body = {"approver": "区政府常务会议", "collective_discussion": True}
    await api(http, admin, f"/api/plans/{code}/approve", body)
    body = {"document_number": "嘉府办发〔2026〕12号", "issuer": "区政府办公室"}
    await api(http, admin, f"/api/plans/{code}/issue", body)
    body = {"filed_with": "市应急局", "filed_by": "张敏"}
    await api(http, admin, f"/api/plans/{code}/file", body)
    body = {"cause": "law_changed", "detail": "上位法修订", "source": "值班员", "trigger_id": code}
    await api(http, admin, f"/api/plans/{code}/revision-triggers", body)

    async def register() -> list[dict[str, Any]]:
        r = await http.get("/api/plans", headers={"Authorization": f"Bearer {admin}"})
        return [p for p in r.json() if p["code"] == code]

    await eventually(register, lambda rows: rows and rows[0]["version"] == 2, within=30)


async def log_in(page: Page, token: str) -> None:
    await page.fill("#token-input", token)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#board")).to_be_visible()


async def new_page(browser: Browser, phone: bool = False) -> tuple[BrowserContext, Page, list[str]]:
    """A page in a Chinese browser on Beijing time (a desk's screen, or a phone's), and the
    errors its console logs."""
    size: dict[str, Any] = (
        {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True}
        if phone
        else {"viewport": {"width": 1280, "height": 900}}
    )
    context = await browser.new_context(**size, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors


async def capture(page: Page, path: Path, *expected: str) -> str:
    """A screenshot of the page, and its visible text: in Chinese, holding ``expected``."""
    await page.screenshot(path=str(path), full_page=True)
    shown = await page.inner_text("body")
    for text in expected:
        assert text in shown, (path.name, text, shown)
    english = [shown[max(m.start() - 80, 0) : m.end() + 40] for m in ENGLISH.finditer(shown)]
    assert not english, (path.name, english)
    return shown


def form(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator(f"form[data-action='{title}']")


async def test_a_duty_officer_works_a_typhoon_and_a_call_from_the_page(
    live_console: LiveConsole, engine, tmp_path: Path
) -> None:
    await jiading_units(engine)
    await responsible.import_csv(engine, (ROOT / "examples/jiading-responsible.csv").read_bytes())
    officer = (await tokens.issue(engine, "值班员 王伟", "duty_officer")).token
    reporter = (await tokens.issue(engine, "安亭镇信息员 陈静", "reporter", ["安亭镇"])).token
    event = await new_event(engine, name=f"测试台风{uuid.uuid4().hex[:4]}")
    plan_code = f"DR{uuid.uuid4().hex[:8]}"
    drill_code = f"DR{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=live_console.url, timeout=60) as http:
        await plan_in_revision(http, live_console.admin, plan_code)
        drill = {
            "code": drill_code,
            "name": "嘉安-综合演练",
            "drill_type": "comprehensive",
            "scenario": "持续强降雨，远香湖堤防险情",
            "organiser": "嘉定区应急管理局",
            "site": "远香湖",
            "scheduled_on": "2099-12-18",
        }
        await api(http, live_console.admin, "/api/drills", drill)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            await duty_room(browser, live_console, tmp_path, officer, reporter, event, plan_code)
        finally:
            await browser.close()


async def duty_room(  # type: ignore[no-untyped-def]
    browser: Browser, live: LiveConsole, out: Path, officer: str, reporter: str, event, plan: str
) -> None:
    event_id = f"{event.year}:{event.number}"
    _, page, errors = await new_page(browser)
    await page.goto(f"{live.url}/")
    await log_in(page, officer)
    await expect(page.locator("#person")).to_contain_text("值班员 王伟（值班员）")

    # The register: "v1 施行中，v2 编制中"; the drill calendar in Chinese.
    await expect(page.locator("#plans")).to_contain_text("v1 施行中，v2 编制", timeout=20_000)
    await expect(page.locator("#drills")).to_contain_text("嘉安-综合演练")
    row = page.locator("#drills tr", has_text="嘉安-综合演练")
    await expect(row).to_contain_text("综合演练")
    await expect(row).to_contain_text("已计划")

    # Start a typhoon from the page (a fresh Idempotency-Key): its view opens.
    await page.click("summary:has-text('启动台风过程')")
    start = form(page, "启动台风过程")
    await start.locator("[name=year]").fill(str(event.year))
    await start.locator("[name=number]").fill(str(event.number))
    await start.locator("[name=name]").fill(event.name)
    await expect(start.locator("[name=district]")).to_have_value("嘉定区")
    await start.locator("[name=level]").select_option("IV")
    await start.locator("[name=warning]").select_option("blue")
    await start.locator("button[type=submit]").click()
    await expect(page.locator("#detail-title")).to_contain_text(f"「{event.name}」", timeout=30_000)

    # Home again: the typhoon is a live item; open it from the list.
    await page.click("#who a:has-text('值班室首页')")
    live_typhoons = page.locator("#live [data-kind=typhoon]")
    await expect(live_typhoons).to_contain_text(event.name, timeout=20_000)
    await expect(live_typhoons).to_contain_text("Ⅳ级")
    await expect(live_typhoons).to_contain_text("蓝色预警")
    await expect(page.locator("#live [data-kind=plan]")).to_contain_text(plan)
    sections = ("在办事项", "逾期事项", "台风转移安置看板", "叫应看板", "演练日历", "预案登记")
    await expect(page.locator("#typhoon-name")).to_contain_text(event.name, timeout=20_000)
    await expect(page.locator("#typhoon-board")).to_contain_text("蓝色预警")
    await capture(page, out / "duty-room.png", *sections, event.name)
    await live_typhoons.locator(f"a:has-text('{event.name}')").click()
    await expect(page.locator("#detail-title")).to_contain_text(event.name)
    await expect(page.locator("#detail-history")).to_contain_text("启动", timeout=20_000)
    state = page.locator("#detail-state")
    # Nothing reported yet: 暂无报送, not an empty chart and table.
    await expect(state.locator("[data-f=none]")).to_be_visible()
    await expect(state.locator("[data-f=chart]")).to_be_hidden()
    # The view's version as a number, without the ETag's quotes.
    await expect(state.locator("p.note", has_text="视图版本")).to_have_text(
        re.compile(r"^视图版本 \d+$")
    )

    # Change its level (If-Match: the view's ETag). 决定单位 asks for a 单位, not the person.
    level = form(page, "调整响应等级")
    decided = level.locator("[name=by]")
    await expect(decided).to_have_value("")
    await expect(decided).to_have_attribute("placeholder", "如：区防指")
    await decided.fill("区防指")
    await level.locator("[name=level]").select_option("II")
    await level.locator("[name=warning]").select_option("orange")
    await level.locator("[name=note]").fill("风雨影响加剧")
    await level.locator("button[type=submit]").click()
    await expect(page.locator("#detail-notice")).to_contain_text(
        "已办理：调整响应等级", timeout=30_000
    )
    await expect(state).to_contain_text("Ⅱ级")
    await expect(state).to_contain_text("橙色预警")
    await expect(page.locator("#detail-history")).to_contain_text("调整响应", timeout=20_000)
    # Who decided it: the person behind the request, with the 单位 typed in the form (代填).
    filled_in = "值班员 王伟（代填：区防指）"
    await expect(page.locator("#detail-history")).to_contain_text(filled_in, timeout=20_000)
    levels = state.locator("table", has=page.locator("th", has_text="备注"))
    await expect(levels).to_contain_text(filled_in, timeout=20_000)

    # A reporter at phone size sends 安亭镇's figures: 已接收, then 迟报, 重复 and 被拒.
    await reporter_page(browser, live, out, reporter, event_id)

    # The report is on the typhoon's board by 街镇 name, and on the duty room's board.
    await expect(state).to_contain_text("安亭镇", timeout=30_000)
    await expect(state.locator("[data-f=total]")).to_have_text("1,234", timeout=30_000)
    await expect(state.locator("[data-f=none]")).to_be_hidden()
    # 仍在安置 (安置 − 返回) and the shelters' peak are named apart.
    facts = await state.inner_text()
    assert "仍在安置" in facts and "避难场所峰值在住" in facts, facts
    assert "，在住" not in facts and "，峰值在住" not in facts, facts
    assert '视图版本 "' not in facts, facts
    await capture(
        page, out / "typhoon.png", event.name, "Ⅱ级", "橙色预警", "进行中", "安亭镇", "调整响应"
    )
    await page.click("#who a:has-text('值班室首页')")
    pick = page.locator("#typhoon-pick")
    if await pick.count():  # several typhoons live: the picker
        await pick.select_option(event_id)
    await expect(page.locator("#typhoon-name")).to_contain_text(event.name, timeout=20_000)
    await expect(page.locator("#total")).to_have_text("1,234", timeout=20_000)
    await expect(page.locator("#towns")).to_contain_text("安亭镇")

    # Issue a 叫应 to 安亭镇's responsible people; answer for one of them: it is counted.
    await page.click("summary:has-text('发布叫应')")
    call = form(page, "发布叫应")
    warning_id = await call.locator("[name=warning_id]").input_value()
    await call.locator("[name=title]").fill("台风橙色预警")
    await call.locator("[name=units]").fill("安亭镇")
    await call.locator("button[type=submit]").click()
    await expect(page.locator("#detail-title")).to_contain_text(warning_id, timeout=30_000)
    chains = page.locator("#chains")
    await expect(chains).to_contain_text("冯卫东", timeout=30_000)
    await expect(chains).to_contain_text("党政主要负责人")
    answered = page.locator("#detail-state .warning-board .answered")
    await expect(answered).to_have_text("0")
    await chains.locator("tr", has_text="冯卫东").locator("button:has-text('登记应答')").click()
    await expect(form(page, "登记应答").locator(".outcome")).to_contain_text(
        "已登记：已应答", timeout=30_000
    )
    await expect(answered).to_have_text("1", timeout=30_000)
    await expect(chains.locator("tr", has_text="冯卫东")).to_contain_text("已应答")
    await expect(page.locator("#detail-history")).to_contain_text("已应答", timeout=20_000)
    await capture(page, out / "warning.png", "台风橙色预警", "叫应率", "安亭镇", "已应答")

    # The duty room's 叫应 board counts it too.
    await page.click("#who a:has-text('值班室首页')")
    pick = page.locator("#warning-pick")
    if await pick.count():
        await pick.select_option(warning_id)
    await expect(page.locator("#warning-board .answered")).to_have_text("1", timeout=20_000)
    await capture(page, out / "duty-room-after.png", "叫应看板", "叫应率", "安亭镇")

    # The plan's own view: its versions, its history and the forms its stage allows.
    await page.goto(f"{live.url}/#/plan/{plan}")
    await expect(page.locator("#detail-state")).to_contain_text("v1 施行中，v2 编制")
    await expect(form(page, "提交征求意见")).to_be_visible()
    await expect(page.locator("#detail-history")).to_contain_text("启动修订", timeout=20_000)
    await capture(page, out / "plan.png", "版本与阶段", "事件记录", "提交征求意见")
    assert not [e for e in errors if "Content Security Policy" in e], errors


async def reporter_page(
    browser: Browser, live: LiveConsole, out: Path, token: str, event_id: str
) -> None:
    context, page, _ = await new_page(browser, phone=True)
    try:
        await page.goto(f"{live.url}/reporter")
        await log_in(page, token)
        await expect(page.locator("#units")).to_contain_text("安亭镇")
        await page.locator("#event").select_option(event_id)
        await expect(page.locator("#unit")).to_contain_text("安亭镇")
        await expect(page.locator("#last")).to_contain_text("本单位尚未报送")
        await capture(page, out / "reporter.png", "转移安置报送", "本单位上次报送", "集中安置")

        now = page.locator("#as-of")
        sent_at = await now.input_value()
        await page.fill("#f-pre_evacuated", "820")
        await page.fill("#f-centralized", "1200")
        await page.fill("#f-dispersed", "34")
        await expect(page.locator("#relocated")).to_have_text("1,234")
        await page.click("#send")
        await expect(page.locator("#verdict")).to_have_text("已接收", timeout=20_000)
        await expect(page.locator("#last")).to_contain_text("1,234")  # the unit's last figures
        await capture(page, out / "reporter-accepted.png", "已接收", "报告编号", "1,234")

        # Older than the unit's latest: kept, marked 迟报.
        earlier = (datetime_of(sent_at) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        await now.fill(earlier)
        await page.click("#send")
        await expect(page.locator("#verdict")).to_have_text("迟报", timeout=20_000)
        await capture(page, out / "reporter-late.png", "迟报", "本次不改变当前数字")

        # The answer is lost on the way back: 重试 sends the same report, which is 重复.
        async def lose_answer(route):  # type: ignore[no-untyped-def]
            await route.fetch()  # it reaches the console …
            await route.abort("connectionreset")  # … but the phone never hears back

        await page.route("**/api/typhoons/reports", lose_answer)
        await page.fill("#f-returned", "10")
        await page.click("#send")
        await expect(page.locator("#verdict")).to_have_text("未送达", timeout=20_000)
        await page.unroute("**/api/typhoons/reports")
        await page.click("#retry")
        await expect(page.locator("#verdict")).to_have_text("重复", timeout=20_000)
        await capture(page, out / "reporter-duplicate.png", "重复", "未重复计入")

        # A cumulative figure below the last one, without a reason: 被拒, saying why.
        await page.fill("#f-centralized", "100")
        await page.fill("#f-dispersed", "34")
        await page.click("#send")
        await expect(page.locator("#verdict")).to_have_text("被拒", timeout=20_000)
        why = "「紧急转移安置」134 小于上次报送的 1234"
        await expect(page.locator("#reason-text")).to_contain_text(why)
        await capture(page, out / "reporter-refused.png", "被拒", "累计数只增不减")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide on a 390px phone"
    finally:
        await context.close()


def datetime_of(local: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.strptime(local, "%Y-%m-%dT%H:%M").replace(tzinfo=CHINA_TZ)


async def test_a_bad_or_revoked_token_goes_back_to_the_login_with_a_message(
    live_console: LiveConsole, engine, tmp_path: Path
) -> None:
    issued = await tokens.issue(engine, f"临时值班员{uuid.uuid4().hex[:6]}", "duty_officer")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for path in ("/", "/reporter"):
                page = await browser.new_page()
                await page.goto(f"{live_console.url}{path}")
                await page.fill("#token-input", "wrong-token-0123456789abcdef0123456789")
                await page.click("#login button[type=submit]")
                await expect(page.locator("#login-error")).to_have_text(
                    "令牌无效或已过期，请重新登录"
                )
                await expect(page.locator("#board")).to_be_hidden()
                await page.fill("#token-input", "short")
                await page.click("#login button[type=submit]")
                await expect(page.locator("#login-error")).to_contain_text("令牌格式不正确")
                name = "login-error.png" if path == "/" else "reporter-login-error.png"
                await capture(page, tmp_path / name, "访问令牌", "令牌格式不正确")
                assert await page.evaluate("sessionStorage.length") == 0
                await page.close()

            # Logged in, then revoked: the next refresh goes back to the login, saying why.
            page = await browser.new_page()
            await page.goto(f"{live_console.url}/")
            await log_in(page, issued.token)
            await expect(page.locator("#live")).not_to_have_text("加载中…", timeout=20_000)
            await tokens.revoke(engine, prefix=issued.sha256[:12])
            await expect(page.locator("#login")).to_be_visible(timeout=40_000)
            await expect(page.locator("#login-error")).to_have_text("令牌已被吊销，请重新登录")
            await expect(page.locator("#board")).to_be_hidden()
            assert await page.evaluate("sessionStorage.length") == 0
            await capture(page, tmp_path / "revoked.png", "令牌已被吊销，请重新登录")
        finally:
            await browser.close()
