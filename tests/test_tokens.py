"""Known callers: tokens kept as SHA-256 (settings and database), refused when short, unknown
or revoked; the token CLI; the start-up warning; security headers; /docs and /metrics behind a
token or off; phone numbers masked for viewers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import console_tokens_for, make_settings
from tests.stack import scratch_database
from yingji.console import app as console_app
from yingji.console.app import SECURITY_HEADERS, create_app
from yingji.console.deps import Caller, mask_phone
from yingji.core.db import make_engine
from yingji.core.settings import Settings
from yingji.core.tokens import hash_token
from yingji.stores import token as tokens
from yingji.stores.typhoon import add_units

VIEWER = "viewer-token-0123456789abcdef0123456789"
ADMIN = "admin-token-0123456789abcdef01234567890"
REPORTER = "reporter-token-0123456789abcdef01234567"
CONFIGURED = console_tokens_for(
    {
        VIEWER: ("值班观察员", "viewer"),
        ADMIN: ("系统管理员", "admin"),
        REPORTER: ("南翔镇信息员", "reporter", ["南翔镇", "JD-03"]),
    }
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def console(engine: AsyncEngine, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    # Nothing here reaches a workflow: any object stands in for the Temporal client.
    app = create_app(
        make_settings(console_tokens=CONFIGURED, **settings),
        client=object(),  # type: ignore[arg-type]
        engine=engine,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


async def a_unit(engine: AsyncEngine, code: str) -> str:
    """A registered 街镇 of its own; returns its name."""
    name = f"令牌镇{code}"
    unit = {"code": code, "name": name, "level": "town", "parent_code": None, "district": "令牌区"}
    await add_units(engine, [unit])
    return name


# -- settings ---------------------------------------------------------------------------------


def test_settings_hold_hashes_never_tokens() -> None:
    digest = hash_token(VIEWER)
    settings = make_settings(console_tokens={digest.upper(): {"person": "甲", "role": "viewer"}})
    assert list(settings.console_tokens) == [digest]  # lowercased
    assert settings.console_tokens[digest].person == "甲"

    # The old format (token → role): refused, and the token is not repeated in the message.
    with pytest.raises(ValidationError) as refused:
        make_settings(console_tokens={VIEWER: "viewer"})
    messages = " ".join(e["msg"] for e in refused.value.errors())
    assert "SHA-256" in messages and VIEWER not in messages

    bad = [
        {"person": "乙", "role": "boss"},
        {"person": "乙", "role": "reporter"},  # a reporter needs units
        {"person": "乙", "role": "viewer", "units": ["南翔镇"]},  # only a reporter has units
        {"person": "", "role": "viewer"},
        {"person": "乙" * 101, "role": "viewer"},
        {"person": "乙", "role": "reporter", "units": [f"U{i}" for i in range(201)]},
    ]
    for holder in bad:
        with pytest.raises(ValidationError):
            make_settings(console_tokens={digest: holder})


def test_settings_from_the_environment_and_the_page_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YINGJI_CONSOLE_TOKENS", json.dumps(CONFIGURED))
    monkeypatch.setenv("YINGJI_CONSOLE_DOCS", "off")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.console_tokens[hash_token(REPORTER)].units == ("南翔镇", "JD-03")
    assert settings.console_docs == "off" and settings.console_metrics == "token"
    assert VIEWER not in repr(settings) and hash_token(VIEWER) not in repr(settings)
    monkeypatch.setenv("YINGJI_CONSOLE_TOKEN_CACHE_SECONDS", "31")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


# -- lookup -------------------------------------------------------------------------------------


async def test_a_configured_token_names_its_person_role_and_units(engine: AsyncEngine) -> None:
    async with console(engine) as http:
        r = await http.get("/api/me", headers=bearer(REPORTER))
        assert r.status_code == 200
        assert r.json() == {
            "person": "南翔镇信息员",
            "role": "reporter",
            "units": ["JD-03", "南翔镇"],
            "sees_phones": False,
        }
        r = await http.get("/api/me", headers=bearer(ADMIN))
        assert r.json()["role"] == "admin" and r.json()["sees_phones"] is True


async def test_short_unknown_and_missing_tokens_are_401(engine: AsyncEngine) -> None:
    async with console(engine) as http:
        r = await http.get("/api/me", headers=bearer("x" * 31))
        assert r.status_code == 401 and "at least 32 characters" in r.json()["detail"]
        assert r.headers["WWW-Authenticate"] == "Bearer"
        # a configured token cut short is refused before any lookup
        assert (await http.get("/api/me", headers=bearer(VIEWER[:31]))).status_code == 401
        r = await http.get("/api/me", headers=bearer("u" * 43))
        assert r.status_code == 401 and r.json()["detail"] == "unknown token"
        # the hash of a token is not a token
        assert (await http.get("/api/me", headers=bearer(hash_token(VIEWER)))).status_code == 401
        assert (await http.get("/api/me")).status_code == 401


async def test_a_database_token_is_stored_hashed_and_a_revoke_takes_effect(
    engine: AsyncEngine, code: str
) -> None:
    unit = await a_unit(engine, f"{code}-U")
    issued = await tokens.issue(engine, f"信息员{code}", "reporter", [unit])
    assert len(issued.token) >= 43 and issued.sha256 == hash_token(issued.token)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM console_token WHERE person = :p"), {"p": f"信息员{code}"}
            )
        ).one()
    assert row.sha256 == issued.sha256 and issued.token not in str(tuple(row))
    # kept as the unit's code (given by name)
    assert row.units == [f"{code}-U"] and row.role == "reporter" and row.revoked_at is None

    async with console(engine, console_token_cache_seconds=0) as http:
        r = await http.get("/api/me", headers=bearer(issued.token))
        assert r.status_code == 200
        assert r.json() == {
            "person": f"信息员{code}",
            "role": "reporter",
            "units": [f"{code}-U"],
            "sees_phones": False,
        }
        revoked = await tokens.revoke(engine, prefix=issued.sha256[:12])
        assert [t.sha256 for t in revoked] == [issued.sha256]
        r = await http.get("/api/me", headers=bearer(issued.token))
        assert r.status_code == 401 and r.json()["detail"] == "token revoked"


async def test_a_cached_token_is_refused_within_the_cache_time_after_a_revoke(
    engine: AsyncEngine, code: str
) -> None:
    issued = await tokens.issue(engine, f"观察员{code}", "viewer")
    async with console(engine, console_token_cache_seconds=0.5) as http:
        assert (await http.get("/api/me", headers=bearer(issued.token))).status_code == 200
        await tokens.revoke(engine, person=f"观察员{code}")
        # trusted from the cache a little longer, never more than the setting (≤ 30 s)
        assert (await http.get("/api/me", headers=bearer(issued.token))).status_code == 200
        await asyncio.sleep(0.6)
        assert (await http.get("/api/me", headers=bearer(issued.token))).status_code == 401


async def test_issuing_refuses_bad_holders_and_unregistered_units(
    engine: AsyncEngine, code: str
) -> None:
    with pytest.raises(tokens.TokenError, match="reporter needs the units"):
        await tokens.issue(engine, "甲", "reporter")
    with pytest.raises(tokens.TokenError, match="role"):
        await tokens.issue(engine, "甲", "boss")
    with pytest.raises(tokens.TokenError, match=f"'无此镇{code}' is not a registered"):
        await tokens.issue(engine, "甲", "reporter", [f"无此镇{code}"])
    with pytest.raises(tokens.TokenError, match="holds no active token"):
        await tokens.revoke(engine, person=f"无此人{code}")
    with pytest.raises(tokens.TokenError, match="at least 8 hex"):
        await tokens.revoke(engine, prefix="abc")
    assert f"无此人{code}" not in {t.holder.person for t in await tokens.list_tokens(engine)}


async def test_an_admin_lists_stored_tokens_without_any_secret(
    engine: AsyncEngine, code: str
) -> None:
    issued = await tokens.issue(engine, f"审批人{code}", "approver")
    async with console(engine) as http:
        assert (await http.get("/api/tokens", headers=bearer(VIEWER))).status_code == 403
        r = await http.get("/api/tokens", headers=bearer(ADMIN))
    assert r.status_code == 200 and issued.token not in r.text and issued.sha256 not in r.text
    mine = [t for t in r.json() if t["person"] == f"审批人{code}"]
    assert mine == [
        {
            "prefix": issued.sha256[:8],
            "person": f"审批人{code}",
            "role": "approver",
            "units": [],
            "created_at": mine[0]["created_at"],
            "revoked_at": None,
        }
    ]


# -- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def yingji(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    """``yingji …`` in this process, against the test database."""
    from typer.testing import CliRunner

    from yingji.cli import app
    from yingji.core.settings import get_settings

    monkeypatch.setenv("YINGJI_DATABASE_URL", database_url)
    monkeypatch.setenv("YINGJI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


TOKEN_LINE = re.compile(r"^[A-Za-z0-9_-]{43}$", re.MULTILINE)


async def test_cli_adds_a_token_shown_once_lists_without_it_and_revokes(
    yingji: Any, engine: AsyncEngine, code: str
) -> None:
    unit = await a_unit(engine, f"{code}-C")
    person = f"张三{code}"
    r = await asyncio.to_thread(
        yingji, "token", "add", "--person", person, "--role", "reporter", "--unit", unit
    )
    assert r.exit_code == 0, r.output
    shown = TOKEN_LINE.findall(r.output)
    assert len(shown) == 1 and "shown only once" in r.output
    token = shown[0]
    assert r.output.count(token) == 1
    assert f"{person} (reporter for {code}-C)" in r.output  # the unit, by its code

    stored = [t for t in await tokens.list_tokens(engine) if t.holder.person == person]
    assert [t.sha256 for t in stored] == [hash_token(token)]

    listed = await asyncio.to_thread(yingji, "token", "list")
    assert listed.exit_code == 0 and person in listed.output and f"{code}-C" in listed.output
    assert token not in listed.output and hash_token(token) not in listed.output
    assert hash_token(token)[:8] in listed.output
    as_json = await asyncio.to_thread(yingji, "token", "list", "--json")
    mine = [t for t in json.loads(as_json.output) if t["person"] == person]
    assert mine[0]["hash_prefix"] == hash_token(token)[:8] and mine[0]["revoked_at"] is None
    assert token not in as_json.output and hash_token(token) not in as_json.output

    r = await asyncio.to_thread(yingji, "token", "revoke", "--person", person)
    assert r.exit_code == 0 and f"revoked: {hash_token(token)[:8]} {person}" in r.output
    active = await asyncio.to_thread(yingji, "token", "list", "--active")
    assert person not in active.output
    r = await asyncio.to_thread(yingji, "token", "revoke", "--person", person)
    assert r.exit_code == 1 and "holds no active token" in r.output
    assert len(r.output.strip().splitlines()) == 1  # one line, no traceback


async def test_cli_refuses_bad_input_in_one_line_and_prints_a_setting(yingji: Any) -> None:
    r = await asyncio.to_thread(yingji, "token", "add", "--person", "甲", "--role", "reporter")
    assert r.exit_code == 1 and "reporter needs the units" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = await asyncio.to_thread(yingji, "token", "add", "--person", "甲", "--role", "boss")
    assert r.exit_code == 1 and "role" in r.output
    r = await asyncio.to_thread(yingji, "token", "revoke")
    assert r.exit_code == 2

    r = await asyncio.to_thread(
        yingji, "token", "add", "--person", "管理员", "--role", "admin", "--print-setting"
    )
    assert r.exit_code == 0 and "shown only once" in r.output
    (token,) = TOKEN_LINE.findall(r.output)
    entry = json.loads(r.output.strip().splitlines()[-1])
    assert entry == {hash_token(token): {"person": "管理员", "role": "admin"}}
    assert make_settings(console_tokens=entry).console_tokens[hash_token(token)].role == "admin"


# -- start-up -----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, event: str, **_: object) -> None:
        self.warnings.append(event)

    def info(self, *_: object, **__: object) -> None:
        pass


async def test_start_up_warns_when_no_token_is_configured(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(console_app, "log", recorder)

    async def start(settings: Settings, engine: AsyncEngine) -> list[str]:
        recorder.warnings.clear()
        app = create_app(settings, client=object(), engine=engine)  # type: ignore[arg-type]
        async with app.router.lifespan_context(app):
            pass
        return recorder.warnings

    async with scratch_database(database_url, "head") as url:
        engine = make_engine(url)
        try:
            warned = await start(make_settings(), engine)
            assert len(warned) == 1 and "no token is configured" in warned[0]
            assert await start(make_settings(console_tokens=CONFIGURED), engine) == []
            await tokens.issue(engine, "管理员", "admin")
            assert await start(make_settings(), engine) == []
        finally:
            await engine.dispose()


# -- headers, /docs, /metrics -------------------------------------------------------------------


async def test_security_headers_on_every_response(engine: AsyncEngine) -> None:
    async with console(engine) as http:
        answers = {
            "/": await http.get("/"),
            "/static/console.js": await http.get("/static/console.js"),
            "/api/me": await http.get("/api/me", headers=bearer(VIEWER)),
            "/api/me 401": await http.get("/api/me"),
            "/api/plans 413": await http.post(
                "/api/plans", content=b"x", headers={"Content-Length": str(10**9)}
            ),
            "/docs": await http.get("/docs"),
            "/docs/static/swagger-ui-bundle.js": await http.get(
                "/docs/static/swagger-ui-bundle.js"
            ),
            "/openapi.json": await http.get("/openapi.json", headers=bearer(VIEWER)),
            "/metrics": await http.get("/metrics", headers=bearer(VIEWER)),
            "/nowhere": await http.get("/nowhere"),
        }
    for where, r in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (where, name)
        assert r.headers["Referrer-Policy"] == "no-referrer"
        api = where.startswith(("/api", "/openapi.json", "/metrics"))
        assert (r.headers.get("Cache-Control") == "no-store") == api, where
    assert answers["/api/plans 413"].status_code == 413
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "http" not in csp


async def test_docs_schema_and_metrics_need_a_viewer_token(engine: AsyncEngine) -> None:
    async with console(engine) as http:
        for path in ("/openapi.json", "/metrics"):
            assert (await http.get(path)).status_code == 401, path
            assert (await http.get(path, headers=bearer("y" * 40))).status_code == 401, path
            assert (await http.get(path, headers=bearer(VIEWER))).status_code == 200, path
        schema = (await http.get("/openapi.json", headers=bearer(VIEWER))).json()
        assert "/api/me" in schema["paths"] and "/docs" not in schema["paths"]
        assert (await http.get("/redoc")).status_code == 404

        # The Swagger page itself holds no data; its files come from the installed package.
        page = await http.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert not re.search(r"https?://", page.text), "no CDN, no absolute URL"
        assert '<script src="/docs/static/swagger-ui-bundle.js">' in page.text
        assert "<script>" not in page.text and "style=" not in page.text  # nothing inline (CSP)
        for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
            r = await http.get(f"/docs/static/{name}")
            assert r.status_code == 200 and len(r.content) > 10_000, name
        assert (await http.get("/static/docs.js")).status_code == 200
        # only the files the page uses: not the package's example page (a petstore URL)
        assert (await http.get("/docs/static/swagger-initializer.js")).status_code == 404
        assert (await http.get("/docs/static/index.html")).status_code == 404


async def test_docs_and_metrics_can_be_turned_off(engine: AsyncEngine) -> None:
    async with console(engine, console_docs="off", console_metrics="off") as http:
        for path in ("/docs", "/openapi.json", "/docs/static/swagger-ui-bundle.js", "/metrics"):
            assert (await http.get(path)).status_code == 404, path
            assert (await http.get(path, headers=bearer(ADMIN))).status_code == 404, path
        assert (await http.get("/api/me", headers=bearer(VIEWER))).status_code == 200
    async with console(engine, console_docs="off") as http:
        assert (await http.get("/metrics", headers=bearer(VIEWER))).status_code == 200


async def test_the_page_has_a_login_form_and_takes_no_token_from_its_url(
    engine: AsyncEngine,
) -> None:
    async with console(engine) as http:
        page = (await http.get("/")).text
        script = (await http.get("/static/console.js")).text
    assert 'type="password"' in page and "<script>" not in page
    # the field has no name: without script a submitted form sends nothing
    assert 'id="token-input"' in page and "name=" not in page.split('id="login"')[1][:400]
    assert "sessionStorage" in script and "localStorage.setItem" not in script
    assert "token=" not in script and "令牌无效或已过期，请重新登录" in script


# -- phones -------------------------------------------------------------------------------------


def test_phone_numbers_are_masked_below_a_duty_officer() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(" 13812345678 ") == "138****5678"
    assert mask_phone("021-59991234") == "021*****1234"
    assert mask_phone("110") == "***" and mask_phone("") == ""
    seen = {
        role: Caller("某人", role, frozenset({"南翔镇"}) if role == "reporter" else frozenset())
        for role in ("viewer", "reporter", "duty_officer", "approver", "admin")
    }
    assert {r for r, c in seen.items() if c.sees_phones} == {"duty_officer", "approver", "admin"}
    assert seen["viewer"].phone("13812345678") == "138****5678"
    assert seen["reporter"].phone("13812345678") == "138****5678"
    assert seen["duty_officer"].phone("13812345678") == "13812345678"
    assert seen["viewer"].phone(None) is None


async def test_a_reporters_units_are_kept_as_codes_and_a_district_may_be_named(
    engine: AsyncEngine, code: str
) -> None:
    """Attacker: units were kept as the name given, so a unit of another district that later
    took the same name widened the token. They are kept as codes now; a district's own name
    (its reporter sends the district's disaster reports) is kept as it is."""
    from yingji.services import unit as units

    district = f"令牌区{code}"
    await units.import_csv(
        engine,
        f"code,name,level,parent_code,district\n{code}-T,同名镇{code},town,,{district}\n".encode(),
    )
    issued = await tokens.issue(engine, f"报送员{code}", "reporter", [f"同名镇{code}", district])
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT units FROM console_token WHERE sha256 = :h"), {"h": issued.sha256}
            )
        ).scalar()
    assert stored == [f"{code}-T", district]
