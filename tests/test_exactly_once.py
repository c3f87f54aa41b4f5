"""Finding 1 of [3/7]: every write once, conditional writes, and no request that hangs.

"With the worker stopped, POST /api/plans/{code}/review hung (200 s observed). After the worker
came back the plan was in 专家论证; the same request sent again moved it to 合法性审查 with two
identical 区水务局 reviews: a stage was skipped. Neither the console nor the CLI sends an update
id."
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import console_tokens_for, make_settings
from tests.helpers import db_events, eventually
from yingji.console.app import create_app

D = "exactly-once-duty-0123456789abcdef0123"
A = "exactly-once-approver-0123456789abcdef"
TOKENS = console_tokens_for({D: ("王值班", "duty_officer"), A: ("李审批", "approver")})
PLAN = {
    "name": "某区防汛防台专项应急预案",
    "kind": "special",
    "level": "district",
    "unit": "区应急管理局",
    "drafter": "张敏",
}
REVIEW = {"reviewer": "区水务局", "opinion": "同意", "outcome": "pass"}


def auth(token: str, key: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", **extra}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


@asynccontextmanager
async def console(client: Client, engine, task_queue: str, wait: float = 10.0):  # type: ignore[no-untyped-def]
    settings = make_settings(
        console_tokens=TOKENS, temporal_task_queue=task_queue, request_wait_seconds=wait
    )
    app = create_app(settings, client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


@asynccontextmanager
async def worker(client: Client, engine, task_queue: str) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    from worker import build_worker

    async with build_worker(client, make_settings(), engine, task_queue):
        yield


async def test_a_review_retried_after_the_worker_was_down_applies_once(
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    client = dev_env.client
    async with console(client, engine, task_queue, wait=1.0) as api:
        async with worker(client, engine, task_queue):
            r = await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
            assert r.status_code == 201, r.text
            r = await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
            assert r.json()["stage"] == "consultation"

        # The worker is down: the review does not hang, it is answered 202 with a URL to poll.
        started = time.monotonic()
        r = await api.post(f"/api/plans/{code}/review", json=REVIEW, headers=auth(A, "review-1"))
        assert r.status_code == 202, r.text
        assert time.monotonic() - started < 5
        body = r.json()
        assert body["request_id"] == "review-1" and r.headers["Idempotency-Key"] == "review-1"
        assert body["poll"] == f"/api/requests/plan:{code}/review-1"
        r = await api.get(body["poll"], headers=auth(D))
        assert r.status_code == 202  # still waiting for a worker

        async with worker(client, engine, task_queue):
            # The poll URL gives the first outcome once a worker has applied it.
            async def polled() -> httpx.Response:
                return await api.get(body["poll"], headers=auth(D))

            first = await eventually(polled, lambda r: r.status_code != 202)
            assert first.status_code == 200, first.text
            assert first.json()["stage"] == "expert_review"
            # The same request again: the first outcome, and nothing recorded twice.
            for _ in range(2):
                r = await api.post(
                    f"/api/plans/{code}/review", json=REVIEW, headers=auth(A, "review-1")
                )
                assert r.status_code == 200, r.text
                assert r.json()["stage"] == "expert_review"
                assert len(r.json()["reviews"]) == 1
            # A new request (another key) is a new step.
            r = await api.post(
                f"/api/plans/{code}/review", json=REVIEW, headers=auth(A, "review-2")
            )
            assert r.json()["stage"] == "legality_review"
    kinds = [e["kind"] for e in await db_events(engine, code)]
    assert kinds.count("review_passed") == 2


async def test_if_match_refuses_a_stale_step_with_412_naming_the_stage(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    async with console(ts_client, engine, task_queue) as api:
        r = await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
        etag = r.headers["ETag"]
        r = await api.get(f"/api/plans/{code}", headers=auth(D))
        assert r.headers["ETag"] == etag == f'"{r.json()["last_seq"]}"'
        # Someone else submits meanwhile …
        r = await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
        assert r.headers["ETag"] != etag
        # … so a withdraw decided on the old view is refused, naming the current stage.
        r = await api.post(
            f"/api/plans/{code}/withdraw",
            json={"by": "张敏", "reason": "重复"},
            headers=auth(D, **{"If-Match": etag}),
        )
        assert r.status_code == 412, r.text
        assert "consultation" in r.json()["detail"] and "征求意见" in r.json()["detail"]
        # With the current ETag it goes through.
        current = (await api.get(f"/api/plans/{code}", headers=auth(D))).headers["ETag"]
        r = await api.post(
            f"/api/plans/{code}/withdraw",
            json={"by": "张敏", "reason": "重复"},
            headers=auth(D, **{"If-Match": current}),
        )
        assert r.status_code == 200 and r.json()["stage"] == "withdrawn"
        r = await api.post(
            f"/api/plans/{code}/submit", json={"by": "x"}, headers=auth(D, **{"If-Match": "abc"})
        )
        assert r.status_code == 422 and "If-Match" in r.json()["detail"]


async def test_a_repeated_start_answers_as_the_first_and_another_is_refused(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    async with console(ts_client, engine, task_queue) as api:
        body = {**PLAN, "code": code}
        first = await api.post("/api/plans", json=body, headers=auth(D, "create-plan-1"))
        again = await api.post("/api/plans", json=body, headers=auth(D, "create-plan-1"))
        assert first.status_code == again.status_code == 201
        assert again.json()["last_seq"] == first.json()["last_seq"]
        other = await api.post("/api/plans", json=body, headers=auth(D, "create-plan-2"))
        assert other.status_code == 409 and "already exists" in other.json()["detail"]
        # Without a key a key is made, and sent back.
        r = await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
        assert len(r.headers["Idempotency-Key"]) == 32


async def test_every_event_names_the_caller_and_keeps_the_given_name_as_filled_in(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    async with console(ts_client, engine, task_queue) as api:
        await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
        await api.post(f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D))
        # A client cannot choose the actor: the token's person replaces it.
        r = await api.post(
            f"/api/plans/{code}/review", json={**REVIEW, "actor": "冒名者"}, headers=auth(A)
        )
        assert r.status_code == 200, r.text
    events = {e["kind"]: e for e in await db_events(engine, code)}
    # A start names its caller too (attacker: the body's drafter was the actor, unchecked).
    assert events["created"]["actor"] == "王值班（代填：张敏）"
    assert events["submitted"]["actor"] == "王值班"
    assert events["submitted"]["detail"]["代填"] == "张敏"
    assert events["review_passed"]["actor"] == "李审批"
    assert events["review_passed"]["detail"]["代填"] == "区水务局"


async def test_the_cli_request_id_makes_a_step_apply_once(cli, code: str) -> None:  # type: ignore[no-untyped-def]
    from yingji.cli import app

    async def run(*args: str):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(cli.invoke, app, list(args))

    r = await run("plan", "create", code, "--name", "某预案", "--kind", "special", "--level",
            "district", "--unit", "区应急管理局", "--drafter", "张敏")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "request id: " in r.stderr  # generated, and printed where --json output is not
    r = await run(
        "plan", "submit", code, "--by", "张敏", "--request-id", "cli-submit-0001", "--json"
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["stage"] == "consultation"
    review = ("plan", "review", code, "--reviewer", "区水务局", "--opinion", "同意")
    r = await run(*review, "--request-id", "cli-review-0001", "--json")
    assert json.loads(r.stdout)["stage"] == "expert_review"
    r = await run(*review, "--request-id", "cli-review-0001", "--json")  # the same step again
    assert r.exit_code == 0 and json.loads(r.stdout)["stage"] == "expert_review"
    # A step decided on a stage that has passed is refused, naming the stage it is in now.
    r = await run(*review, "--expect-stage", "consultation")
    assert r.exit_code == 1 and "expert_review" in r.output and "专家论证" in r.output
    r = await run("plan", "submit", code, "--by", "x", "--request-id", "short")
    assert r.exit_code == 1 and "--request-id" in r.output


async def test_the_cli_does_not_hang_without_a_worker(  # type: ignore[no-untyped-def]
    cli, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yingji.cli import app
    from yingji.core.settings import get_settings

    create = ["plan", "create", code, "--name", "某预案", "--kind", "special", "--level",
              "district", "--unit", "区", "--drafter", "张敏"]  # fmt: skip
    r = await asyncio.to_thread(cli.invoke, app, create)
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("YINGJI_TEMPORAL_TASK_QUEUE", "nobody-listens-here")
    monkeypatch.setenv("YINGJI_REQUEST_WAIT_SECONDS", "1")
    get_settings.cache_clear()
    # A plan started on a queue no worker serves: its start is accepted, its answer never comes.
    started = time.monotonic()
    create[2] = f"{code}x"
    r = await asyncio.to_thread(cli.invoke, app, [*create, "--request-id", "cli-create-0002"])
    assert r.exit_code == 1, r.output
    assert time.monotonic() - started < 10
    assert "--request-id cli-create-0002" in r.output and "worker" in r.output


async def test_a_key_sent_with_another_request_is_refused(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    """Newcomer: the same Idempotency-Key with another body, or on another action, answered 200
    with the old view and did nothing. It is refused now, naming what the key was used for."""
    async with console(ts_client, engine, task_queue) as api:
        await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
        r = await api.post(
            f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(D, "key-used-once")
        )
        assert r.status_code == 200
        r = await api.post(
            f"/api/plans/{code}/submit", json={"by": "李四"}, headers=auth(D, "key-used-once")
        )
        assert r.status_code == 409 and "already used for another request" in r.json()["detail"]
        r = await api.post(
            f"/api/plans/{code}/withdraw",
            json={"by": "张敏", "reason": "x"},
            headers=auth(D, "key-used-once"),
        )
        assert r.status_code == 409 and f"plan:{code} submit" in r.json()["detail"]
        # The same request again is still a repeat; another person sending it changes nothing.
        r = await api.post(
            f"/api/plans/{code}/submit", json={"by": "张敏"}, headers=auth(A, "key-used-once")
        )
        assert r.status_code == 200 and r.json()["stage"] == "consultation"
        # A weak ETag never matches; a malformed key is refused in plain words.
        r = await api.post(
            f"/api/plans/{code}/withdraw",
            json={"by": "张敏", "reason": "x"},
            headers=auth(D, **{"If-Match": 'W/"3"'}),
        )
        assert r.status_code == 412 and "weak" in r.json()["detail"]
        r = await api.post(f"/api/plans/{code}/withdraw", json={}, headers=auth(D, "short"))
        assert r.status_code == 422 and "8 to 128 printable ASCII" in r.json()["detail"]


async def test_without_a_worker_a_view_answers_503_and_a_start_can_be_polled(
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    """Newcomer: a view hung 30 s without a worker; a started plan's poll URL said 404 for ever."""
    client = dev_env.client
    async with console(client, engine, task_queue, wait=1.0) as api:
        r = await api.post(
            "/api/plans", json={**PLAN, "code": code}, headers=auth(D, "start-poll-1")
        )
        assert r.status_code == 202, r.text
        poll = r.json()["poll"]
        started = time.monotonic()
        r = await api.get(f"/api/plans/{code}", headers=auth(D))
        assert r.status_code == 503 and "is a worker running" in r.json()["detail"]
        assert time.monotonic() - started < 5
        async with worker(client, engine, task_queue):

            async def polled() -> httpx.Response:
                return await api.get(poll, headers=auth(D))

            r = await eventually(polled, lambda r: r.status_code == 200)
            assert r.json()["stage"] == "drafting" and r.json()["code"] == code


