"""The console's API contract: one error shape (application/problem+json, RFC 9457) for every
failure, a schema that states exactly what the validators enforce, and links between the
operations of a workflow's life. Schemathesis checks the whole of it against a live stack
(``tests/test_api_schema.py``); these tests pin each rule on its own."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.common import _CONTROL, CODE_PATTERN, FILLED_TEXT_PATTERN, TEXT_PATTERN
from tests.conftest import make_settings
from tests.test_console import TOKENS, A, D, V, auth
from yingji.console.app import create_app
from yingji.console.problems import MEDIA_TYPE
from yingji.services import plan as plans

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


@pytest.fixture
async def http(ts_client: Client, engine, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(console_tokens=TOKENS, temporal_task_queue=task_queue)
    app = create_app(settings, client=ts_client, engine=engine)
    # a fault of the app is answered, not raised into the test
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The answer's problem, after checking it is one, with this status."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(MEDIA_TYPE), r.headers
    body = r.json()
    assert PROBLEM_FIELDS <= body.keys(), body
    assert body["status"] == status and body["type"].startswith("urn:yingji:problem:")
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def post(http: httpx.AsyncClient, path: str, token: str = D, **kwargs: Any) -> Any:
    headers = {**auth(token), "Idempotency-Key": uuid.uuid4().hex}
    return http.post(path, headers=headers, **kwargs)


async def test_every_kind_of_failure_is_a_problem(http: httpx.AsyncClient, monkeypatch) -> None:
    # 401 with its challenge; 403
    r = await http.get("/api/plans")
    assert problem(r, 401) and r.headers["www-authenticate"] == "Bearer"
    r = await post(http, "/api/units", token=V, content=b"code,name\n")
    assert "needs admin" in problem(r, 403)["detail"]
    # 400: a body that is not JSON
    r = await http.post(
        "/api/plans",
        content=b"{not json",
        headers={**auth(D), "Content-Type": "application/json"},
    )
    assert "not valid JSON" in problem(r, 400)["detail"]
    # 422: each field with its path and its reason in plain words
    r = await post(http, "/api/plans", json={"code": "a b", "name": "", "kind": "nope"})
    body = problem(r, 422)
    paths = {e["path"]: e["reason"] for e in body["errors"]}
    assert paths["body.code"] == "may not contain blanks, control characters, ':' or '/'"
    assert paths["body.drafter"] == "is required"
    assert "body.kind" in paths and "body.name" in paths
    # 404: a path naming nothing; an unknown open typhoon named in the body
    r = await http.get("/api/plans/NOPE-404", headers=auth(V))
    problem(r, 404)
    report = {
        "event_id": "2001:1",
        "unit": "马陆镇",
        "report_id": "r-0001",
        "reported_by": "李娜",
        "as_of": "2024-09-16T08:00:00+08:00",
        "figures": {"centralized": 1, "dispersed": 0},
    }
    r = await post(http, "/api/typhoons/reports", json=report)
    assert problem(r, 404)["detail"].startswith("event_id: no typhoon 2001:1")
    # 405 names every method of the path
    r = await http.delete("/api/units", headers=auth(A))
    assert problem(r, 405) and r.headers["allow"] == "GET, POST"
    # 409: fields that fit one by one and break a rule together name the fields
    r = await post(
        http,
        "/api/typhoons",
        json={"year": 2031, "name": "X", "district": "嘉定区", "opened_by": "张"},
    )
    assert problem(r, 409)["detail"].startswith("number: a typhoon needs its national number")
    # 413 before anything reads the body
    r = await post(http, "/api/plans", content=b"x" * 1_100_000)
    problem(r, 413)

    # 500: a fault of ours is a problem too, with its kind and nothing else
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(plans, "list_plans", broken)
    r = await http.get("/api/plans", headers=auth(V))
    body = problem(r, 500)
    assert "RuntimeError" in body["detail"] and "secret" not in body["detail"]
    assert r.headers["connection"] == "close"  # the server drops the connection after a fault


async def test_hostile_text_is_refused_not_a_server_error(http: httpx.AsyncClient) -> None:
    """Round one: a lone surrogate in a warning's district made the error handler fail to
    encode its own answer (500)."""
    body = (
        b'{"warning_id": "W-1", "title": "\\ud800\\u0000", "district": "\\udfff",'
        b' "issued_by": "\\u0017x"}'
    )
    r = await http.post(
        "/api/warnings", content=body, headers={**auth(D), "Content-Type": "application/json"}
    )
    found = problem(r, 422)
    assert {e["path"] for e in found["errors"]} >= {"body.title", "body.issued_by"}
    r.content.decode("utf-8")  # the answer itself is valid UTF-8


async def test_the_schema_states_what_the_validators_enforce(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json", headers=auth(V))).json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components

    # every error status of every operation answers a problem
    for path, item in schema["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            always = {"400", "401", "403", "404", "408", "409", "413", "422", "429", "500", "503"}
            assert always <= codes, path
            if method == "post":
                assert {"202", "412"} <= codes, path
            for code, answer in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert list(answer["content"]) == [MEDIA_TYPE], (path, code)

    # every text a request carries states the characters the models refuse (each pattern
    # refuses each of them)
    patterns: set[str] = set()
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                walk(components[ref.rsplit("/", 1)[-1]])
            if node.get("type") == "string" and "format" not in node and "enum" not in node:
                assert "pattern" in node or "const" in node, node
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for key, value in node.items():
                if key not in ("examples", "default", "example"):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for item in schema["paths"].values():
        for op in item.values():
            for parameter in op.get("parameters", []):
                walk(parameter["schema"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                walk(body["schema"])
    assert {TEXT_PATTERN, FILLED_TEXT_PATTERN, CODE_PATTERN} <= patterns
    for pattern in patterns:
        for ch in sorted(_CONTROL):
            assert not re.search(pattern, f"A{ch}1"), (pattern, hex(ord(ch)))

    # a plausible time is stated as its years
    trigger = components["RevisionTrigger"]["properties"]["at"]
    branch = next(b for b in trigger["anyOf"] if b.get("format") == "date-time")
    assert re.search(branch["pattern"], "1949-10-01T10:00:00+08:00")
    assert not re.search(branch["pattern"], "1948-12-31T10:00:00+08:00")
    assert not re.search(branch["pattern"], "2101-01-01T00:00:00+08:00")


async def test_a_schema_valid_request_is_refused_only_for_a_domain_reason(
    http: httpx.AsyncClient,
) -> None:
    """What the schema allows is never a 422: a number as text, true for a number and a
    control character are refused because the schema refuses them too; a rule between fields
    is a 409."""
    base = {"by": "张敏", "stable_on": "2024-09-16"}
    r = await post(http, "/api/disasters/NOPE/stable", json={**base, "expect_seq": "3"})
    assert problem(r, 422)["errors"][0]["path"] == "body.expect_seq"
    r = await post(http, "/api/disasters/NOPE/stable", json={**base, "expect_seq": True})
    assert problem(r, 422)["errors"][0]["path"] == "body.expect_seq"
    r = await post(http, "/api/disasters/NOPE/stable", json=base)
    problem(r, 404)  # fits: only the process is unknown
    # a weak ETag is judged after the body: a body that does not fit is a 422 first
    r = await http.post(
        "/api/plans/NOPE/submit",
        json={"by": 3},
        headers={**auth(D), "If-Match": 'W/"3"'},
    )
    problem(r, 422)


async def test_links_walk_a_workflows_life(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json", headers=auth(V))).json()
    paths = schema["paths"]
    ids = {
        (method, path): op["operationId"]
        for path, item in paths.items()
        for method, op in item.items()
    }
    created = paths["/api/plans"]["post"]["responses"]["201"]["links"]
    submit = created[ids[("post", "/api/plans/{code}/submit")]]
    assert submit["parameters"] == {"path.code": "$response.body#/code"}
    # an action's answer leads to the next actions
    reviewed = paths["/api/plans/{code}/review"]["post"]["responses"]["200"]["links"]
    assert ids[("post", "/api/plans/{code}/approve")] in reviewed
    opened = paths["/api/typhoons"]["post"]["responses"]["201"]["links"]
    assert opened[ids[("post", "/api/typhoons/reports")]]["requestBody"] == {
        "event_id": "$response.body#/event_id"
    }
    level = opened[ids[("post", "/api/typhoons/{year}/{number}/level")]]
    assert level["parameters"] == {
        "path.year": "$response.body#/year",
        "path.number": "$response.body#/number",
    }
    issued = paths["/api/warnings"]["post"]["responses"]["201"]["links"]
    ack = issued[ids[("post", "/api/warnings/{warning_id}/ack")]]
    assert ack["parameters"] == {"path.warning_id": "$response.body#/warning_id"}


async def test_what_the_attacker_found_fits_the_contract(http: httpx.AsyncClient) -> None:
    """Schema-valid requests that broke a workflow or answered 500 or 422, from the attack on
    the contract."""
    # a date far out (9999, 0001) overflowed a drill's date arithmetic for good: refused, as
    # the schema says (years 1949-2100 on every date and time a client sends)
    drill = {
        "code": f"ATK-{uuid.uuid4().hex[:8]}",
        "name": "测试演练",
        "drill_type": "tabletop",
        "scenario": "x",
        "organiser": "嘉定区应急管理局",
        "site": "x",
        "scheduled_on": "9999-12-31",
    }
    r = await post(http, "/api/drills", json=drill)
    assert problem(r, 422)["errors"][0]["path"] == "body.scheduled_on"
    schema = (await http.get("/openapi.json", headers=auth(V))).json()
    stated = schema["components"]["schemas"]["DrillCreate"]["properties"]["scheduled_on"]
    assert not re.search(stated["pattern"], "9999-12-31") and re.search(
        stated["pattern"], "2024-05-12"
    )
    # a report's time of year 1 reached PostgreSQL (500)
    report = {
        "event_id": "2001:1",
        "unit": "马陆镇",
        "report_id": "r-0002",
        "reported_by": "李娜",
        "as_of": "0001-01-01T00:00:00+14:00",
        "figures": {"centralized": 1},
    }
    r = await post(http, "/api/typhoons/reports", json=report)
    assert problem(r, 422)["errors"][0]["path"] == "body.as_of"
    # a shelter named by a long name went into a 32-character column (500)
    occupancy = {
        "event_id": "2001:1",
        "shelter": "某" * 60,
        "occupancy": 1,
        "report_id": "o-0001",
        "reported_by": "李娜",
        "as_of": "2024-09-16T08:00:00+08:00",
    }
    problem(await post(http, "/api/typhoons/occupancy", json=occupancy), 404)
    # 集中 + 分散 over the bound of 转移安置 is a rule between fields: 409, not 422
    figures = {"centralized": 100_000_000, "dispersed": 100_000_000}
    r = await post(
        http,
        "/api/typhoons/reports",
        json={**report, "as_of": "2024-09-16T08:00:00+08:00", "figures": figures},
    )
    assert "centralized, dispersed: 集中 + 分散 = 200,000,000" in problem(r, 409)["detail"]
    # a typhoon of a year the start allows is reachable by its paths (they allowed 2000-)
    problem(await http.get("/api/typhoons/1990/5", headers=auth(V)), 404)
    # a digit is an ASCII digit, as the schema's regex reads it (٢١ was read as 21)
    problem(await http.get("/api/typhoons/2026/%D9%A2%D9%A1", headers=auth(V)), 422)
    # the shelter register's import is bounded by its own limit, not the 1 MB of a JSON body
    big = "code,name,unit,type,capacity,address\n" + "x" * 1_200_000
    r = await post(http, "/api/shelters", token=A, content=big.encode())
    assert r.status_code != 413, r.text
    problem(r, 409)


async def test_a_body_that_stops_arriving_is_refused_with_408(
    ts_client: Client, engine, task_queue: str
) -> None:
    """A client that announced a body and stopped sending held the connection for ever (the
    attacker opened 19,950 such and slowed every other request to 13 s)."""
    settings = make_settings(
        console_tokens=TOKENS, temporal_task_queue=task_queue, console_body_read_seconds=0.5
    )
    app = create_app(settings, client=ts_client, engine=engine)
    sent: list[dict[str, Any]] = []
    parts = [{"type": "http.request", "body": b'{"by":', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.sleep(3600)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/plans/X/submit",
        "raw_path": b"/api/plans/X/submit",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("console", 80),
        "client": ("127.0.0.1", 1234),
        "http_version": "1.1",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"authorization", f"Bearer {D}".encode()),
        ],
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["type"] == "urn:yingji:problem:timeout"


async def test_a_key_stands_for_what_was_sent_whoever_sends_it(http: httpx.AsyncClient) -> None:
    """The same Idempotency-Key and body sent again by another person was refused (409): the
    key's record held the body after the 代填 rewrite, which names the sender."""
    code = f"KEY-{uuid.uuid4().hex[:8]}"
    body = {
        "code": code,
        "name": "嘉定区防汛防台专项应急预案",
        "kind": "special",
        "level": "district",
        "unit": "嘉定区应急管理局",
        "drafter": "张敏",
    }
    key = {"Idempotency-Key": f"create-{code}"}
    first = await http.post("/api/plans", json=body, headers={**auth(D), **key})
    again = await http.post("/api/plans", json=body, headers={**auth(A), **key})
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["code"] == code and again.json()["version"] == first.json()["version"]
    other = await http.post(
        "/api/plans", json={**body, "name": "另一个"}, headers={**auth(A), **key}
    )
    assert "already used for another request" in problem(other, 409)["detail"]


