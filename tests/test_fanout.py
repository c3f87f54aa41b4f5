"""叫应 at one batch's scale: call, redial, 未叫醒, the backup, a late answer; answers by phone
and by name; a webhook that is down or refuses.

On the dev server in real time, with the call window in seconds (the time-skipping test server
loses track of an update that waits across a skipped timer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.fanout import CallLevel, ChainStatus, FanoutAck, FanoutIssue, FanoutView
from tests.conftest import make_settings
from tests.helpers import answering_webhook, eventually, free_port, rows
from yingji.core.errors import DomainRefusal
from yingji.services import fanout
from yingji.services import unit as units
from yingji.stores import responsible

RULES = {
    "warning_call_attempts": 3,
    "warning_call_window_minutes": 0.1,  # a call every 2 seconds
    "warning_escalation_wait_minutes": 0.1,  # late answers taken for 6 s once all are settled
    "warning_progress_seconds": 0.5,
}
WINDOW = 6.0


async def district_of_two(engine, code: str) -> str:  # type: ignore[no-untyped-def]
    """A district of two 街镇 whose first responsible people are both 王强."""
    district = f"叫应区{code}"
    await units.import_csv(
        engine,
        (
            "code,name,level,parent_code,district\n"
            f"{code}-T1,甲镇,town,,{district}\n"
            f"{code}-T2,乙镇,town,,{district}\n"
        ).encode(),
    )
    await responsible.import_csv(
        engine,
        (
            "unit,role,name,phone,order\n"
            f"{code}-T1,党政主要负责人,王强,13900000001,1\n"
            f"{code}-T1,党政主要负责人,李四,13900000002,2\n"
            f"{code}-T2,党政主要负责人,王强,13900000003,1\n"
            f"{code}-T2,党政主要负责人,赵六,13900000004,2\n"
        ).encode(),
    )
    return district


@asynccontextmanager
async def worker_with(env: WorkflowEnvironment, engine, task_queue: str, **settings):  # type: ignore[no-untyped-def]
    from worker import build_worker

    config = make_settings(temporal_task_queue=task_queue, **{**RULES, **settings})
    async with build_worker(env.client, config, engine, task_queue):
        yield config


def issued(code: str, district: str) -> FanoutIssue:
    return FanoutIssue(
        warning_id=f"W{code}",
        title="台风红色预警",
        district=district,
        issued_by="值班员",
        level=CallLevel.TOWN,
    )


async def chains(engine, warning_id: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    found = await rows(
        engine,
        "SELECT unit_code, status, current_person, attempt, undelivered, response_seconds "
        "FROM warning_chain WHERE warning_id = :w",
        w=warning_id,
    )
    return {r["unit_code"]: r for r in found}


async def test_call_redial_backup_not_reached_and_answers(
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    district = await district_of_two(engine, code)
    client: Client = dev_env.client
    async with worker_with(dev_env, engine, task_queue) as config:
        data = issued(code, district)
        await fanout.issue(client, config, data, task_queue=task_queue)
        wid = data.warning_id
        view = await eventually(lambda: fanout.show(client, wid), lambda v: v.chains == 2)
        assert [t.town_name for t in view.towns] == ["甲镇", "乙镇"]

        # Two 王强: a name alone names nobody; the phone names one.
        with pytest.raises(DomainRefusal, match="several people"):
            await fanout.acknowledge(client, engine, wid, FanoutAck(person="王强"))
        await asyncio.sleep(1)
        answer = await fanout.acknowledge(client, engine, wid, FanoutAck(person="139-0000-0001"))
        assert answer.status is ChainStatus.ANSWERED and 0.5 <= answer.response_seconds < 3
        # The same answer again changes nothing.
        again = await fanout.acknowledge(client, engine, wid, FanoutAck(person="13900000001"))
        assert again.response_seconds == answer.response_seconds

        # 乙镇's 王强 never answers: three calls in six seconds, then 赵六 (the backup), three
        # calls, then 未叫醒.
        await eventually(
            lambda: chains(engine, wid),
            lambda c: c[f"{code}-T2"]["current_person"].endswith("13900000004"),
        )
        await eventually(
            lambda: chains(engine, wid), lambda c: c[f"{code}-T2"]["status"] == "not_reached"
        )
        calls = await rows(
            engine,
            "SELECT address FROM notification WHERE source LIKE :s",
            s=f"warning:{wid}:%",
        )
        by_phone = sorted(r["address"] for r in calls)
        assert by_phone.count("13900000003") == 3 and by_phone.count("13900000004") == 3
        assert by_phone.count("13900000001") == 1

        # A late answer from the backup is still recorded.
        late = await fanout.acknowledge(client, engine, wid, FanoutAck(person="赵六"))
        assert late.status is ChainStatus.BACKUP_ANSWERED
        view = await eventually(
            lambda: fanout.show(client, wid), lambda v: v.answered == 2, within=30
        )
        assert view.call_response_rate == 0.5  # one of two answered by the first person
        final = await client.get_workflow_handle(f"warning:{wid}", result_type=FanoutView).result()
        assert final.finished and final.answered == 2 and final.chains == 2


@pytest.fixture
def refusing_webhook() -> Iterator[str]:
    with answering_webhook(400) as url:
        yield url


@pytest.mark.parametrize("webhook", ["down", "refusing"])
async def test_an_undelivered_call_is_marked_and_escalation_keeps_its_time(  # type: ignore[no-untyped-def]
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str, webhook, refusing_webhook
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook" if webhook == "down" else refusing_webhook
    district = await district_of_two(engine, code)
    client: Client = dev_env.client
    # Late answers are taken for a minute once all are settled: the warning is live below.
    async with worker_with(
        dev_env, engine, task_queue, notify_webhook_url=url, warning_escalation_wait_minutes=1
    ) as config:
        data = issued(code, district)
        await fanout.issue(client, config, data, task_queue=task_queue)
        wid = data.warning_id
        # Nobody can be reached: each chain moves to its backup after six seconds and is 未叫醒
        # after twelve, on time, whatever the channel does.
        started = time.monotonic()
        found = await eventually(
            lambda: chains(engine, wid),
            lambda c: (
                len(c) == 2
                and all(x["status"] == "not_reached" and x["undelivered"] for x in c.values())
            ),
            within=60,
        )
        assert time.monotonic() - started < 2 * WINDOW + 6  # escalation kept its time
        reason = found[f"{code}-T1"]["undelivered"]
        assert ("400" in reason) if webhook == "refusing" else reason
        failed = await eventually(
            lambda: rows(
                engine,
                "SELECT failure FROM notification WHERE source LIKE :s AND failed_at IS NOT NULL",
                s=f"warning:{wid}:%",
            ),
            lambda f: len(f) == 12,  # 2 chains × 2 people × 3 calls, none delivered
        )
        assert all("will retry" not in f["failure"] for f in failed)
        # the workflow's view catches up with the rows at its next look (a loaded machine
        # answered the query before that look once)
        view = await eventually(
            lambda: fanout.show(client, wid),
            lambda v: v.undelivered == 2 and v.not_reached == 2,
            within=60,
        )
        assert view.undelivered == 2 and view.not_reached == 2
        # While the warning runs (late answers are still taken) the duty room's overdue list
        # names each chain whose calls were not delivered.
        from yingji.stores.overdue import overdue

        assert not view.finished
        listed = [o for o in await overdue(engine) if o["ref"].startswith(f"{wid}:")]
        assert {o["kind"] for o in listed} == {"call_undelivered"} and len(listed) == 2


async def test_a_typhoon_at_level_ii_starts_one_warning_per_change_across_a_restart(
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    """A level change at or above the threshold starts a 叫应 of the typhoon's district, once per
    change: the same change sent again after the worker restarted starts no second one."""
    from models.typhoon import LevelChange, ResponseLevel, WarningColour
    from tests.helpers import new_event
    from yingji.services import typhoon as typhoons

    district = await district_of_two(engine, code)
    event = await new_event(engine, district=district)
    client: Client = dev_env.client
    change = LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
    async with worker_with(dev_env, engine, task_queue) as config:
        await typhoons.open_typhoon(client, engine, config, event, task_queue=task_queue)
        board = await typhoons.change_level(client, event.event_id, change, update_id="lvl-ii-1")
        assert len(board.warnings) == 1
        warning_id = board.warnings[0]
        view = await eventually(lambda: fanout.show(client, warning_id), lambda v: v.chains == 2)
        assert view.typhoon_event_id == event.event_id and "Ⅱ级" in view.title
    async with worker_with(dev_env, engine, task_queue):  # a new worker: the same change again
        board = await typhoons.change_level(client, event.event_id, change, update_id="lvl-ii-1")
        assert board.warnings == [warning_id]
        # A change below the threshold calls nobody.
        lower = LevelChange(level=ResponseLevel.III, warning=WarningColour.YELLOW, by="区防指")
        board = await typhoons.change_level(client, event.event_id, lower)
        assert board.warnings == [warning_id]
    started = [w.id async for w in client.list_workflows(f"WorkflowId = 'warning:{warning_id}'")]
    assert started == [f"warning:{warning_id}"]


async def test_an_answer_is_on_the_board_at_once_and_a_lost_signal_costs_one_redial_at_most(
    dev_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    """An answer is written to its chain's row before the batch hears of it: it is on the board
    when the call returns. One whose signal never reached the batch (Temporal down, or the
    sender died between the two) is read from the row before the chain is called again: the
    chain stops, nobody else is called."""
    district = await district_of_two(engine, code)
    client: Client = dev_env.client
    async with worker_with(dev_env, engine, task_queue) as config:
        data = issued(code, district)
        await fanout.issue(client, config, data, task_queue=task_queue)
        wid = data.warning_id
        # Answered the moment it is issued (by phone in full-width digits, with +86): the
        # answer waits for the warning to write its people down, then is on the board at once.
        await fanout.acknowledge(client, engine, wid, FanoutAck(person="＋８６ 139-0000-0001"))
        now = await chains(engine, wid)  # read at once: no waiting for the batch
        assert now[f"{code}-T1"]["status"] == "answered"

        # 乙镇's answer reaches the row only: Temporal is not told (client None, as when it is
        # down). The batch reads the row before calling the chain again: no second call.
        await eventually(lambda: chains(engine, wid), lambda c: c[f"{code}-T2"]["attempt"] == 1)
        await fanout.acknowledge(None, engine, wid, FanoutAck(person="13900000003"))
        view = await eventually(
            lambda: fanout.show(client, wid), lambda v: v.finished, within=WINDOW * 3
        )
        assert view.answered == 2 and view.call_response_rate == 1.0
        # No call to 王强 of 乙镇 once his answer was in the row (a round already under way
        # when it was written may still place one, within a second), nor to his backup.
        later = await rows(
            engine,
            "SELECT n.address FROM notification n JOIN warning_chain c "
            "ON c.warning_id = :w AND c.unit_code = :u "
            "WHERE n.source LIKE :s AND n.created_at > c.acked_at + interval '1 second'",
            w=wid,
            u=f"{code}-T2",
            s=f"warning:{wid}:%",
        )
        assert later == []
        calls = await rows(
            engine, "SELECT address FROM notification WHERE source LIKE :s", s=f"warning:{wid}:%"
        )
        assert "13900000004" not in {r["address"] for r in calls}

        # The id cannot be issued again, even once Temporal has forgotten the warning.
        from temporalio.api.common.v1 import WorkflowExecution
        from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest

        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=f"warning:{wid}"),
            )
        )
        await eventually(lambda: _gone(client, f"warning:{wid}"), lambda gone: gone, within=90)
        with pytest.raises(DomainRefusal, match="was issued before"):
            await fanout.issue(client, config, data, task_queue=task_queue, engine=engine)
        # The projection kept the answer (never cleared it); the backup's answer now is the
        # chain's answer as recorded.
        again = await fanout.acknowledge(client, engine, wid, FanoutAck(person="赵六"))
        assert again.status is ChainStatus.ANSWERED


async def test_rows_keep_answers_and_a_closed_batch_takes_none(engine, code: str) -> None:
    """The database side of answers: recorded once, never cleared by a batch that had not heard
    of them (they come back to it), and refused once the batch has closed its chains."""
    from datetime import UTC, datetime

    from models.fanout import CallChain, CallPerson, ChainRow
    from yingji.stores import fanout as store

    wid = f"W{code}"

    def chain(n: int) -> CallChain:
        return CallChain(
            chain_id=f"{code}-V{n}:村(社区)负责人",
            unit_code=f"{code}-V{n}",
            unit_name=f"{n}村",
            town_code=f"{code}-T",
            town_name="甲镇",
            role="村(社区)负责人",
            persons=[
                CallPerson(person_id=f"p{n}a", name=f"甲{n}", phone=f"1380000000{n}", order=1),
                CallPerson(person_id=f"p{n}b", name=f"乙{n}", phone=f"1370000000{n}", order=2),
            ],
        )

    (batch,) = await store.write_plan(engine, wid, [chain(1), chain(2), chain(3)], 250)
    at = datetime.now(UTC)
    got = await store.answer(engine, wid, "p1b", at)
    first, new = got.result, got.first
    assert new and first.status is ChainStatus.BACKUP_ANSWERED
    got = await store.answer(engine, wid, "p1a", at)
    repeat, new = got.result, got.first
    assert not new and repeat == first  # the chain's answer, as it was

    loaded, acks = await store.batch_chains(engine, wid, batch.batch_id)
    assert len(loaded) == 3 and [a.person_id for a in acks] == ["p1b"]

    unheard = ChainRow(
        chain_id=chain(1).chain_id,
        status=ChainStatus.CALLING,
        current_person="p1b",
        attempt=2,
        first_call_at=at,
        acked_at=None,
        acked_by=None,
        response_seconds=None,
        undelivered=None,
    )
    learnt = await store.project_chains(engine, wid, [unheard], batch.batch_id, final=True)
    assert [a.person_id for a in learnt] == ["p1b"]
    kept = await chains(engine, wid)
    assert kept[f"{code}-V1"]["status"] == "backup_answered" and kept[f"{code}-V1"]["attempt"] == 2

    with pytest.raises(DomainRefusal, match="over"):
        await store.answer(engine, wid, "p2a", datetime.now(UTC))
    assert (await chains(engine, wid))[f"{code}-V2"]["status"] == "calling"


async def test_a_busy_batch_is_signalled_again_and_never_fails_a_recorded_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server's "Workflow is busy" (many signals at once under load) is tried
    again with a growing pause; past the patience the answer stays recorded and its caller is
    not failed: the batch hears of it at its next look at its rows."""
    from datetime import UTC, datetime

    from temporalio.service import RPCError, RPCStatusCode

    from models.fanout import ChainAck

    sent: list[str] = []

    class Handle:
        def __init__(self, refusals: int) -> None:
            self.refusals = refusals

        async def signal(self, name: str, arg: object) -> None:
            if self.refusals:
                self.refusals -= 1
                raise RPCError("Workflow is busy.", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
            sent.append(name)

    class FakeClient:
        def __init__(self, refusals: int) -> None:
            self.handle = Handle(refusals)

        def get_workflow_handle(self, workflow_id: str) -> Handle:
            return self.handle

    ack = ChainAck(
        chain_id="c", person_id="p", status=ChainStatus.ANSWERED, acked_at=datetime.now(UTC)
    )
    await fanout.tell_batch(FakeClient(3), "warning:W:T", ack)  # type: ignore[arg-type]
    assert sent == ["answered"]
    monkeypatch.setattr(fanout, "SIGNAL_PATIENCE", 0.3)
    started = time.monotonic()
    await fanout.tell_batch(FakeClient(10_000), "warning:W:T", ack)  # type: ignore[arg-type]
    assert sent == ["answered"] and time.monotonic() - started < 3


def test_a_town_split_in_parts_never_takes_another_towns_batch() -> None:
    """A 街镇 of more than a batch is split in parts; a part's id never equals another 街镇's
    code (a unit code may hold '.', never ':'), so no chain is dropped."""
    from models.fanout import CallChain, CallPerson
    from yingji.stores.fanout import batches_of

    def chain(town: str, n: int) -> CallChain:
        return CallChain(
            chain_id=f"{town}-V{n}:r",
            unit_code=f"{town}-V{n}",
            unit_name=f"{n}村",
            town_code=town,
            town_name=town,
            role="r",
            persons=[CallPerson(person_id=f"{town}{n}", name="甲", phone="13800000000", order=1)],
        )

    laid = batches_of([chain("JD-99", n) for n in range(300)] + [chain("JD-99.1", 0)], 250)
    assert sum(len(c) for c in laid.values()) == 301
    assert sorted(laid) == ["JD-99.1", "JD-99:1", "JD-99:2"]


def test_a_viewer_sees_a_person_id_with_its_phone_masked() -> None:
    from yingji.console.deps import Caller

    viewer = Caller(person="甲", role="viewer", units=frozenset())
    officer = Caller(person="乙", role="duty_officer", units=frozenset())
    pid = "JD-04:党政主要负责人:13800000104"
    assert viewer.person_id(pid) == "JD-04:党政主要负责人:138****0104"
    assert officer.person_id(pid) == pid


async def _gone(client: Client, workflow_id: str) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        return exc.status == RPCStatusCode.NOT_FOUND
    return False
