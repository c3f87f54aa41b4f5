"""Finding 5 of [3/7]: each role on each route, over every route of the app.

"One duty-officer token can create, review, 'approve' as 区政府常务会议, issue and file a plan;
``admin`` is accepted but no route needs it; a viewer sees officers' phone numbers; 6,000 村居
reporters would each need an all-powerful token." Every API route declares the least role that
may use it (the table below); a route missing from the table fails the test.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from models.disaster import ReportKind
from models.warning import CallRecord, WarningView
from tests.conftest import console_tokens_for, make_settings
from yingji.console.app import create_app
from yingji.console.deps import ROLES, Caller
from yingji.console.routes.warning import _for

TOKENS = {role: f"{role}-roles-token-0123456789abcdef0123" for role in ROLES}
REPORTER_UNITS = ["南翔镇"]
SETTINGS_TOKENS = console_tokens_for(
    {
        token: (f"{role}-person", role, REPORTER_UNITS if role == "reporter" else [])
        for role, token in TOKENS.items()
    }
)

#: (method, path) → the least role that may use it.
LEAST = {
    ("GET", "/api/workflows"): "viewer",
    ("GET", "/api/overdue"): "viewer",
    ("GET", "/api/me"): "viewer",
    ("GET", "/api/requests/{workflow_id}/{request_id}"): "viewer",
    ("GET", "/api/plans"): "viewer",
    ("GET", "/api/plans/{code}"): "viewer",
    ("POST", "/api/plans"): "duty_officer",
    ("POST", "/api/plans/{code}/submit"): "duty_officer",
    ("POST", "/api/plans/{code}/review"): "approver",
    ("POST", "/api/plans/{code}/approve"): "approver",
    ("POST", "/api/plans/{code}/issue"): "approver",
    ("POST", "/api/plans/{code}/file"): "approver",
    ("POST", "/api/plans/{code}/evaluate"): "approver",
    ("POST", "/api/plans/{code}/withdraw"): "duty_officer",
    ("POST", "/api/plans/{code}/abolish"): "approver",
    ("POST", "/api/drills/{code}/postpone"): "duty_officer",
    ("POST", "/api/drills/{code}/cancel"): "duty_officer",
    ("POST", "/api/disasters/{code}/stable"): "duty_officer",
    ("POST", "/api/plans/{code}/revision-triggers"): "duty_officer",
    ("GET", "/api/drills"): "viewer",
    ("GET", "/api/drills/{code}"): "viewer",
    ("POST", "/api/drills"): "duty_officer",
    ("POST", "/api/drills/{code}/conduct"): "duty_officer",
    ("POST", "/api/drills/{code}/evaluate"): "duty_officer",
    ("POST", "/api/drills/{code}/actions/done"): "duty_officer",
    ("GET", "/api/typhoons/{year}/{number}"): "viewer",
    ("POST", "/api/typhoons"): "duty_officer",
    ("POST", "/api/typhoons/{year}/{number}/level"): "duty_officer",
    ("POST", "/api/typhoons/{year}/{number}/close"): "duty_officer",
    ("POST", "/api/typhoons/reports"): "reporter",
    ("POST", "/api/typhoons/{year}/{number}/instructions"): "duty_officer",
    ("POST", "/api/typhoons/{year}/{number}/feedback"): "reporter",
    ("POST", "/api/typhoons/{year}/{number}/rounds"): "duty_officer",
    ("GET", "/api/typhoons/{year}/{number}/rounds"): "viewer",
    ("POST", "/api/typhoons/{year}/{number}/shelters/open"): "duty_officer",
    ("POST", "/api/typhoons/{year}/{number}/shelters/close"): "duty_officer",
    ("GET", "/api/typhoons/{year}/{number}/shelters"): "viewer",
    ("POST", "/api/typhoons/occupancy"): "reporter",
    ("GET", "/api/shelters"): "viewer",
    ("POST", "/api/shelters"): "admin",
    ("GET", "/api/warnings/{warning_id}"): "viewer",
    ("POST", "/api/warnings"): "duty_officer",
    ("POST", "/api/warnings/{warning_id}/ack"): "duty_officer",
    ("GET", "/api/disasters/{code}"): "viewer",
    ("POST", "/api/disasters"): "duty_officer",
    ("POST", "/api/disasters/{code}/reports"): "reporter",
    ("POST", "/api/disasters/{code}/reviews"): "approver",
    ("GET", "/api/summaries/{year}"): "viewer",
    ("GET", "/api/summaries/{year}/export"): "viewer",
    ("GET", "/api/units"): "viewer",
    ("POST", "/api/units"): "admin",
    ("GET", "/api/responsible"): "viewer",
    ("GET", "/api/responsible/gaps"): "viewer",
    ("POST", "/api/responsible"): "admin",
    # the duty room's and the reporter's pages (yingji/console/routes/room.py)
    ("GET", "/api/room/labels"): "viewer",
    ("GET", "/api/room/live"): "viewer",
    ("GET", "/api/room/typhoons"): "viewer",
    ("GET", "/api/room/history"): "viewer",
    ("GET", "/api/room/warnings/{warning_id}/chains"): "viewer",
    ("GET", "/api/room/reporter"): "reporter",
}
SAMPLE = {
    "code": "ROLE-T1",
    "year": "2024",
    "number": "1",
    "warning_id": "ROLE-W1",
    "workflow_id": "plan:ROLE-T1",
    "request_id": "request-0001",
}


@pytest.fixture
async def api(ts_client: Client, engine, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        console_tokens=SETTINGS_TOKENS, temporal_task_queue=task_queue, request_wait_seconds=2
    )
    app = create_app(settings, client=ts_client, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


def api_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = set()
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            found.update((m.upper(), path) for m in methods)
    return found


async def test_every_route_declares_its_role_and_each_role_gets_what_it_may(
    api: httpx.AsyncClient,
) -> None:
    routes = api_routes(api.app)  # type: ignore[attr-defined]
    # token routes (admin) are checked by tests/test_tokens.py; all others are in the table
    undeclared = {r for r in routes - LEAST.keys() if not r[1].startswith("/api/tokens")}
    assert not undeclared, f"routes without a declared role: {sorted(undeclared)}"
    assert not LEAST.keys() - routes, f"table names routes the app lacks: {LEAST.keys() - routes}"
    for (method, path), least in sorted(LEAST.items()):
        url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        body = {"json": {}} if method == "POST" and path != "/api/units" else {}
        r = await api.request(method, url, **body)
        assert r.status_code == 401, (method, path, "no token", r.status_code)
        for role in ROLES:
            r = await api.request(
                method, url, headers={"Authorization": f"Bearer {TOKENS[role]}"}, **body
            )
            allowed = ROLES.index(role) >= ROLES.index(least)
            if allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code, r.text)
                assert least in r.json()["detail"]


async def test_a_reporter_reports_only_for_its_units(api: httpx.AsyncClient) -> None:
    report = {
        "event_id": "2024:1",
        "report_id": "role-r1",
        "as_of": "2024-09-16T08:00:00+08:00",
        "figures": {"relocated": 1, "centralized": 1},
        "reported_by": "某人",
    }
    headers = {"Authorization": f"Bearer {TOKENS['reporter']}"}
    r = await api.post("/api/typhoons/reports", json={**report, "unit": "马陆镇"}, headers=headers)
    assert r.status_code == 403 and "马陆镇" in r.json()["detail"]
    r = await api.post("/api/typhoons/reports", json={**report, "unit": "南翔镇"}, headers=headers)
    assert r.status_code not in (401, 403), r.text  # refused further on: no such event


async def test_a_districts_reporter_sends_its_disaster_reports(
    ts_env, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    """Newcomer: a reporter could never send a disaster report: the district's reports are not a
    街镇's, and a token could not name the district. A token for the district sends them; a
    街镇's reporter may not send one without its towns."""
    from models.common import CHINA_TZ
    from tests.test_disaster import ZERO, opened, report
    from yingji.services import disaster as disasters

    district_token = "district-reporter-token-0123456789abcdef"
    tokens = console_tokens_for(
        {
            district_token: ("区信息员", "reporter", ["嘉定区"]),
            TOKENS["reporter"]: ("reporter-person", "reporter", REPORTER_UNITS),
        }
    )
    now = (await ts_env.get_current_time()).astimezone(CHINA_TZ)
    await disasters.open_disaster(
        ts_client, make_settings(), opened(code, now), task_queue=task_queue
    )
    body = report(ReportKind.INITIAL, "R-1", now, ZERO).model_dump(mode="json")
    settings = make_settings(console_tokens=tokens, temporal_task_queue=task_queue)
    app = create_app(settings, client=ts_client, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        town = {"Authorization": f"Bearer {TOKENS['reporter']}"}
        r = await http.post(f"/api/disasters/{code}/reports", json=body, headers=town)
        assert r.status_code == 403 and "嘉定镇街道" in r.json()["detail"]
        mine = {"Authorization": f"Bearer {district_token}"}
        r = await http.post(f"/api/disasters/{code}/reports", json=body, headers=mine)
        assert r.status_code == 200, r.text
        assert r.json()["reports"][0]["report_id"] == "R-1"


def test_a_viewer_sees_phone_numbers_masked() -> None:
    call = CallRecord(person="王强", phone="13812345678", unit="南翔镇", backup=None)
    view = WarningView.model_construct(calls=[call])
    masked = _for(Caller("v", "viewer"), view).calls[0].phone
    assert masked != "13812345678" and masked.endswith("5678") and "1234" not in masked
    assert _for(Caller("d", "duty_officer"), view).calls[0].phone == "13812345678"