async def test_expect_stage_takes_the_chinese_label(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    async with console(ts_client, engine, task_queue) as api:
        await api.post("/api/plans", json={**PLAN, "code": code}, headers=auth(D))
        r = await api.post(
            f"/api/plans/{code}/submit",
            json={"by": "张敏", "expect_stage": "编制"},
            headers=auth(D),
        )
        assert r.status_code == 200 and r.json()["stage"] == "consultation"
        r = await api.post(
            f"/api/plans/{code}/withdraw",
            json={"by": "张敏", "reason": "x", "expect_stage": "编制"},
            headers=auth(D),
        )
        assert r.status_code == 412 and "征求意见" in r.json()["detail"]


def test_a_refused_command_exits_1_every_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Newcomer: a refused command sometimes aborted with exit 134 ("Fatal Python error:
    PyGILState_Release") as the interpreter finalized with the Temporal client's threads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    yingji = str(Path(sys.executable).parent / "yingji")
    env = {**os.environ, "YINGJI_TEMPORAL_ADDRESS": "127.0.0.1:1", "YINGJI_DATA_DIR": str(tmp_path)}
    env["YINGJI_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    codes = [
        subprocess.run(
            [yingji, "plan", "show", "NOPE"], env=env, capture_output=True, timeout=60
        ).returncode
        for _ in range(6)
    ]
    assert codes == [1] * 6
