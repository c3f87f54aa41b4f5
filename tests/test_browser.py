"""The duty room's page in headless Chromium (Debian's): a typhoon's total follows reports;
the token is typed into a login form and goes nowhere but sessionStorage and bearer headers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, Request, async_playwright, expect

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
            await page.goto(f"{live_console.url}/?typhoon={event.event_id}")
            await log_in(page, live_console.viewer)
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


async def log_in(page: Page, token: str) -> None:
    await page.fill("#token-input", token)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#board")).to_be_visible()


class Lines(logging.Handler):
    """Every log record, as formatted text (uvicorn's access log included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.args!r}")


async def test_login_keeps_the_token_out_of_urls_referers_storage_and_logs(
    live_console: LiveConsole, capfd: pytest.CaptureFixture[str]
) -> None:
    token = live_console.viewer
    lines = Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    access = logging.getLogger("uvicorn.access")
    old_level = access.level
    access.setLevel(logging.INFO)  # what an operator's access log would hold
    requests: list[Request] = []
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda r: requests.append(r))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto(f"{live_console.url}/")
            await expect(page.locator("#login")).to_be_visible()
            await expect(page.locator("#board")).to_be_hidden()

            # A wrong token: a clear message, nothing kept.
            await page.fill("#token-input", "wrong-token-0123456789abcdef0123456789")
            await page.click("#login button[type=submit]")
            await expect(page.locator("#login-error")).to_have_text("令牌无效或已过期，请重新登录")
            assert await page.evaluate("sessionStorage.length") == 0

            await log_in(page, token)
            await expect(page.locator("#person")).to_contain_text("viewer（查看）")
            await expect(page.locator("#live")).not_to_have_text("加载中…", timeout=20_000)
            assert await page.evaluate("sessionStorage.getItem('yingji-token')") == token
            assert await page.evaluate("localStorage.length") == 0
            assert token not in page.url

            # A reload keeps the session (sessionStorage), still with the token in no URL.
            await page.reload()
            await expect(page.locator("#board")).to_be_visible()

            # Swagger UI, from the installed package, under the same CSP, with the same login.
            await page.goto(f"{live_console.url}/docs")
            await expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
            await expect(page.locator("#swagger-ui")).to_contain_text("/api/me")
            assert token not in page.url

            await page.goto(f"{live_console.url}/")
            await expect(page.locator("#board")).to_be_visible()
            await page.click("#logout")
            await expect(page.locator("#login")).to_be_visible()
            await expect(page.locator("#board")).to_be_hidden()
            assert await page.evaluate("sessionStorage.length") == 0
            await page.reload()
            await expect(page.locator("#login")).to_be_visible()

            # Every request the page made, its headers read before the browser closes.
            assert requests and any(r.url.endswith("/api/me") for r in requests)
            bearer = set()
            for request in requests:
                assert token not in request.url, request.url
                headers = await request.all_headers()
                assert not headers.get("referer"), (request.url, headers["referer"])  # no-referrer
                if headers.get("authorization") == f"Bearer {token}":
                    bearer.add(request.url.split("?")[0].removeprefix(live_console.url))
            assert {"/api/me", "/api/plans", "/openapi.json"} <= bearer, bearer
        finally:
            await browser.close()
            root.removeHandler(lines)
            access.setLevel(old_level)

    assert not [m for m in problems if "Content Security Policy" in m], problems
    out, err = capfd.readouterr()
    logged = "\n".join(lines.lines) + out + err
    assert '"GET /api/me HTTP/1.1" 200' in logged, "the access log was captured"
    assert token not in logged