async def test_what_the_newcomer_found_names_the_field(http: httpx.AsyncClient) -> None:
    """Details a newcomer found vague: a character offset as a field, a 404 naming nothing, a
    409 pointing at the whole body, pydantic's words for a body that is not an object."""
    headers = {**auth(D), "Content-Type": "application/json"}
    r = await http.post("/api/plans", content=b'{"code": "X",, }', headers=headers)
    body = problem(r, 400)
    assert body["errors"] == [{"path": "body", "reason": "is not valid JSON (at character 13)"}]
    r = await http.get("/api/plans/NOPE-404", headers=auth(V))
    assert "plan:NOPE-404" in problem(r, 404)["detail"]
    r = await http.delete("/api/units", headers=auth(A))
    assert problem(r, 405)["detail"] == "DELETE is not a method of /api/units; it answers GET, POST"
    report = {
        "event_id": "2001:1",
        "unit": "马陆镇",
        "report_id": "r-0003",
        "reported_by": "李娜",
        "as_of": "2024-09-16T08:00:00+08:00",
        "figures": {"centralized": 5, "sheltered_now": 50},
    }
    r = await post(http, "/api/typhoons/reports", json=report)
    found = problem(r, 409)
    assert found["errors"][0]["path"] == "body.figures.sheltered_now"
    assert found["detail"].startswith("figures.sheltered_now:")
    drill = {
        "code": f"NEW-{uuid.uuid4().hex[:8]}",
        "name": "测试演练",
        "drill_type": "tabletop",
        "scenario": "x",
        "organiser": "嘉定区应急管理局",
        "site": "x",
        "scheduled_on": "2026-05-12",
        "linked_plans": ["NOPE-999"],
    }
    found = problem(await post(http, "/api/drills", json=drill), 404)
    assert found["errors"][0]["path"] == "body.linked_plans" and "yingji" not in found["detail"]
    r = await http.post(
        "/api/plans", content=b"hello", headers={**auth(D), "Content-Type": "text/plain"}
    )
    assert problem(r, 422)["errors"][0]["reason"].startswith("must be a JSON object")
    assert (await http.get("/favicon.ico")).status_code == 204
    schema = (await http.get("/openapi.json", headers=auth(V))).json()
    assert schema["paths"]["/api/plans"]["post"]["tags"] == ["plan"]
