"""The officer roster, and 叫应 with redials, 未叫醒, escalation and late answers."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.warning import (
    AckInput,
    CallStatus,
    CallTarget,
    Contact,
    WarningIssue,
)
from tests.conftest import make_settings
from tests.helpers import rows
from worker import build_worker
from yingji.services import warning as warnings
from yingji.stores import officer as roster
from yingji.stores.typhoon import add_units


def town(district: str, code: str) -> dict:
    return {"code": code, "name": code, "level": "town", "parent_code": None, "district": district}


def village(district: str, code: str, parent: str) -> dict:
    return {
        "code": code,
        "name": code,
        "level": "village",
        "parent_code": parent,
        "district": district,
    }


CSV = """unit,role,name,phone,email,active
{p}-T1,A,王强,13800000001,wq@example.cn,是
{p}-T1,B,李娜,13800000002,,是
{p}-T2,B,赵敏,13800000003,,yes
{p}-T3,A,孙离,13800000004,,否
{p}-T1-V1,A,周村,13800000005,,
"""


async def test_roster_import_list_and_gaps(engine, code: str) -> None:
    district = f"花名册区{code}"
    await add_units(
        engine,
        [
            town(district, f"{code}-T1"),
            town(district, f"{code}-T2"),
            town(district, f"{code}-T3"),
            village(district, f"{code}-T1-V1", f"{code}-T1"),
        ],
    )
    content = CSV.format(p=code)

    with pytest.raises(roster.RosterError) as err:
        roster.parse_csv(content.replace("13800000003", "call-me").replace(",B,李娜", ",C,李娜"))
    assert err.value.errors == [
        "line 3: role: must be 'A' or 'B'",
        "line 4: phone: must be a phone number: 6 to 20 digits and dashes, maybe a leading +",
    ]
    with pytest.raises(roster.RosterError, match="header: missing column"):
        roster.parse_csv("unit,name\nx,y\n")
    with pytest.raises(roster.RosterError, match="unit: 'NOWHERE' is not a registered"):
        await roster.import_rows(
            engine, roster.parse_csv(content + "NOWHERE,A,某,13800000009,,是\n")
        )
    assert await roster.list_officers(engine, district) == []  # nothing of the refused file

    rows_ = roster.parse_csv(content)
    assert await roster.import_rows(engine, rows_) == 5
    assert await roster.import_rows(engine, rows_) == 5  # idempotent: updated, not duplicated
    listed = await roster.list_officers(engine, district)
    assert [(r["unit_code"], r["role"], r["name"], r["active"]) for r in listed] == [
        (f"{code}-T1", "A", "王强", True),
        (f"{code}-T1", "B", "李娜", True),
        (f"{code}-T1-V1", "A", "周村", True),
        (f"{code}-T2", "B", "赵敏", True),
        (f"{code}-T3", "A", "孙离", False),
    ]
    found = {(g.unit_code, g.missing) for g in await roster.gaps(engine, district)}
    assert found == {(f"{code}-T2", "A"), (f"{code}-T3", "A and B")}


def target(name: str, backup: str | None = None) -> CallTarget:
    return CallTarget(
        person=Contact(name=name, phone="138" + str(abs(hash(name)))[:8]),
        unit=f"{name}所在街镇",
        backup=Contact(name=backup, phone="13900000000") if backup else None,
    )


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local receiver that refuses its first POST (to show delivery is retried)."""
    received: list[dict] = []
    refused = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not refused:
                refused.append(body["key"])
                self.send_response(503)
            else:
                key = urllib.parse.unquote(self.headers["Idempotency-Key"])
                received.append({**body, "idempotency_key": key})
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    server.shutdown()


