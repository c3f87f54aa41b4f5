"""Typhoon event (台风): one workflow per typhoon and district, ID ``typhoon:{year}:{number}``.

Reports do not travel through this workflow: they are validated and stored once by the intake
(PostgreSQL), and this workflow applies them in batches through an activity — often while they
flow, backing off when quiet — and keeps the live board: each 街镇's totals, the district total,
the peak sheltered. Level and warning changes are updates, timestamped. Closing needs the warning
lifted; it stops the intake, applies what is left, and the totals are final.

The response (events opened since it was kept: ``rules.actions``): each level starts its
actions once (叫应, shelters to open, instructions to the 街镇 whose feedback falls due); the duty
officer opens and closes shelters, whose occupancy is reported like a unit's figures; reporting
rounds list the units that have not reported, remind and escalate; closing needs the response
ended (level none). The same workflow serves 暴雨 and 寒潮 (``open.hazard``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.base import (
    FUTURE_SLACK,
    Guarded,
    OutboxWorkflow,
    actor,
    check_step_time,
    filled_in,
    invalid,
    once,
    once_validated,
)

with workflow.unsafe.imports_passed_through():
    from activities.typhoon import TyphoonActivities
    from models.fanout import CallLevel, FanoutInput, FanoutIssue
    from models.typhoon import (
        INSTRUCTIONS_MAX,
        ROUNDS_KEPT,
        SHELTERS_OPEN_MAX,
        ActionKind,
        ActionRecord,
        ApplyInput,
        CloseTyphoon,
        EventRef,
        FeedbackInput,
        FeedbackMark,
        Hazard,
        Instruction,
        InstructionInput,
        InstructionLine,
        InstructionRow,
        LevelChange,
        LevelRecord,
        Mismatch,
        RegisterInput,
        ResponseLevel,
        RoundCheck,
        RoundInput,
        RoundOpen,
        RoundRecord,
        ShelterChange,
        ShelterLine,
        ShelterOpenInput,
        TownTotals,
        TyphoonBoard,
        TyphoonEvent,
        TyphoonProjection,
        TyphoonState,
        TyphoonStatus,
        TyphoonWorkflowInput,
        WarningColour,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
TIMEOUT = timedelta(seconds=60)
CALL_PATCH = "typhoon-starts-warning"
#: The response (actions per level, instructions, rounds, shelters) and the close that needs it
#: ended: only events whose rules carry ``actions`` reach these paths.
RESPONSE_PATCH = "typhoon-response"
#: Rounds whose lists of units the state keeps whole (older ones keep their counts).
ROUNDS_NAMED = 3
#: Levels and colours in rising order (``lifted`` ranks with ``none``).


def _rank(value: ResponseLevel | WarningColour) -> int:
    """The rank of a level among levels, or of a colour among colours."""
    levels, colours = (
        ["none", "IV", "III", "II", "I"],
        ["none", "lifted", "blue", "yellow", "orange", "red"],
    )
    order = levels if isinstance(value, ResponseLevel) else colours
    return max(order.index(value.value), 0) if value.value != "lifted" else 0


@workflow.defn(name="Typhoon")
class TyphoonWorkflow(OutboxWorkflow, Guarded):
    @workflow.init
    def __init__(self, data: TyphoonWorkflowInput) -> None:
        self._applying = False
        self._apply_lock = asyncio.Lock()
        self._interval = 0.0
        self._next_apply_at: datetime | None = None
        self._registered = data.state is not None
        if data.state is not None:
            self.s = data.state
            self._init_outbox(data.outbox, self.s.seq)
        else:
            assert data.open is not None
            o = data.open
            opened_at = o.at
            if opened_at is not None and opened_at > workflow.now() + FUTURE_SLACK:
                opened_at = None  # the services refuse it; a client that did not is timed now
            self.s = TyphoonState(
                open=o,
                rules=data.rules,
                levels=[
                    LevelRecord(
                        at=opened_at or workflow.now(),
                        level=o.level,
                        warning=o.warning,
                        by=o.opened_by,
                    )
                ],
                historical=data.historical,
            )
            self._init_outbox([], 0)
            self._emit(
                "opened",
                {
                    "name": o.name,
                    "district": o.district,
                    "by": o.opened_by,
                    "level": o.level.value,
                    "warning": o.warning.value,
                },
                at=opened_at,
            )
            if data.historical and opened_at is None:
                # A past typhoon opened without its time: its first level change may be earlier.
                self.s.last_at = None
        self._interval = self.s.rules.apply_min_seconds

    @property
    def _event_id(self) -> str:
        return self.s.open.event_id

    @workflow.run
    async def run(self, data: TyphoonWorkflowInput) -> TyphoonBoard:
        if not self._registered:
            await workflow.execute_activity_method(
                TyphoonActivities.register_typhoon,
                RegisterInput(open=self.s.open, workflow_id=workflow.info().workflow_id),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            self._registered = True
            if self._responding() and workflow.patched(RESPONSE_PATCH):
                # Opened at a level: that level's actions start now, and the rounds.
                first = self.s.levels[0]
                opening = LevelChange(level=first.level, warning=first.warning, by=first.by)
                await self._respond(first.level, first.by, first.at, opening, 1)
        self._next_apply_at = workflow.now()
        await self._loop_until(lambda: self.s.status is TyphoonStatus.CLOSED)
        if self.s.status is TyphoonStatus.CLOSED:
            await self._project_all()
            return self._board()
        workflow.logger.info(
            "continuing as new",
            extra={"batches": self.s.batches_applied, "carried_events": len(self._outbox)},
        )
        workflow.continue_as_new(TyphoonWorkflowInput(state=self.s, outbox=self._outbox))

    async def _project(self, batch: list[TyphoonEvent]) -> None:
        touched = {e.detail["instruction"] for e in batch if "instruction" in e.detail}
        await workflow.execute_activity_method(
            TyphoonActivities.project_typhoon,
            TyphoonProjection(
                workflow_id=workflow.info().workflow_id,
                board=self._board(),
                events=batch,
                instructions=[
                    self._instruction_row(i) for i in self.s.instructions if i.id in touched
                ],
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )

    def _emit(self, kind: str, detail: dict | None = None, at: datetime | None = None) -> int:
        """Record an event at ``at`` (a past step's time) or now."""
        when = at or workflow.now()
        self.s.seq += 1
        if self.s.last_at is None or when > self.s.last_at:
            self.s.last_at = when
        self._outbox.append(TyphoonEvent(seq=self.s.seq, at=when, kind=kind, detail=detail or {}))
        return self.s.seq

    # -- applying reports -----------------------------------------------------------------------

    def _next_wake(self) -> datetime | None:
        if self.s.status is not TyphoonStatus.OPEN:
            return None
        wakes = [w for w in (self._next_apply_at, *self._response_wakes()) if w is not None]
        return min(wakes, default=None)

    async def _on_deadline(self) -> None:
        now = workflow.now()
        response = self._response_wakes()
        if any(w <= now for w in response) and workflow.patched(RESPONSE_PATCH):
            await self._response_deadlines(now)
            response = self._response_wakes()
        # Events without a response apply whenever they wake, as they always did.
        if not response or self._next_apply_at is None or self._next_apply_at <= now:
            await self._apply()

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """One apply (or intake close) at a time. The first version waited for a flag; two
        waiters (the timer's apply and the close's) could both see it clear in one workflow
        task and apply the same batch number twice, counting its reports twice (found by the
        fault suite). Histories from before the fix replay on the old path."""
        if workflow.patched("typhoon-apply-lock"):
            async with self._apply_lock:
                yield
        else:
            await workflow.wait_condition(lambda: not self._applying)
            yield

    async def _apply(self) -> int:
        """Apply every report stored since the last batch; returns how many."""
        async with self._exclusive():
            return await self._apply_batch()

    async def _apply_batch(self) -> int:
        if self.s.status is TyphoonStatus.CLOSED:
            return 0
        self._applying = True
        try:
            batch = self.s.batches_applied + 1
            result = await workflow.execute_activity_method(
                TyphoonActivities.apply_reports,
                ApplyInput(event_id=self._event_id, batch=batch),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            s = self.s
            s.batches_applied = batch
            s.reports_applied += result.reports_applied
            for town in result.towns:
                s.towns[town.town] = town.totals
                if town.name:
                    s.town_names[town.town] = town.name
            s.district = result.district
            for sh in result.shelters:
                if sh.code in s.shelters:
                    s.shelters[sh.code].occupancy = sh.occupancy
                    s.shelters[sh.code].as_of = sh.as_of
            s.shelter_reports_applied += result.shelter_reports_applied
            if result.peak_sheltered is not None:  # a fact over the reports' own times
                s.peak_sheltered, s.peak_at = result.peak_sheltered, result.peak_at
            elif result.district.sheltered_now > s.peak_sheltered:  # results recorded before
                s.peak_sheltered, s.peak_at = result.district.sheltered_now, workflow.now()
            rules = s.rules
            if result.reports_applied or result.shelter_reports_applied:
                self._interval = rules.apply_min_seconds
            else:
                self._interval = min(self._interval * 2, rules.apply_max_seconds)
            self._next_apply_at = workflow.now() + timedelta(seconds=self._interval)
            return result.reports_applied
        finally:
            self._applying = False

    # -- updates --------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.s.status is not TyphoonStatus.OPEN:
            raise invalid(f"typhoon {self._event_id} ({self.s.open.name}) is closed")

    @workflow.update
    @once
    async def change_level(self, data: LevelChange) -> TyphoonBoard:
        self._validate_level(data)
        record = LevelRecord(
            at=data.at or workflow.now(),
            level=data.level,
            warning=data.warning,
            by=actor(data, data.by),
            note=data.note,
        )
        self.s.levels.append(record)
        seq = self._emit(
            "level_changed",
            {
                "level": data.level.value,
                "warning": data.warning.value,
                "by": actor(data, data.by),
                "note": data.note,
                **filled_in(data, data.by),
            },
            at=data.at,
        )
        if self._responding() and workflow.patched(RESPONSE_PATCH):
            previous = self.s.levels[-2].level if len(self.s.levels) > 1 else ResponseLevel.NONE
            await self._respond(data.level, actor(data, data.by), data.at, data, seq, previous)
        else:
            await self._call_if_needed(data, seq)
        await self._projected(self.s.seq)
        return self._board()

    async def _call_if_needed(
        self, data: LevelChange, seq: int, force: bool = False, thresholds: bool = True
    ) -> str | None:
        """A level or warning at or above the rules' threshold (or a level whose actions say so:
        ``force``) starts a 叫应 of the district, once per change: its id comes from the
        change's event number, so a retried update or a worker restart never starts a second
        one. Returns the warning's id, if one was started."""
        r, o = self.s.rules, self.s.open
        high_level = r.call_level is not None and _rank(data.level) >= _rank(r.call_level)
        high_colour = r.call_colour is not None and _rank(data.warning) >= _rank(r.call_colour)
        high = thresholds and (high_level or high_colour)
        if r.calls is None or not (high or force) or self.s.historical:
            return None
        if not workflow.patched(CALL_PATCH):
            return None
        if o.hazard is Hazard.TYPHOON:
            warning_id = f"TY{o.year}-{o.number:02d}-{seq}"
            title = f"台风“{o.name}”{data.warning.label}，{data.level.label}应急响应"
        else:
            warning_id = f"EV{o.year}-{o.code}-{seq}"
            title = f"{o.name}（{o.hazard.label}）{data.warning.label}，{data.level.label}应急响应"
        issue = FanoutIssue(
            warning_id=warning_id,
            title=title,
            district=o.district,
            issued_by=actor(data, data.by),
            level=CallLevel(r.call_target),
            typhoon_event_id=self._event_id,
        )
        try:
            await workflow.start_child_workflow(
                "WarningFanout",
                FanoutInput(
                    issue=issue,
                    rules=r.calls,
                    batch_size=r.call_batch_size,
                    progress_seconds=r.call_progress_seconds,
                ),
                id=f"warning:{warning_id}",
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass
        self.s.warnings = [*self.s.warnings, warning_id][-100:]
        self._emit("call_started", {"warning": warning_id, "level": data.level.value})
        return warning_id

    @change_level.validator
    @once_validated
    def _validate_level(self, data: LevelChange) -> None:
        self._require_open()
        check_step_time(data.at, self.s.last_at)
        current = self.s.levels[-1]
        if (current.level, current.warning) == (data.level, data.warning):
            raise invalid(
                f"level: already {data.level.label} with {data.warning.label}; nothing to change"
            )

    @workflow.update
    @once
    async def close(self, data: CloseTyphoon) -> TyphoonBoard:
        self._validate_close(data)
        async with self._exclusive():
            self._applying = True
            try:
                await workflow.execute_activity_method(
                    TyphoonActivities.close_intake,
                    EventRef(event_id=self._event_id),
                    start_to_close_timeout=TIMEOUT,
                    retry_policy=RETRY,
                )
            finally:
                self._applying = False
        # Everything accepted before the intake closed is applied: these totals are final.
        while await self._apply():
            pass
        s = self.s
        s.status = TyphoonStatus.CLOSED
        s.closed_at = data.at or workflow.now()
        if self._responding():
            s.next_round_at = None  # the intake's close closed its shelters too
        seq = self._emit(
            "closed",
            {
                "by": actor(data, data.by),
                **filled_in(data, data.by),
                "note": data.note,
                "final": s.district.model_dump(),
                "peak_sheltered": s.peak_sheltered,
                "reports": s.reports_applied,
            },
            at=data.at,
        )
        await self._projected(seq)
        return self._board()

    @close.validator
    @once_validated
    def _validate_close(self, data: CloseTyphoon) -> None:
        self._require_open()
        check_step_time(data.at, self.s.last_at)
        current = self.s.levels[-1]
        warning = current.warning
        if self._responding():
            # The response must be over, not only the warning lifted.
            if current.level is not ResponseLevel.NONE:
                raise invalid(
                    f"level: the response is still {current.level.label}; end it (level "
                    "change to level 'none') before closing"
                )
            if warning not in (WarningColour.LIFTED, WarningColour.NONE):
                raise invalid(
                    f"warning: still {warning.value} ({warning.label}); lift the warning "
                    "(level change with warning 'lifted') before closing"
                )
            return
        if warning is not WarningColour.LIFTED:
            raise invalid(
                f"warning: still {warning.value} ({warning.label}); lift the warning "
                "(level change with warning 'lifted') before closing"
            )

    # -- the response: actions, instructions, rounds, shelters ------------------------------------

    def _responding(self) -> bool:
        """An event opened since the response was kept (its rules carry the actions table)."""
        return self.s.rules.actions is not None

    async def _respond(
        self,
        level: ResponseLevel,
        by: str,
        at: datetime | None,
        change: LevelChange | None,
        seq: int | None = None,
        previous: ResponseLevel = ResponseLevel.NONE,
    ) -> None:
        """A level reached: its actions start, the first time the event reaches it (a 叫应 by
        the thresholds still starts on every change at or above them); rounds run while a
        response is on. A past event (``yingji load``) records its actions and calls nobody."""
        s, rules = self.s, self.s.rules
        assert rules.actions is not None
        actions = rules.actions.get(level, []) if level is not ResponseLevel.NONE else []
        first_time = level is not ResponseLevel.NONE and level not in s.levels_started
        if first_time:
            s.levels_started = [*s.levels_started, level]
        wants_call = first_time and any(a.kind is ActionKind.CALL for a in actions)
        warning_id = None
        if change is not None and seq is not None:
            # By the thresholds only when this change raised the level or the colour: lifting
            # the warning (or lowering the level) calls nobody.
            before = s.levels[-2] if len(s.levels) > 1 and seq > 1 else None
            raised = before is None or (
                _rank(change.level) > _rank(before.level)
                or _rank(change.warning) > _rank(before.warning)
            )
            warning_id = await self._call_if_needed(
                change, seq, force=wants_call, thresholds=raised
            )
        when = at or workflow.now()
        started: list[ActionRecord] = []
        if first_time:
            for action in actions:
                record = ActionRecord(at=when, level=level, kind=action.kind, text=action.text)
                if action.kind is ActionKind.CALL:
                    record.ref = warning_id or ""
                    record.done = warning_id is not None
                elif action.kind is ActionKind.INSTRUCT and not s.historical:
                    assert action.due_minutes is not None
                    made = await self._instruct(action.text, action.due_minutes, by, at, level)
                    record.ref = made.id if made is not None else ""
                    record.done = made is not None
                started.append(record)
            s.actions = [*s.actions, *started][-100:]
            if started:
                self._emit(
                    "actions_started",
                    {
                        "level": level.value,
                        "actions": [
                            {"kind": a.kind.value, "text": a.text, "ref": a.ref} for a in started
                        ],
                    },
                    at=at,
                )
        # Rounds: every N minutes while a response is on.
        r = rules.rounds
        if r is not None and r.every_minutes and not s.historical:
            if level is ResponseLevel.NONE:
                s.next_round_at = None
            elif previous is ResponseLevel.NONE or s.next_round_at is None:
                s.next_round_at = workflow.now() + timedelta(minutes=r.every_minutes)

    async def _instruct(
        self, text: str, due_minutes: int, by: str, at: datetime | None, level: ResponseLevel | None
    ) -> Instruction | None:
        """An instruction to every 街镇 of the event; None when the event has its fill."""
        s = self.s
        if len(s.instructions) >= INSTRUCTIONS_MAX:
            self._emit("instruction_refused", {"text": text, "why": "too many instructions"})
            return None
        found = await workflow.execute_activity_method(
            TyphoonActivities.towns,
            EventRef(event_id=self._event_id),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        for t in found.towns:
            s.town_names[t.code] = t.name
        issued = at or workflow.now()
        made = Instruction(
            id=f"I{len(s.instructions) + 1}",
            text=text,
            level=level,
            issued_at=issued,
            due_at=issued + timedelta(minutes=due_minutes),
            by=by,
            towns=[t.code for t in found.towns],
        )
        s.instructions = [*s.instructions, made]
        self._emit(
            "instructed",
            {
                "instruction": made.id,
                "text": text,
                "by": by,
                "due_at": made.due_at.isoformat(),
                "towns": len(made.towns),
            },
            at=at,
        )
        return made

    def _response_wakes(self) -> list[datetime]:
        s = self.s
        if s.historical or not self._responding():
            return []
        wakes = [i.due_at for i in s.instructions if not i.checked]
        if s.next_round_at is not None:
            wakes.append(s.next_round_at)
        r = s.rules.rounds
        if r is not None:
            for rec in s.rounds:
                step = self._round_step(rec)
                if step is not None:
                    wakes.append(step[1])
        return wakes

    def _round_step(self, rec: RoundRecord) -> tuple[str, datetime] | None:
        """A round's next check: its deadline, then the reminder, then the escalation."""
        r = self.s.rules.rounds
        assert r is not None
        if rec.stage == "open":
            return "due", rec.due_at
        if rec.stage == "due":
            return "remind", rec.due_at + timedelta(minutes=r.remind_minutes)
        if rec.stage == "reminded":
            return "escalate", rec.due_at + timedelta(minutes=r.escalate_minutes)
        return None

    async def _response_deadlines(self, now: datetime) -> None:
        s = self.s
        for inst in s.instructions:
            if not inst.checked and inst.due_at <= now:
                inst.checked = True
                inst.overdue = [t for t in inst.towns if t not in inst.feedback]
                self._emit(
                    "instruction_overdue" if inst.overdue else "instruction_answered",
                    {
                        "instruction": inst.id,
                        "overdue": [s.town_names.get(t, t) for t in inst.overdue][:100],
                        "answered": len(inst.feedback),
                    },
                )
        for rec in list(s.rounds):
            step = self._round_step(rec)
            while step is not None and step[1] <= now:
                await self._check_round(rec, step[0], now)
                step = self._round_step(rec)
        if s.next_round_at is not None and s.next_round_at <= now:
            r = s.rules.rounds
            assert r is not None
            s.next_round_at = now + timedelta(minutes=r.every_minutes)
            await self._open_round("system", "")

    async def _open_round(self, by: str, note: str) -> RoundRecord:
        s = self.s
        r = s.rules.rounds
        assert r is not None
        now = workflow.now()
        no = s.round_no + 1
        opened = RoundOpen(
            event_id=self._event_id,
            no=no,
            opened_at=now,
            due_at=now + timedelta(minutes=r.due_minutes),
            by=by,
        )
        status = await workflow.execute_activity_method(
            TyphoonActivities.open_round, opened, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        s.round_no = no
        rec = RoundRecord(
            no=no,
            opened_at=now,
            due_at=opened.due_at,
            by=by,
            units=status.units,
            missing_count=status.units,
        )
        previous = s.rounds[-1] if s.rounds else None
        s.rounds = [*s.rounds, rec][-ROUNDS_KEPT:]
        for old in s.rounds[:-ROUNDS_NAMED]:
            old.missing, old.late, old.no_officer = [], [], []
        self._emit(
            "round_opened",
            {"round": no, "by": by, "due_at": opened.due_at.isoformat(), "note": note},
        )
        if previous is not None and previous.stage != "open":
            # Its window closed as this one opened: its lists as they end.
            await self._check_round(previous, "final", now)
        return rec

    async def _check_round(self, rec: RoundRecord, stage: str, now: datetime) -> None:
        o = self.s.open
        status = await workflow.execute_activity_method(
            TyphoonActivities.check_round,
            RoundCheck(
                event_id=self._event_id,
                name=f"{o.hazard.label}“{o.name}”" if o.hazard is Hazard.TYPHOON else o.name,
                no=rec.no,
                stage=stage,
                now=now,
                due_at=rec.due_at,
                workflow_id=workflow.info().workflow_id,
            ),
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )
        rec.units, rec.reported = status.units, status.reported
        rec.missing, rec.missing_count, rec.late = (
            status.missing,
            status.missing_count,
            status.late,
        )
        rec.checked_at = now
        if stage == "remind":
            rec.reminded = status.notified
            rec.no_officer = status.no_officer
        elif stage == "escalate":
            rec.escalated = status.notified
            rec.no_officer = status.no_officer
        rec.stage = {"due": "due", "remind": "reminded", "escalate": "escalated"}.get(
            stage, rec.stage
        )
        self._emit(
            f"round_{stage}" if stage != "final" else "round_closed",
            {
                "round": rec.no,
                "reported": status.reported,
                "missing_count": status.missing_count,
                "missing": [
                    f"{u.town}{u.name}" if u.town != u.name else u.name for u in status.missing
                ][:50],
                "late": [u.name for u in status.late][:50],
                "notified": status.notified,
            },
        )

    @workflow.update
    @once
    async def instruct(self, data: InstructionInput) -> TyphoonBoard:
        """An instruction to every 街镇 (工作指令) with its feedback deadline."""
        self._validate_instruct(data)
        await self._instruct(
            data.text, data.due_minutes, actor(data, data.by), data.at, self.s.levels[-1].level
        )
        await self._projected(self.s.seq)
        return self._board()

    @instruct.validator
    @once_validated
    def _validate_instruct(self, data: InstructionInput) -> None:
        self._require_open()
        # Not before the level it is given under was set (nor before the event opened).
        check_step_time(data.at, self.s.levels[-1].at if self.s.levels else None)
        if len(self.s.instructions) >= INSTRUCTIONS_MAX:
            raise invalid(f"text: this event already has {INSTRUCTIONS_MAX} instructions")

    @workflow.update
    @once
    async def feedback(self, data: FeedbackInput) -> TyphoonBoard:
        """A 街镇's feedback on an instruction; after the deadline it is late."""
        self._validate_feedback(data)
        inst, town = self._feedback_target(data)
        at = data.at or workflow.now()
        late = at > inst.due_at
        inst.feedback[town] = FeedbackMark(at=at, by=actor(data, data.by), late=late)
        inst.overdue = [t for t in inst.overdue if t != town]
        self._emit(
            "feedback",
            {
                "instruction": inst.id,
                "town": town,
                "name": self.s.town_names.get(town, town),
                "text": data.text,
                "by": actor(data, data.by),
                "late": late,
                **filled_in(data, data.by),
            },
            at=data.at,
        )
        await self._projected(self.s.seq)
        return self._board()

    @feedback.validator
    @once_validated
    def _validate_feedback(self, data: FeedbackInput) -> None:
        self._require_open()
        self._feedback_target(data)

    def _feedback_target(self, data: FeedbackInput) -> tuple[Instruction, str]:
        inst = next((i for i in self.s.instructions if i.id == data.instruction), None)
        if inst is None:
            known = ", ".join(i.id for i in self.s.instructions) or "none yet"
            raise invalid(f"instruction: no {data.instruction} (instructions: {known})")
        check_step_time(data.at, inst.issued_at)
        names = {self.s.town_names.get(t, t): t for t in inst.towns}
        town = data.town if data.town in inst.towns else names.get(data.town)
        if town is None:
            raise invalid(f"town: {data.town} is not a 街镇 that {inst.id} went to")
        if town in inst.feedback:
            mark = inst.feedback[town]
            raise invalid(
                f"town: {data.town} already answered {inst.id} at {mark.at.isoformat()} ({mark.by})"
            )
        return inst, town

    @workflow.update
    @once
    async def start_round(self, data: RoundInput) -> TyphoonBoard:
        """A reporting round now (on demand), besides those every N minutes."""
        self._validate_round(data)
        await self._open_round(actor(data, data.by), data.note)
        await self._projected(self.s.seq)
        return self._board()

    @start_round.validator
    @once_validated
    def _validate_round(self, data: RoundInput) -> None:
        self._require_open()
        if self.s.rules.rounds is None or self.s.historical:
            raise invalid(
                "by: this event has no reporting rounds (a past event, or opened before them)"
            )

    @workflow.update
    @once
    async def open_shelters(self, data: ShelterChange) -> TyphoonBoard:
        """Open registered shelters of the district for this event."""
        self._validate_open_shelters(data)
        s = self.s
        at = data.at or workflow.now()
        result = await workflow.execute_activity_method(
            TyphoonActivities.shelters,
            ShelterOpenInput(
                event_id=self._event_id, codes=list(dict.fromkeys(data.shelters)), at=at, by=data.by
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        if result.refused is not None:
            raise invalid(result.refused)
        for sh in result.shelters:
            s.shelters[sh.code] = sh
        for a in s.actions:
            if a.kind is ActionKind.SHELTERS and not a.done:
                a.done = True
        self._emit(
            "shelters_opened",
            {
                "shelters": [sh.name for sh in result.shelters][:100],
                "count": len(result.shelters),
                "capacity": sum(sh.capacity for sh in result.shelters),
                "by": actor(data, data.by),
                "note": data.note,
                **filled_in(data, data.by),
            },
            at=data.at,
        )
        await self._projected(self.s.seq)
        return self._board()

    @open_shelters.validator
    @once_validated
    def _validate_open_shelters(self, data: ShelterChange) -> None:
        self._require_open()
        check_step_time(data.at, None)
        already = [c for c in data.shelters if c in self.s.shelters]
        if already:
            raise invalid(f"shelters: already open: {', '.join(already[:20])}")
        total = len(self.s.shelters) + len(set(data.shelters))
        if total > SHELTERS_OPEN_MAX:
            raise invalid(f"shelters: at most {SHELTERS_OPEN_MAX} open at once ({total} asked)")

    @workflow.update
    @once
    async def close_shelters(self, data: ShelterChange) -> TyphoonBoard:
        """Close shelters of this event: they report no more."""
        self._validate_close_shelters(data)
        s = self.s
        codes = list(dict.fromkeys(data.shelters))
        await workflow.execute_activity_method(
            TyphoonActivities.shelters,
            ShelterOpenInput(
                event_id=self._event_id,
                codes=codes,
                at=data.at or workflow.now(),
                by=data.by,
                close=True,
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        names = [s.shelters.pop(c).name for c in codes if c in s.shelters]
        self._emit(
            "shelters_closed",
            {
                "shelters": names[:100],
                "count": len(names),
                "by": actor(data, data.by),
                "note": data.note,
                **filled_in(data, data.by),
            },
            at=data.at,
        )
        await self._projected(self.s.seq)
        return self._board()

    @close_shelters.validator
    @once_validated
    def _validate_close_shelters(self, data: ShelterChange) -> None:
        self._require_open()
        check_step_time(data.at, None)
        shut = [c for c in data.shelters if c not in self.s.shelters]
        if shut:
            raise invalid(f"shelters: not open for this event: {', '.join(shut[:20])}")

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def board(self) -> TyphoonBoard:
        return self._board()

    def _applied_updates(self) -> list[str]:
        return self.s.update_ids

    def _set_applied_updates(self, ids: list[str]) -> None:
        self.s.update_ids = ids

    def _stage_now(self) -> TyphoonStatus:
        return self.s.status

    def _seq_now(self) -> int:
        return self.s.seq

    def _view(self) -> TyphoonBoard:
        return self._board()

    def _board(self) -> TyphoonBoard:
        s = self.s
        o = s.open
        current = s.levels[-1]
        return TyphoonBoard(
            event_id=o.event_id,
            year=o.year,
            number=o.number,
            name=o.name,
            district=o.district,
            status=s.status,
            level=current.level,
            warning=current.warning,
            levels=list(s.levels),
            towns=[
                TownTotals(town=t, name=s.town_names.get(t, ""), totals=v)
                for t, v in sorted(s.towns.items())
            ],
            district_totals=s.district,
            peak_sheltered=s.peak_sheltered,
            peak_at=s.peak_at,
            batches_applied=s.batches_applied,
            reports_applied=s.reports_applied,
            closed_at=s.closed_at,
            last_seq=s.seq,
            warnings=list(s.warnings),
            hazard=o.hazard,
            code=o.code,
            actions=list(s.actions),
            instructions=[self._instruction_line(i) for i in s.instructions],
            shelters=[
                ShelterLine(
                    code=sh.code,
                    name=sh.name,
                    town=s.town_names.get(sh.town, sh.town),
                    capacity=sh.capacity,
                    occupancy=sh.occupancy,
                    as_of=sh.as_of,
                    over_capacity=sh.occupancy > sh.capacity,
                )
                for sh in sorted(s.shelters.values(), key=lambda x: (x.town, x.code))
            ],
            shelter_capacity=sum(sh.capacity for sh in s.shelters.values()),
            shelter_occupancy=sum(sh.occupancy for sh in s.shelters.values()),
            shelter_reports_applied=s.shelter_reports_applied,
            mismatches=self._mismatches(),
            rounds=list(s.rounds),
            next_round_at=s.next_round_at,
        )

    def _mismatches(self) -> list[Mismatch]:
        """Each 街镇 with open shelters whose units' 在住 (people in shelters now) differs from
        the occupancy its shelters report."""
        s = self.s
        occupancy: dict[str, int] = {}
        for sh in s.shelters.values():
            occupancy[sh.town] = occupancy.get(sh.town, 0) + sh.occupancy
        out = []
        for town, occupied in sorted(occupancy.items()):
            reported = s.towns[town].sheltered_now if town in s.towns else 0
            if reported != occupied:
                out.append(
                    Mismatch(
                        town=town,
                        name=s.town_names.get(town, ""),
                        sheltered_now=reported,
                        occupancy=occupied,
                    )
                )
        return out

    def _instruction_line(self, i: Instruction) -> InstructionLine:
        name = self.s.town_names
        return InstructionLine(
            id=i.id,
            text=i.text,
            level=i.level,
            issued_at=i.issued_at,
            due_at=i.due_at,
            by=i.by,
            towns=len(i.towns),
            answered=len(i.feedback),
            late=[name.get(t, t) for t, m in i.feedback.items() if m.late],
            pending=[name.get(t, t) for t in i.towns if t not in i.feedback],
            overdue=[name.get(t, t) for t in i.overdue],
        )

    def _instruction_row(self, i: Instruction) -> InstructionRow:
        return InstructionRow(
            id=i.id,
            text=i.text,
            issued_at=i.issued_at,
            due_at=i.due_at,
            towns=len(i.towns),
            answered=len(i.feedback),
            overdue=[self.s.town_names.get(t, t) for t in i.overdue],
        )
