"""Typhoon operations shared by the CLI and the HTTP API."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from models.typhoon import (
    ActionKind,
    CloseTyphoon,
    FeedbackInput,
    InstructionInput,
    LevelChange,
    OccupancyReport,
    ReportReceipt,
    ResponseLevel,
    RoundInput,
    RoundRecord,
    RoundRules,
    ShelterChange,
    TyphoonBoard,
    TyphoonOpen,
    TyphoonRules,
    TyphoonWorkflowInput,
    UnitReport,
    WarningColour,
    event_workflow_id,
)
from yingji.core.errors import refuse_future_start
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import start_once
from yingji.stores import typhoon as typhoon_store

#: The workflow type, as ``workflows/typhoon.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "Typhoon"


def typhoon_workflow_id(event_id: str) -> str:
    """``typhoon:{year}:{number}`` for a typhoon, ``event:{year}:{code}`` for 暴雨, 寒潮 …"""
    return event_workflow_id(event_id)


def rules_from(settings: Settings) -> TyphoonRules:
    from yingji.services.warning import rules_from as call_rules

    level, colour = settings.warning_typhoon_level, settings.warning_typhoon_colour
    actions = {ResponseLevel(k): list(v) for k, v in settings.typhoon_response_actions.items()}
    calls = any(a.kind is ActionKind.CALL for v in actions.values() for a in v)
    return TyphoonRules(
        actions=actions,
        rounds=RoundRules(
            every_minutes=settings.typhoon_round_minutes,
            due_minutes=settings.typhoon_round_due_minutes,
            remind_minutes=settings.typhoon_round_remind_minutes,
            escalate_minutes=settings.typhoon_round_escalate_minutes,
        ),
        apply_min_seconds=settings.typhoon_apply_min_seconds,
        apply_max_seconds=settings.typhoon_apply_max_seconds,
        call_level=ResponseLevel(level) if level else None,
        call_colour=WarningColour(colour) if colour else None,
        call_target=settings.warning_typhoon_target,
        calls=call_rules(settings) if (level or colour or calls) else None,
        call_batch_size=settings.warning_batch_size,
        call_progress_seconds=settings.warning_progress_seconds,
    )


async def open_typhoon(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    data: TyphoonOpen,
    task_queue: str | None = None,
    historical: bool = False,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Register the event and its units (so reports are accepted at once), then start it.

    ``historical``: a past typhoon (``yingji load``) whose level changes and closing carry their
    times (``at``); opened without a time, its first level change may be earlier than that."""
    refuse_future_start(data.at)
    workflow_id = typhoon_workflow_id(data.event_id)
    units, _ = await typhoon_store.register(engine, data, workflow_id)
    if units == 0:
        raise typhoon_store.ReportRejected(
            f"district: no units registered for {data.district}; import the 街镇/村居 first"
        )
    return await start_once(
        client,
        WORKFLOW_TYPE,
        TyphoonWorkflowInput(open=data, rules=rules_from(settings), historical=historical),
        result_type=TyphoonBoard,
        id=workflow_id,
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.district, data.year, "open"),
    )