async def test_call_and_respond(
    ts_env: WorkflowEnvironment, engine, task_queue: str, code: str, webhook
) -> None:
    url, received = webhook
    settings = make_settings(notify_webhook_url=url)
    client: Client = ts_env.client
    issue = WarningIssue(
        warning_id=f"{code}-RED",
        title="台风红色预警",
        district="嘉定区",
        issued_by="区气象台/区防指",
        targets=[target("甲"), target("乙", backup="乙的B岗"), target("丙", backup="丙的上级")],
    )
    async with build_worker(client, settings, engine, task_queue):
        handle = await warnings.issue_warning(client, settings, issue, task_queue=task_queue)
        await ts_env.sleep(timedelta(seconds=30))
        v = await warnings.acknowledge(client, issue.warning_id, AckInput(person="甲"))
        assert v.calls[0].status is CallStatus.ANSWERED
        assert v.calls[0].response_seconds == pytest.approx(30, abs=2)

        with pytest.raises(WorkflowUpdateFailedError) as err:
            await warnings.acknowledge(client, issue.warning_id, AckInput(person="丁"))
        assert "person: '丁' was not called" in str(err.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await warnings.acknowledge(client, issue.warning_id, AckInput(person="甲"))
        assert "already answered" in str(err.value.cause)

        # Five minutes, three calls, no answer: 未叫醒, and the backups are called.
        await ts_env.sleep(timedelta(minutes=5, seconds=10))
        v = await warnings.show(client, issue.warning_id)
        yi, bing = v.calls[1], v.calls[2]
        assert (yi.status, yi.attempts, bing.status, bing.attempts) == (
            CallStatus.NOT_REACHED,
            3,
            CallStatus.NOT_REACHED,
            3,
        )
        # 乙 answers after all; 丙's superior answers for 丙.
        await ts_env.sleep(timedelta(minutes=4))
        await warnings.acknowledge(client, issue.warning_id, AckInput(person="乙"))
        await warnings.acknowledge(client, issue.warning_id, AckInput(person="丙的上级"))
        final = await handle.result()

    statuses = [c.status for c in final.calls]
    assert statuses == [
        CallStatus.ANSWERED,
        CallStatus.ANSWERED_AFTER_ESCALATION,
        CallStatus.BACKUP_ANSWERED,
    ]
    assert final.finished and final.call_response_rate == pytest.approx(1 / 3)
    assert final.not_reached == 2 and final.responses.count == 3
    assert final.responses.buckets == {"≤1min": 1, "1-3min": 0, "3-5min": 0, ">5min": 2}
    assert final.calls[1].response_seconds == pytest.approx(9 * 60 + 40, abs=5)

    # Every call and escalation went out once, through the outbox and the webhook.
    sent = await rows(
        engine,
        "SELECT recipient, delivered_at IS NOT NULL AS delivered "
        "FROM notification WHERE source = :s ORDER BY key",
        s=f"warning:{issue.warning_id}",
    )
    assert sorted(r["recipient"] for r in sent) == sorted(
        ["甲", "乙", "乙", "乙", "乙的B岗", "丙", "丙", "丙", "丙的上级"]
    )
    assert all(r["delivered"] for r in sent)
    assert sorted(r["recipient"] for r in received) == sorted(r["recipient"] for r in sent)
    assert all(r["idempotency_key"] == r["key"] for r in received)
    stored = await rows(
        engine,
        "SELECT answered, targets, finished FROM warning WHERE warning_id = :w",
        w=issue.warning_id,
    )
    assert stored == [{"answered": 1, "targets": 3, "finished": True}]


async def test_targets_come_from_the_roster(engine, code: str) -> None:
    district = f"叫应区{code}"
    await add_units(
        engine,
        [
            town(district, f"{code}-T1"),
            town(district, f"{code}-T2"),
            town(district, f"{code}-T3"),
            village(district, f"{code}-T1-V1", f"{code}-T1"),
        ],
    )
    await roster.import_rows(engine, roster.parse_csv(CSV.format(p=code)))
    towns = await warnings.targets_from_roster(engine, district)
    assert [(t.unit, t.person.name, t.backup.name if t.backup else None) for t in towns] == [
        (f"{code}-T1", "王强", "李娜"),
        (f"{code}-T2", "赵敏", None),
    ]
    villages = await warnings.targets_from_roster(engine, district, [f"{code}-T1-V1"])
    assert [(t.person.name, t.backup.name) for t in villages] == [("周村", "王强")]  # 街镇 A above
    with pytest.raises(warnings.NoOneToCall, match="not in"):
        await warnings.targets_from_roster(engine, district, ["elsewhere"])
