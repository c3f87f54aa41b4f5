"""The console's HTTP API: reading, starting and feeding workflows, roles, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client

from models.plan import PlanCreate
from tests.conftest import console_tokens_for, make_settings
from tests.helpers import applied_reports, eventually, free_port, new_event
from yingji.console.app import create_app
from yingji.services import typhoon as typhoons

#: Plain tokens (at least 32 characters) of a viewer, a duty officer and an admin.
V, D, A = (f"{role}-token-0123456789abcdef0123456789" for role in "vda")
TOKENS = console_tokens_for({V: "viewer", D: "duty_officer", A: "admin"})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def console_for(client: Client, engine, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        console_tokens=TOKENS, temporal_task_queue=task_queue, typhoon_apply_min_seconds=0.1
    )
    app = create_app(settings, client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


@pytest.fixture
async def api(ts_client: Client, engine, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    async with console_for(ts_client, engine, task_queue) as http:
        yield http


PLAN = {
    "code": "",
    "name": "嘉定区地震应急预案",
    "kind": "special",
    "level": "district",
    "unit": "嘉定区应急管理局",
    "drafter": "张敏",
}


async def test_duty_officer_drives_a_plan_and_a_viewer_watches(
    api: httpx.AsyncClient, code: str
) -> None:
    r = await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
    assert r.status_code == 201 and r.json()["stage"] == "drafting"
    r = await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
    assert r.json()["stage"] == "consultation"
    r = await api.post(f"/api/plans/{code}/approve", json={"approver": "x"}, headers=auth(A))
    assert r.status_code == 409 and "Allowed actions: review, withdraw" in r.json()["detail"]

    r = await api.get(f"/api/plans/{code}", headers=auth(V))
    assert r.status_code == 200 and r.json()["stage_label"] == "征求意见"
    r = await api.get("/api/plans", headers=auth(V))
    assert code in {p["code"] for p in r.json()}

    # A viewer may not start or feed a workflow; nobody may without a token.
    r = await api.post("/api/plans", json={**PLAN, "code": f"{code}-2"}, headers=auth(V))
    assert r.status_code == 403 and "needs duty_officer" in r.json()["detail"]
    r = await api.post(f"/api/plans/{code}/submit", json={"by": "x"}, headers=auth(V))
    assert r.status_code == 403
    assert (await api.get(f"/api/plans/{code}")).status_code == 401
    assert (await api.get(f"/api/plans/{code}", headers=auth("forged"))).status_code == 401

    # Bad input names the field; an unknown plan is a 404; a reused code a 409.
    r = await api.post(
        "/api/plans", json={**PLAN, "code": f"{code}-3", "kind": "weird"}, headers=auth(D)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.kind"
    assert (await api.get("/api/plans/NOPE", headers=auth(V))).status_code == 404
    r = await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
    assert r.status_code == 409


async def test_typhoon_opened_levelled_and_closed_through_the_api(
    api: httpx.AsyncClient, engine
) -> None:
    event = await new_event(engine)
    body = event.model_dump(mode="json")
    r = await api.post("/api/typhoons", json=body, headers=auth(V))
    assert r.status_code == 403
    r = await api.post("/api/typhoons", json=body, headers=auth(D))
    assert r.status_code == 201 and r.json()["status"] == "open"
    year, number = event.event_id.split(":")
    r = await api.post(
        f"/api/typhoons/{year}/{number}/close", json={"by": "区防指"}, headers=auth(D)
    )
    assert r.status_code == 409 and "the response is still Ⅳ级" in r.json()["detail"]
    r = await api.post(
        f"/api/typhoons/{year}/{number}/level",
        json={"level": "none", "warning": "lifted", "by": "区防指"},
        headers=auth(D),
    )
    assert r.status_code == 200
    r = await api.post(
        f"/api/typhoons/{year}/{number}/close", json={"by": "区防指"}, headers=auth(D)
    )
    assert r.json()["status"] == "closed"


async def test_typhoon_board_follows_reports(
    api: httpx.AsyncClient, ts_client: Client, engine, task_queue: str
) -> None:
    event = await new_event(engine)
    await typhoons.open_typhoon(
        ts_client,
        engine,
        make_settings(typhoon_apply_min_seconds=0.1),
        event,
        task_queue=task_queue,
    )
    report = {
        "event_id": event.event_id,
        "report_id": "api-1",
        "unit": "江桥镇",
        "as_of": datetime(2024, 9, 16, 6, tzinfo=UTC).isoformat(),
        "reported_by": "信息员",
        "figures": {"relocated": 120, "centralized": 100, "dispersed": 20},
    }
    r = await api.post("/api/typhoons/reports", json=report, headers=auth(D))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    bad = {**report, "report_id": "api-2", "figures": {"relocated": 5, "centralized": 1}}
    r = await api.post("/api/typhoons/reports", json=bad, headers=auth(D))
    assert r.status_code == 409 and "relocated" in str(r.json()["detail"])
    await applied_reports(ts_client, event.event_id, 1)
    year, number = event.event_id.split(":")
    r = await api.get(f"/api/typhoons/{year}/{number}", headers=auth(V))
    assert r.json()["district_totals"]["relocated"] == 120
    assert [(t["town"], t["name"]) for t in r.json()["towns"]] == [("JD-10", "江桥镇")]


async def test_metrics_and_overdue(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/overdue", headers=auth(V))).status_code == 200
    await api.get("/api/plans/NOPE", headers=auth(V))
    text = (await api.get("/metrics", headers=auth(V))).text
    assert 'yingji_console_requests_total{method="GET",route="/api/overdue",status="200"}' in text
    assert 'route="/api/plans/{code}",status="404"' in text
    assert V not in text
    schema = (await api.get("/openapi.json", headers=auth(V))).json()
    assert "/api/typhoons/reports" in schema["paths"] and "/metrics" not in schema["paths"]


async def test_workflows_listed_by_kind_and_status(
    dev_env, engine, task_queue: str, code: str
) -> None:
    """Visibility queries need a real server (the time-skipping one has none)."""
    from worker import build_worker

    async with (
        build_worker(dev_env.client, make_settings(), engine, task_queue),
        console_for(dev_env.client, engine, task_queue) as api,
    ):
        r = await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
        assert r.status_code == 201

        async def listed(**params: str) -> set[str]:
            r = await api.get("/api/workflows", params=params, headers=auth(V))
            assert r.status_code == 200
            return {w["id"] for w in r.json()}

        await eventually(
            lambda: listed(kind="plan", status="running"), lambda ids: f"plan:{code}" in ids
        )
        # The registered search attributes: unit, year, and the stage kept current by the plan.
        unit = PLAN["unit"]
        r = await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
        assert r.json()["stage"] == "consultation"
        await eventually(
            lambda: listed(kind="plan", unit=unit, stage="consultation"),
            lambda ids: f"plan:{code}" in ids,
        )
        assert f"plan:{code}" not in await listed(kind="plan", unit=unit, stage="drafting")
        assert f"plan:{code}" not in await listed(unit="别的单位")
        r = await api.get("/api/workflows", params={"unit": "x' OR '1'='1"}, headers=auth(V))
        assert r.status_code == 422  # no query injection into the visibility query
        assert f"plan:{code}" not in await listed(kind="typhoon")
        assert f"plan:{code}" not in await listed(kind="plan", status="closed")
        r = await api.get("/api/workflows", params={"kind": "nonsense"}, headers=auth(V))
        assert r.status_code == 422


async def test_worker_exposes_temporal_sdk_metrics(
    dev_env, engine, task_queue: str, code: str
) -> None:
    from worker import build_worker
    from yingji.core.temporal import connect, metrics_runtime
    from yingji.services import plan as plans

    port = free_port()
    settings = make_settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        worker_metrics_address=f"127.0.0.1:{port}",
    )
    client = await connect(settings, metrics_runtime(settings.worker_metrics_address or ""))
    async with build_worker(client, settings, engine, task_queue):
        await plans.create_plan(
            client,
            settings,
            PlanCreate.model_validate({**PLAN, "code": code}),
            task_queue=task_queue,
        )
        await eventually(lambda: plans.show(client, code), lambda v: v.last_seq >= 1)

        async def scrape() -> str:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/metrics")).text

        text = await eventually(scrape, lambda t: "temporal_workflow_task" in t)
    assert "temporal_activity_execution_latency" in text or "temporal_activity" in text


def PLAN_FOR(code: str):
    from models.plan import PlanCreate

    return PlanCreate.model_validate({**PLAN, "code": code})


async def test_a_warning_issued_and_answered_through_the_api(
    api: httpx.AsyncClient, engine, code: str
) -> None:
    from yingji.stores import officer as roster
    from yingji.stores.typhoon import add_units

    district = f"接口区{code}"
    await add_units(
        engine,
        [
            {
                "code": f"{code}-T1",
                "name": "第一镇",
                "level": "town",
                "parent_code": None,
                "district": district,
            }
        ],
    )
    await roster.import_rows(
        engine, roster.parse_csv(f"unit,role,name,phone\n{code}-T1,A,王强,13800000001\n")
    )
    body = {
        "warning_id": f"{code}-W",
        "title": "台风红色预警",
        "district": district,
        "issued_by": "区防指",
        "who": "officer",
    }
    r = await api.post("/api/warnings", json=body, headers=auth(D))
    assert r.status_code == 201 and r.json()["towns"][0]["town_name"] == "第一镇"
    r = await api.post(f"/api/warnings/{code}-W/ack", json={"person": "王强"}, headers=auth(D))
    assert r.status_code == 200 and r.json()["status"] == "answered"
    r = await api.post(
        "/api/warnings",
        json={**body, "warning_id": f"{code}-X", "district": "无人区"},
        headers=auth(D),
    )
    assert r.status_code == 409 and "nobody to call" in r.json()["detail"]
