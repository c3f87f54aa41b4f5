"""Typhoon event (台风): one workflow per typhoon and district, ID ``typhoon:{year}:{number}``.

Reports do not travel through this workflow: they are validated and stored once by the intake
(PostgreSQL), and this workflow applies them in batches through an activity — often while they
flow, backing off when quiet — and keeps the live board: each 街镇's totals, the district total,
the peak sheltered. Level and warning changes are updates, timestamped. Closing needs the warning
lifted; it stops the intake, applies what is left, and the totals are final.
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
        ApplyInput,
        CloseTyphoon,
        EventRef,
        LevelChange,
        LevelRecord,
        RegisterInput,
        ResponseLevel,
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
        await workflow.execute_activity_method(
            TyphoonActivities.project_typhoon,
            TyphoonProjection(
                workflow_id=workflow.info().workflow_id, board=self._board(), events=batch
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
        return self._next_apply_at if self.s.status is TyphoonStatus.OPEN else None

    async def _on_deadline(self) -> None:
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
            if result.peak_sheltered is not None:  # a fact over the reports' own times
                s.peak_sheltered, s.peak_at = result.peak_sheltered, result.peak_at
            elif result.district.sheltered_now > s.peak_sheltered:  # results recorded before
                s.peak_sheltered, s.peak_at = result.district.sheltered_now, workflow.now()
            rules = s.rules
            if result.reports_applied:
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
        await self._call_if_needed(data, seq)
        await self._projected(self.s.seq)
        return self._board()

    async def _call_if_needed(self, data: LevelChange, seq: int) -> None:
        """A level or warning at or above the rules' threshold starts a 叫应 of the district,
        once per change: its id comes from the change's event number, so a retried update or a
        worker restart never starts a second one."""
        r, o = self.s.rules, self.s.open
        high_level = r.call_level is not None and _rank(data.level) >= _rank(r.call_level)
        high_colour = r.call_colour is not None and _rank(data.warning) >= _rank(r.call_colour)
        if r.calls is None or not (high_level or high_colour) or self.s.historical:
            return
        if not workflow.patched(CALL_PATCH):
            return
        warning_id = f"TY{o.year}-{o.number:02d}-{seq}"
        issue = FanoutIssue(
            warning_id=warning_id,
            title=f"台风“{o.name}”{data.warning.label}，{data.level.label}应急响应",
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
        warning = self.s.levels[-1].warning
        if warning is not WarningColour.LIFTED:
            raise invalid(
                f"warning: still {warning.value} ({warning.label}); lift the warning "
                "(level change with warning 'lifted') before closing"
            )

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
        )