def typhoon_handle(client: Client, event_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(typhoon_workflow_id(event_id), result_type=TyphoonBoard)


async def submit_report(engine: AsyncEngine, report: UnitReport) -> ReportReceipt:
    """A report dated in the future would make every later real report of its unit "late"
    for ever: it is refused, as every time beyond ten minutes from now is."""
    refuse_future_start(report.as_of, "as_of")
    return await typhoon_store.submit(engine, report)


async def change_level(
    client: Client, event_id: str, data: LevelChange, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        "change_level", data, id=update_id, result_type=TyphoonBoard
    )


async def close(
    client: Client, event_id: str, data: CloseTyphoon, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        "close", data, id=update_id, result_type=TyphoonBoard
    )


async def board(client: Client, event_id: str) -> TyphoonBoard:
    """The live board, as the workflow answers its ``board`` query (a closed one: replayed)."""
    return await typhoon_handle(client, event_id).query("board", result_type=TyphoonBoard)


# -- the board as the console serves it: from PostgreSQL -------------------------------------

#: How long the console waits for the live rounds of an open event (a query, once per event
#: number), and how long it leaves a workflow that did not answer before it asks again.
LIVE_DETAIL_WAIT = 2.0
LIVE_DETAIL_RETRY = 10.0


@dataclass(frozen=True)
class ServedBoard:
    """A board as built from the projection, and its JSON, encoded once for every viewer."""

    board: TyphoonBoard
    json: bytes


class Boards:
    """The boards the console serves, read from the projection, not from the workflow.

    Each request reads the event's :func:`typhoon_store.board_key` (one row); a board built for
    that key is served again as it is, so viewers polling between two changes cost one indexed
    read each. A new key (an event projected, a batch applied) builds the board once from the
    tables, whoever asks meanwhile waiting for that one build. Only what the projection does
    not hold — an open event's reporting rounds as the workflow last checked them and the time
    of its next round — comes from a ``board`` query, once per event number; when the workflow
    does not answer (no worker) the rounds as the projection tells them are served instead."""

    MAX = 256

    def __init__(self) -> None:
        self._built: OrderedDict[str, tuple[typhoon_store.BoardKey, ServedBoard]] = OrderedDict()
        self._building: dict[
            str, asyncio.Task[tuple[typhoon_store.BoardKey, ServedBoard] | None]
        ] = {}
        #: event → (event number, rounds, next round) from the workflow's last answer
        self._live: dict[str, tuple[int, list[RoundRecord], datetime | None]] = {}
        #: event → (event number, until when) after a query that got no answer
        self._silent: dict[str, tuple[int, float]] = {}

    async def get(self, client: Client, engine: AsyncEngine, event_id: str) -> ServedBoard | None:
        key = await typhoon_store.board_key(engine, event_id)
        if key is None or key[0] == 0:
            return None  # no such event, or nothing of it projected yet: ask the workflow
        built = self._built.get(event_id)
        if built is not None and built[0] == key:
            self._built.move_to_end(event_id)
            return built[1]
        loop = asyncio.get_running_loop()
        view = None
        for _ in range(3):
            task = self._building.get(event_id)
            if task is None or task.done() or task.get_loop() is not loop:
                task = loop.create_task(self._build(client, engine, event_id))
                self._building[event_id] = task
            found = await asyncio.shield(task)
            if found is None:
                return None
            got, view = found
            # A build that began before what this request saw is older: build again (so a
            # view read after a change always shows it, and its ETag is the change's). The
            # intake's close moves the status alone: a view still open is older than it.
            if got[0] >= key[0] and got[3] >= key[3] and (got[1] == "closed" or key[1] != "closed"):
                break
        return view

    async def _build(
        self, client: Client, engine: AsyncEngine, event_id: str
    ) -> tuple[typhoon_store.BoardKey, ServedBoard] | None:
        found = await typhoon_store.projected_board(engine, event_id)
        if found is None:
            return None
        key, board_now = found
        if board_now.status.value == "open":
            await self._live_detail(client, board_now)
        view = ServedBoard(board_now, board_now.model_dump_json().encode())
        self._built[event_id] = (key, view)
        self._built.move_to_end(event_id)
        while len(self._built) > self.MAX:
            gone, _ = self._built.popitem(last=False)
            self._live.pop(gone, None)
            self._silent.pop(gone, None)
        return key, view

    async def _live_detail(self, client: Client, view: TyphoonBoard) -> None:
        seq, event_id = view.last_seq, view.event_id
        live = self._live.get(event_id)
        if live is None or live[0] != seq:
            silent = self._silent.get(event_id)
            if silent is not None and silent[0] == seq and time.monotonic() < silent[1]:
                return
            try:
                answer = await asyncio.wait_for(board(client, event_id), LIVE_DETAIL_WAIT)
            except (TimeoutError, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
                self._silent[event_id] = (seq, time.monotonic() + LIVE_DETAIL_RETRY)
                return
            if answer.last_seq < seq:  # cannot be: the projection follows the workflow
                return
            live = (seq, answer.rounds, answer.next_round_at)
            self._live[event_id] = live
        view.rounds, view.next_round_at = _with_live_counts(live[1], view.rounds), live[2]


#: A round's fields the intake tells live (the rest — stage, notifications, when checked — are
#: the workflow's).
LIVE_ROUND_FIELDS = ("units", "reported", "missing_count", "missing", "late")


def _with_live_counts(
    checked: list[RoundRecord], projected: list[RoundRecord]
) -> list[RoundRecord]:
    """The workflow's rounds (as it last checked them) with, for each that can still change
    (:func:`typhoon_store.round_is_live`), its counts and lists as the projection computed them
    from the intake with this build (so the board moves with each batch applied, not only at
    the round's checks). The workflow's records, cached for every build of this event number,
    are copied, never changed."""
    if not checked or not projected:
        return checked
    # Those the projection computed from the intake (of its latest three, as the store does).
    ours = {
        r.no: r
        for r in projected[-typhoon_store.ROUNDS_NAMED :]
        if typhoon_store.round_is_live(r, projected[-1].no)
    }
    latest = checked[-1].no
    merged = []
    for rec in checked:
        mine = ours.get(rec.no)
        if mine is None or not typhoon_store.round_is_live(rec, latest):
            merged.append(rec)
            continue
        update = {f: getattr(mine, f) for f in LIVE_ROUND_FIELDS}
        if mine.checked_at != rec.checked_at:  # lateness as of the workflow's own check
            minutes = typhoon_store.lateness(rec.due_at, rec.checked_at)
            update["missing"] = [
                u.model_copy(update={"late_minutes": minutes}) for u in mine.missing
            ]
        merged.append(rec.model_copy(update=update))
    return merged


_BOARDS: WeakKeyDictionary[AsyncEngine, Boards] = WeakKeyDictionary()


async def projected_board(client: Client, engine: AsyncEngine, event_id: str) -> ServedBoard | None:
    """The board from PostgreSQL (see :class:`Boards`), with its JSON; None when only the
    workflow can answer (no such event, or none of its events projected yet)."""
    boards = _BOARDS.get(engine)
    if boards is None:
        boards = _BOARDS[engine] = Boards()
    return await boards.get(client, engine, event_id)


async def season(
    engine: AsyncEngine, year: int, district: str, hazard: str = "typhoon"
) -> list[dict[str, Any]]:
    return await typhoon_store.season(engine, year, district, hazard)


# -- the response ------------------------------------------------------------------------------


async def instruct(
    client: Client, event_id: str, data: InstructionInput, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        "instruct", data, id=update_id, result_type=TyphoonBoard
    )


async def feedback(
    client: Client, event_id: str, data: FeedbackInput, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        "feedback", data, id=update_id, result_type=TyphoonBoard
    )


async def start_round(
    client: Client, event_id: str, data: RoundInput, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        "start_round", data, id=update_id, result_type=TyphoonBoard
    )


async def shelter_codes(engine: AsyncEngine, event_id: str, data: ShelterChange) -> ShelterChange:
    """The request with each shelter named by its code (names resolved in the event's
    district); a name that names no shelter, or several, is refused here."""
    codes = await typhoon_store.resolve_event_shelters(engine, event_id, data.shelters)
    return data.model_copy(update={"shelters": codes})


async def open_shelters(
    client: Client,
    engine: AsyncEngine,
    event_id: str,
    data: ShelterChange,
    update_id: str | None = None,
) -> TyphoonBoard:
    data = await shelter_codes(engine, event_id, data)
    return await typhoon_handle(client, event_id).execute_update(
        "open_shelters", data, id=update_id, result_type=TyphoonBoard
    )


async def close_shelters(
    client: Client,
    engine: AsyncEngine,
    event_id: str,
    data: ShelterChange,
    update_id: str | None = None,
) -> TyphoonBoard:
    data = await shelter_codes(engine, event_id, data)
    return await typhoon_handle(client, event_id).execute_update(
        "close_shelters", data, id=update_id, result_type=TyphoonBoard
    )


async def submit_occupancy(engine: AsyncEngine, report: OccupancyReport) -> ReportReceipt:
    """A shelter's occupancy, stored once (like a unit's report); a time in the future is
    refused."""
    refuse_future_start(report.as_of, "as_of")
    return await typhoon_store.submit_occupancy(engine, report)


async def event_shelters(engine: AsyncEngine, event_id: str) -> list[dict[str, Any]]:
    return await typhoon_store.event_shelters(engine, event_id)


async def round_units(
    engine: AsyncEngine, event_id: str, no: int | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A round (the latest by default) and each reporting unit's status in it, live from the
    intake: reported, late (after the deadline) or missing (未报)."""
    latest = await typhoon_store.latest_round(engine, event_id)
    if latest is None:
        return None, []
    no = no or latest["round_no"]
    return {**latest, "round_no": no}, await typhoon_store.round_units(engine, event_id, no)


async def shelter_unit(engine: AsyncEngine, event_id: str, shelter: str) -> str | None:
    """The unit a shelter (code or name, in the event's district) belongs to; None if none."""
    try:
        code = (await typhoon_store.resolve_event_shelters(engine, event_id, [shelter]))[0]
    except (typhoon_store.ReportRejected, ValueError):
        return None
    return await typhoon_store.shelter_unit(engine, code)


async def listed(
    engine: AsyncEngine, district: str, live: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The district's typhoons and other events, newest first, from their register line."""
    return await typhoon_store.list_events(engine, district, live, limit)
