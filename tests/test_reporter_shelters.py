"""The reporter's page (at phone size) reports the occupancy of its units' shelters: in headless
Chromium (Debian's), against a live console and worker. An event opens a shelter of 安亭镇 and
one of 南翔镇; 安亭镇's reporter sees only 安亭镇's (with its capacity, and none of another unit's
or a shelter not opened), sends its occupancy (已接收, and the figure shown as its last), sends
one whose answer is lost and 重试 it (重复, counted once), an older one (迟报) and one above the
bound (被拒, saying why in Chinese, naming the field). The API holds each report once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Route, async_playwright, expect
from sqlalchemy import text

from tests.conftest import LiveConsole
from tests.helpers import eventually, jiading_units, new_event
from tests.test_browser import CHROMIUM, FLAGS
from tests.test_duty_room import PHONE, api, capture, datetime_of, log_in, new_page
from yingji.services import shelter as shelters
from yingji.stores import token as tokens

#: What a refusal on the page must never show: the API's raw text.
RAW = ("Input should", "less than or equal", "must be at most", '{"', "occupancy", "loc", "msg")


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_reporter_reports_the_occupancy_of_its_own_shelters(
    live_console: LiveConsole, engine, tmp_path: Path
) -> None:
    await jiading_units(engine)
    tag = f"RP{uuid.uuid4().hex[:8].upper()}"
    ours, other, closed = f"{tag}-A1", f"{tag}-B1", f"{tag}-A2"
    register = (
        "code,name,unit,type,capacity,address\n"
        f"{ours},安亭{tag}文体中心,安亭镇,室内,500,嘉定区安亭镇（示例地址）\n"
        f"{closed},安亭{tag}中学,安亭镇,学校,300,嘉定区安亭镇（示例地址）\n"
        f"{other},南翔{tag}文体中心,南翔镇,室内,800,嘉定区南翔镇（示例地址）\n"
    )
    await shelters.import_csv(engine, register.encode(), district="嘉定区")
    reporter = (await tokens.issue(engine, "安亭镇信息员 周敏", "reporter", ["安亭镇"])).token
    event = await new_event(engine, name=f"测试台风{uuid.uuid4().hex[:4]}")
    event_id = f"{event.year}:{event.number}"
    path = f"/api/typhoons/{event.year}/{event.number}"
    async with httpx.AsyncClient(base_url=live_console.url, timeout=60) as http:
        admin = live_console.admin
        opening = {
            "year": event.year,
            "number": event.number,
            "name": event.name,
            "district": "嘉定区",
            "level": "IV",
            "warning": "blue",
            "opened_by": "值班员 李强",
        }
        await api(http, admin, "/api/typhoons", opening)
        await api(http, admin, f"{path}/shelters/open", {"shelters": [ours, other], "by": "值班员"})

        # The page's data: this event's open shelters of 安亭镇 only (not 南翔镇's, not A2).
        async def mine() -> dict[str, Any]:
            r = await http.get("/api/room/reporter", headers=headers(reporter))
            assert r.status_code == 200, r.text
            (found,) = [e for e in r.json()["events"] if e["event_id"] == event_id]
            return found

        line = await eventually(mine, lambda e: len(e["shelters"]) > 0)
        assert [(s["code"], s["capacity"], s["unit_name"]) for s in line["shelters"]] == [
            (ours, 500, "安亭镇")
        ]
        assert line["shelters"][0]["occupancy"] is None and line["shelters"][0]["as_of"] is None
        assert "last" in line and "units" in line  # the earlier fields are still there

        # Another unit's shelter: the API refuses the reporter (the page never offers it).
        body = {
            "event_id": event_id,
            "shelter": other,
            "occupancy": 10,
            "as_of": "2026-01-01T08:00:00+08:00",
            "report_id": str(uuid.uuid4()),
            "reported_by": "周敏",
        }
        r = await http.post(
            "/api/typhoons/occupancy",
            json=body,
            headers={**headers(reporter), "Idempotency-Key": body["report_id"]},
        )
        assert r.status_code == 403, r.text

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                await shelter_page(browser, live_console, tmp_path, reporter, event_id, tag)
            finally:
                await browser.close()

        # Each report held once: 120, 150 (sent, its answer lost, sent again: 重复) and the late
        # 90; the refused one not at all. The board's latest is 150.
        async with engine.connect() as conn:
            held = (
                await conn.execute(
                    text(
                        "SELECT occupancy, status FROM shelter_report "
                        "WHERE event_id = :e ORDER BY arrival"
                    ),
                    {"e": event_id},
                )
            ).all()
        assert [(r.occupancy, r.status) for r in held] == [
            (120, "accepted"),
            (150, "accepted"),
            (90, "late"),
        ]

        async def board() -> dict[str, Any]:
            r = await http.get(path, headers=headers(admin))
            assert r.status_code == 200, r.text
            return r.json()

        b = await eventually(board, lambda b: b["shelter_reports_applied"] == 3, within=30)
        assert b["shelter_occupancy"] == 150
        r = await http.get(f"{path}/shelters", headers=headers(admin))
        assert r.status_code == 200, r.text
        occupancy = {s["code"]: s["occupancy"] for s in r.json()}
        assert occupancy == {ours: 150, other: 0}


async def shelter_page(
    browser: Browser, live: LiveConsole, out: Path, token: str, event_id: str, tag: str
) -> None:
    ours = f"{tag}-A1"
    context, page, errors = await new_page(browser, phone=True)
    try:
        await page.goto(f"{live.url}/reporter")
        await log_in(page, token)
        await expect(page.locator("#units")).to_contain_text("安亭镇")
        await page.locator("#event").select_option(event_id)
        section = page.locator("#shelters")
        await expect(section).to_be_visible()
        listed = page.locator("#shelter-list")
        await expect(listed).to_contain_text(f"安亭{tag}文体中心")
        await expect(listed).to_contain_text("容量 500 人")
        await expect(listed).to_contain_text("尚未报送在住人数")
        await expect(listed).not_to_contain_text(f"南翔{tag}")  # another unit's
        await expect(listed).not_to_contain_text(f"安亭{tag}中学")  # not opened
        await expect(page.locator("#shelter option")).to_have_count(1)
        await expect(page.locator("#shelter")).to_have_value(ours)
        await expect(page.locator("#report-form")).to_be_visible()  # the unit's report stays
        await capture(page, out / "shelters.png", "避难场所在住人数", "容量 500 人", "转移安置报送")

        # 已接收: the figure is the shelter's last occupancy now.
        now = page.locator("#shelter-as-of")
        sent_at = await now.input_value()
        await page.fill("#occupancy", "120")
        await page.click("#shelter-send")
        verdict = page.locator("#shelter-verdict")
        await expect(verdict).to_have_text("已接收", timeout=20_000)
        last = page.locator(f"[data-occupancy='{ours}']")
        await expect(last).to_have_text("120", timeout=20_000)
        await expect(page.locator("#shelter-reason-text")).to_contain_text("已计入")
        await capture(page, out / "shelter-accepted.png", "已接收", "报告编号", "上次在住")

        # The answer is lost on the way back: 重试 sends the same report, which is 重复.
        async def lose_answer(route: Route) -> None:
            await route.fetch()  # it reaches the console …
            await route.abort("connectionreset")  # … but the phone never hears back

        await page.route("**/api/typhoons/occupancy", lose_answer)
        await page.fill("#occupancy", "150")
        await page.click("#shelter-send")
        await expect(verdict).to_have_text("未送达", timeout=20_000)
        await expect(page.locator("#shelter-retry")).to_be_visible()
        await page.unroute("**/api/typhoons/occupancy")
        await page.click("#shelter-retry")
        await expect(verdict).to_have_text("重复", timeout=20_000)
        await expect(page.locator("#shelter-reason-text")).to_contain_text("未重复计入")
        await expect(last).to_have_text("150", timeout=20_000)
        await expect(page.locator("#shelter-retry")).to_be_hidden()
        await capture(page, out / "shelter-duplicate.png", "重复", "未重复计入")

        # Older than the shelter's latest: kept on record, 迟报, the last figure unchanged.
        earlier = (datetime_of(sent_at) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        await now.fill(earlier)
        await page.fill("#occupancy", "90")
        await page.click("#shelter-send")
        await expect(verdict).to_have_text("迟报", timeout=20_000)
        await expect(page.locator("#shelter-reason-text")).to_contain_text("不改变当前在住人数")
        await expect(last).to_have_text("150")
        await capture(page, out / "shelter-late.png", "迟报", "不改变当前在住人数")

        # Above the bound: 被拒, naming the field in Chinese; the form keeps what was typed.
        await page.fill("#occupancy", "200000000")
        await page.click("#shelter-send")
        await expect(verdict).to_have_text("被拒", timeout=20_000)
        why = page.locator("#shelter-reason-text")
        await expect(why).to_contain_text("「在住人数」")
        await expect(why).to_contain_text("不能大于")
        reason = await why.inner_text()
        assert not [raw for raw in RAW if raw in reason], reason
        await expect(page.locator("#occupancy")).to_have_value("200000000")
        await expect(last).to_have_text("150")
        await capture(page, out / "shelter-refused.png", "被拒", "「在住人数」")

        # The unit's own receipt was never touched by the shelter's.
        await expect(page.locator("#receipt")).to_be_hidden()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide on a 390px phone"
        # the browser logs each refused or cut-off call (a 4xx, the lost answer); nothing else
        assert not [e for e in errors if "Failed to load resource" not in e], errors
    finally:
        await context.close()
