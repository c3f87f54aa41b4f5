"""The duty room's page in headless Chromium (Debian's): a typhoon's total follows reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import async_playwright, expect

from models.typhoon import Figures, UnitReport
from tests.conftest import LiveConsole, make_settings
from tests.helpers import new_event
from yingji.services import typhoon as typhoons

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_dashboard_shows_a_running_typhoons_total_change(
    live_console: LiveConsole, dev_env, engine, tmp_path: Path
) -> None:
    event = await new_event(engine)
    settings = make_settings(typhoon_apply_min_seconds=0.2)
    await typhoons.open_typhoon(
        dev_env.client, engine, settings, event, task_queue=live_console.task_queue
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(
                f"{live_console.url}/?token={live_console.viewer}&typhoon={event.event_id}"
            )
            await expect(page.locator("h1")).to_contain_text("应急值班室")
            await expect(page.locator("#typhoon-name")).to_contain_text("「贝碧嘉」")
            await expect(page.locator("#total")).to_have_text("0")

            await typhoons.submit_report(
                engine,
                UnitReport(
                    event_id=event.event_id,
                    report_id="browser-1",
                    unit="安亭镇",
                    as_of=datetime(2024, 9, 16, 6, tzinfo=UTC),
                    reported_by="信息员",
                    figures=Figures(relocated=1234, centralized=1200, dispersed=34),
                ),
            )
            # The page refreshes by itself: the district total changes without a reload.
            await expect(page.locator("#total")).to_have_text("1,234", timeout=20_000)
            await expect(page.locator("#towns")).to_contain_text("安亭镇")  # by name, not JD-05
            await expect(page.locator("#chart rect")).to_have_count(1)
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            await browser.close()
