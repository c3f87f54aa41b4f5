"""A disaster process (灾害过程) and its reports: ID ``disaster:{code}``.

Report slots fall due: 初报 two hours after the event, a 续报 every day at 09:00 (data as of the
previous 24:00) until the situation is declared stable, then the 核报 N working days later. A slot
still empty after its due time reminds the officer, and later escalates to the B officer and the
unit head; a late report is accepted and marked late. The level above reviews each report: pass,
reject (the slot opens again for a resubmission), or correct. A jump beyond the set ratio against
the previous report needs a written explanation. With a typhoon tally linked, an empty
紧急转移安置 is taken from the tally. The process ends when its 核报 passes review.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.base import (
    Guarded,
    OutboxWorkflow,
    actor,
    filled_in,
    invalid,
    once,
    once_validated,
    refused_notification,
    start_of,
    today_in_china,
)

with workflow.unsafe.imports_passed_through():
    from activities.calendar import add_working_days
    from activities.disaster import DisasterActivities
    from models.common import CHINA_TZ
    from models.disaster import (
        REPORTS_IN_FULL,
        REPORTS_MAX,
        WATCHED,
        Decision,
        DisasterEvent,
        DisasterInput,
        DisasterLine,
        DisasterPhase,
        DisasterProjection,
        DisasterReportInput,
        DisasterState,
        DisasterView,
        Indicators,
        ReportKind,
        ReportRecord,
        ReportStatus,
        ReviewInput,
        Slot,
        StableInput,
    )
    from models.drill import Notification
    from models.plan import WorkingDaysInput
    from models.typhoon import EventRef
    from models.warning import Contact

NOTIFY_BESIDE_PATCH = "disaster-notify-beside"
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="DisasterProcess")
class DisasterWorkflow(OutboxWorkflow, Guarded):
    @workflow.init
    def __init__(self, data: DisasterInput) -> None:
        self.o = data.open
        self.r = data.rules
        #: Notifications under way beside the process (see _notify_soon).
        self._sending: list[asyncio.Task[None]] = []
        if data.state is not None:  # a continued run: carry on where the last one stopped
            s = data.state
            self.slots, self.reports = list(s.slots), dict(s.reports)
            self.stable_on, self.final_due, self.closed, self.seq = (
                s.stable_on,
                s.final_due,
                False,
                s.seq,
            )
            self.update_ids = list(s.update_ids)
            self._init_outbox(data.outbox, s.seq)
            return
        occurred = self.o.occurred_at
        self.slots: list[Slot] = [
            Slot(
                key="initial",
                kind=ReportKind.INITIAL,
                due=occurred + timedelta(hours=self.r.initial_hours),
                as_of=occurred,
            ),
        ]
        self._add_update_slot(occurred.astimezone(CHINA_TZ).date() + timedelta(days=1))
        self.reports: dict[str, ReportRecord] = {}
        self.stable_on: date | None = None
        self.final_due: datetime | None = None
        self.closed = False
        self.seq = 0
        self.update_ids: list[str] = []
        self._init_outbox([], 0)
        self._emit("opened", {"occurred_at": occurred.isoformat(), "by": self.o.opened_by})

    @workflow.run
    async def run(self, data: DisasterInput) -> DisasterView:
        await self._loop_until(lambda: self.closed)
        # Notifications still being tried (each for at most NOTIFY_LIMIT) finish in this run.
        await workflow.wait_condition(lambda: all(t.done() for t in self._sending))
        # The loop also stops when Temporal suggests a new run: an open process used to end
        # there, still open and unreachable. It now continues as new with what it has.
        if not self.closed and workflow.patched("disaster-continue-as-new"):
            workflow.continue_as_new(
                DisasterInput(
                    open=self.o,
                    rules=self.r,
                    state=DisasterState(
                        slots=self.slots,
                        reports=self.reports,
                        stable_on=self.stable_on,
                        final_due=self.final_due,
                        seq=self.seq,
                        update_ids=self.update_ids,
                    ),
                    outbox=self._outbox,
                )
            )
        await self._project_all()
        return self._view()

    async def _project(self, batch: list[DisasterEvent]) -> None:
        """What changed: the process's line, the reports the batch touched (in full), the
        events. Once written, older reports' towns and text leave the state (see _compact)."""
        touched = {e.detail["report"] for e in batch if "report" in e.detail}
        await workflow.execute_activity_method(
            DisasterActivities.project_disaster,
            DisasterProjection(
                workflow_id=workflow.info().workflow_id,
                line=self._line(),
                reports=[r for rid, r in self.reports.items() if rid in touched],
                events=batch,
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        self._compact()

    def _line(self) -> DisasterLine:
        return DisasterLine.of(self._view())

    def _compact(self) -> None:
        """Keep the latest REPORTS_IN_FULL reports whole; of older, reviewed ones keep the
        figures (the ratio rule and the summary need them) — their towns and text are in the
        database, written when they were submitted and reviewed."""
        older = list(self.reports.values())[:-REPORTS_IN_FULL]
        for r in older:
            if r.status is not ReportStatus.SUBMITTED and (r.towns or r.narrative or r.explanation):
                r.towns, r.narrative, r.explanation = [], "", ""

    def _emit(self, kind: str, detail: dict | None = None) -> int:
        self.seq += 1
        self._outbox.append(
            DisasterEvent(seq=self.seq, at=workflow.now(), kind=kind, detail=detail or {})
        )
        return self.seq

    # -- slots and deadlines --------------------------------------------------------------------

    def _add_update_slot(self, day: date) -> None:
        due = datetime.combine(day, datetime.min.time(), tzinfo=CHINA_TZ) + timedelta(
            hours=self.r.update_hour
        )
        self.slots.append(
            Slot(
                key=f"update:{day.isoformat()}",
                kind=ReportKind.UPDATE,
                due=due,
                as_of=start_of(day),
            )
        )

    def _is_open(self, slot: Slot) -> bool:
        if slot.report_id is None:
            return True
        return self.reports[slot.report_id].status is ReportStatus.REJECTED

    def _last_update(self) -> Slot | None:
        updates = [s for s in self.slots if s.kind is ReportKind.UPDATE]
        return updates[-1] if updates else None

    def _wakes(self) -> list[datetime]:
        wakes = []
        remind = timedelta(minutes=self.r.remind_after_minutes)
        escalate = timedelta(minutes=self.r.escalate_after_minutes)
        for slot in self.slots:
            if self._is_open(slot):
                if not slot.reminded:
                    wakes.append(slot.due + remind)
                elif not slot.escalated:
                    wakes.append(slot.due + escalate)
        last = self._last_update()
        if self.stable_on is None and last is not None:
            wakes.append(last.due)  # then the next day's 续报 falls due
        return wakes

    def _next_wake(self) -> datetime | None:
        # A historical process is a record of the past: its deadlines call nobody now.
        if self.closed or self.o.historical:
            return None
        return min(self._wakes(), default=None)

    async def _on_deadline(self) -> None:
        now = workflow.now()
        last = self._last_update()
        if self.stable_on is None and last is not None and now >= last.due:
            self._add_update_slot(last.due.astimezone(CHINA_TZ).date() + timedelta(days=1))
        for slot in list(self.slots):
            if not self._is_open(slot):
                continue
            if not slot.reminded and now >= slot.due + timedelta(
                minutes=self.r.remind_after_minutes
            ):
                slot.reminded = True
                await self._notify_soon(
                    f"{slot.key}:remind",
                    self.o.officer,
                    f"【催报】{self.o.name}{slot.kind.label}已逾期",
                    f"应于{slot.due.astimezone(CHINA_TZ):%m月%d日%H:%M}前报送，请立即报送。",
                )
                self._emit("reminded", {"slot": slot.key, "to": self.o.officer.name})
            if not slot.escalated and now >= slot.due + timedelta(
                minutes=self.r.escalate_after_minutes
            ):
                slot.escalated = True
                for who in (self.o.backup, self.o.head):
                    if who is not None:
                        await self._notify_soon(
                            f"{slot.key}:escalate:{who.name}",
                            who,
                            f"【督办】{self.o.name}{slot.kind.label}逾期未报",
                            f"灾害信息员{self.o.officer.name}未按时报送，请督促或代为报送。",
                        )
                names = [w.name for w in (self.o.backup, self.o.head) if w is not None]
                self._emit("escalated", {"slot": slot.key, "to": names})

    async def _notify_soon(self, key: str, who: Contact, subject: str, body: str) -> None:
        """A reminder or escalation: sent beside the process (its deadlines keep their time
        whatever the webhook does) in runs that began after this was patched in; awaited as
        before when replaying an older run."""
        if workflow.patched(NOTIFY_BESIDE_PATCH):
            self._sending.append(asyncio.create_task(self._notify(key, who, subject, body)))
        else:
            await self._notify(key, who, subject, body)

    async def _notify(self, key: str, who: Contact, subject: str, body: str) -> None:
        """Send a notification; one the notifier refuses for good (the webhook answered 4xx
        or a redirect) is recorded as failed and the process goes on: a refused message must
        not stop the reminders and escalation that follow."""
        wid = workflow.info().workflow_id
        message = Notification(
            key=f"{wid}:{key}",
            recipient=who.name,
            address=who.phone,
            subject=subject,
            body=body,
            source=wid,
        )
        why = await refused_notification(message, TIMEOUT, RETRY)
        if why is not None:
            self._emit("notification_failed", {"key": key, "recipient": who.name, "why": why})

    # -- reports --------------------------------------------------------------------------------

    def _slot_for(self, kind: ReportKind) -> Slot | None:
        open_slots = [s for s in self.slots if s.kind is kind and self._is_open(s)]
        if kind is ReportKind.UPDATE and not open_slots:
            return None
        return open_slots[0] if open_slots else None

    def _previous(self) -> ReportRecord | None:
        accepted = [r for r in self.reports.values() if r.status is not ReportStatus.REJECTED]
        return accepted[-1] if accepted else None

    @workflow.update
    @once
    async def submit(self, data: DisasterReportInput) -> DisasterView:
        self._validate_submit(data)
        if data.report_id in self.reports:  # the same report again: nothing changes
            return self._view()
        slot = self._slot_for(data.kind)
        if slot is None and data.kind is ReportKind.UPDATE:
            # An extra 续报 before the day's slot: it serves the next one due.
            self._add_update_slot(
                self._last_update().due.astimezone(CHINA_TZ).date() + timedelta(days=1)
            )
            slot = self._slot_for(data.kind)
        assert slot is not None
        indicators = data.indicators
        from_typhoon = False
        if indicators.relocated is None:
            tally = await workflow.execute_activity_method(
                DisasterActivities.typhoon_relocation,
                EventRef(event_id=self.o.typhoon_event_id or ""),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            try:
                indicators = Indicators.model_validate(
                    {**indicators.model_dump(), **tally.model_dump()}
                )
            except ValueError as exc:
                raise invalid(f"indicators: with the typhoon tally's figures: {exc}") from exc
            from_typhoon = True
        now = data.submitted_at or workflow.now()
        late = now > slot.due
        record = ReportRecord(
            report_id=data.report_id,
            kind=data.kind,
            slot=slot.key,
            as_of=data.as_of,
            submitted_at=now,
            late=late,
            by=data.by,
            indicators=indicators,
            towns=data.towns,
            narrative=data.narrative,
            explanation=data.explanation,
            photos=data.photos,
            relocation_from_typhoon=from_typhoon,
        )
        self.reports[data.report_id] = record
        slot.report_id, slot.submitted_at, slot.late = data.report_id, now, late
        seq = self._emit(
            "report_submitted",
            {
                "report": data.report_id,
                "kind": data.kind.value,
                "slot": slot.key,
                "late": late,
                "by": actor(data, data.by),
                **filled_in(data, data.by),
                "relocation_from_typhoon": from_typhoon,
            },
        )
        await self._projected(seq)
        return self._view()

    @submit.validator
    @once_validated
    def _validate_submit(self, data: DisasterReportInput) -> None:
        if self.closed:
            raise invalid(f"disaster {self.o.code} is closed (its 核报 has passed review)")
        if (
            data.report_id not in self.reports
            and len(self.reports) >= REPORTS_MAX
            and data.kind is not ReportKind.FINAL  # the 核报 always closes a process
        ):
            raise invalid(
                f"report_id: disaster {self.o.code} already has {REPORTS_MAX} reports, the most "
                "one process keeps; declare it stable and send its 核报"
            )
        existing = self.reports.get(data.report_id)
        if existing is not None:
            if (existing.kind, existing.as_of, existing.by) != (data.kind, data.as_of, data.by) or (
                data.indicators.relocated is not None and existing.indicators != data.indicators
            ):
                raise invalid(
                    f"report_id: {data.report_id} was already used for a different report"
                )
            return
        self._validate_submitted_at(data)
        initial = self.slots[0]
        if data.kind is ReportKind.INITIAL and not self._is_open(initial):
            raise invalid("kind: the 初报 is in; send a 续报 (update)")
        if data.kind is ReportKind.UPDATE:
            if initial.report_id is None:
                raise invalid("kind: send the 初报 (initial) first")
            if self.stable_on is not None:
                raise invalid(
                    f"kind: the situation was declared stable on {self.stable_on}; "
                    "send the 核报 (final)"
                )
        if data.kind is ReportKind.FINAL:
            if self.stable_on is None:
                raise invalid("kind: a 核报 (final) comes after the situation is declared stable")
            if self._slot_for(ReportKind.FINAL) is None:
                raise invalid("kind: the 核报 is in and waiting for review")
        if data.indicators.relocated is None and self.o.typhoon_event_id is None:
            raise invalid(
                "indicators.relocated: required (no typhoon tally is linked to this disaster)"
            )
        previous = self._previous()
        if previous is not None and not data.explanation.strip():
            for field in WATCHED:
                before, after = getattr(previous.indicators, field), getattr(data.indicators, field)
                if after is None or not before:
                    continue
                change = (after - before) / before
                if abs(change) > self.r.change_ratio:
                    raise invalid(
                        f"explanation: {field} changed from {before:g} to {after:g} "
                        f"({change:+.0%}) against report {previous.report_id}; a change over "
                        f"{self.r.change_ratio:.0%} needs an explanation"
                    )

    def _validate_submitted_at(self, data: DisasterReportInput) -> None:
        at = data.submitted_at
        if not self.o.historical:
            if at is not None:
                raise invalid(
                    "submitted_at: only a historical process takes a submission time; "
                    "a live report is timed when it arrives"
                )
            return
        if at is None:
            raise invalid("submitted_at: required for a historical process (when it was sent)")
        if at > workflow.now():
            raise invalid(f"submitted_at: {at.isoformat()} is in the future")
        if at < self.o.occurred_at:
            raise invalid(
                f"submitted_at: {at.isoformat()} is before the disaster occurred "
                f"({self.o.occurred_at.isoformat()})"
            )
        if data.kind is not ReportKind.FINAL and at < data.as_of:
            raise invalid(f"submitted_at: {at.isoformat()} is before its as_of time")

    @workflow.update
    @once
    async def review(self, data: ReviewInput) -> DisasterView:
        self._validate_review(data)
        record = self.reports[data.report_id]
        record.reviewer, record.review_reason = data.reviewer, data.reason
        if data.decision is Decision.PASS:
            record.status = ReportStatus.PASSED
        elif data.decision is Decision.REJECT:
            record.status = ReportStatus.REJECTED
            await self._notify(
                f"{data.report_id}:rejected",
                self.o.officer,
                f"【退回】{self.o.name}{record.kind.label}被退回",
                f"退回理由：{data.reason}。请修改后重新报送。",
            )
        else:
            assert data.corrected is not None
            record.status, record.indicators = ReportStatus.CORRECTED, data.corrected
        seq = self._emit(
            "reviewed",
            {
                "report": data.report_id,
                "decision": data.decision.value,
                "reviewer": data.reviewer,
                "by": actor(data, data.reviewer),
                **filled_in(data, data.reviewer),
                "reason": data.reason,
            },
        )
        if record.kind is ReportKind.FINAL and record.status is not ReportStatus.REJECTED:
            self.closed = True
            seq = self._emit("closed", {"final": data.report_id})
        await self._projected(seq)
        return self._view()

    @review.validator
    @once_validated
    def _validate_review(self, data: ReviewInput) -> None:
        record = self.reports.get(data.report_id)
        if record is None:
            raise invalid(f"report_id: no report {data.report_id} in this disaster process")
        if record.status is not ReportStatus.SUBMITTED:
            raise invalid(
                f"report_id: {data.report_id} was already reviewed ({record.status.label})"
            )
        if data.corrected is not None and data.corrected.relocated is None:
            raise invalid("corrected.relocated: give the corrected 紧急转移安置")

    @workflow.update
    @once
    async def declare_stable(self, data: StableInput) -> DisasterView:
        self._validate_stable(data)
        stable_on = data.stable_on or today_in_china()
        self.stable_on = stable_on
        # Further 续报 slots are dropped once unfilled: the situation is stable.
        self.slots = [s for s in self.slots if s.kind is not ReportKind.UPDATE or s.report_id]
        due = await workflow.execute_local_activity(
            add_working_days,
            WorkingDaysInput(start=stable_on, days=self.r.final_working_days),
            start_to_close_timeout=timedelta(seconds=10),
        )
        self.final_due = start_of(due.due + timedelta(days=1))  # by the end of that day
        self.slots.append(Slot(key="final", kind=ReportKind.FINAL, due=self.final_due))
        seq = self._emit(
            "stable",
            {
                "by": actor(data, data.by),
                **filled_in(data, data.by),
                "stable_on": stable_on.isoformat(),
                "final_due": due.due.isoformat(),
                "calendar_exact": due.exact,
            },
        )
        await self._projected(seq)
        return self._view()

    @declare_stable.validator
    @once_validated
    def _validate_stable(self, data: StableInput) -> None:
        if self.stable_on is not None:
            raise invalid(f"stable_on: already declared stable on {self.stable_on}")
        if self.slots[0].report_id is None:
            raise invalid("stable_on: no 初报 yet; the process has not started reporting")
        if data.stable_on is not None and data.stable_on > today_in_china():
            raise invalid(f"stable_on: {data.stable_on} is in the future")
        if self.o.historical and data.stable_on is None:
            raise invalid("stable_on: required for a historical process")

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> DisasterView:
        return self._view()

    def _applied_updates(self) -> list[str]:
        return self.update_ids

    def _set_applied_updates(self, ids: list[str]) -> None:
        self.update_ids = ids

    def _stage_now(self) -> DisasterPhase:
        if self.closed:
            return DisasterPhase.CLOSED
        return DisasterPhase.STABLE if self.stable_on else DisasterPhase.REPORTING

    def _seq_now(self) -> int:
        return self.seq

    def _view(self) -> DisasterView:
        now = workflow.now()
        previous = self._previous()
        return DisasterView(
            code=self.o.code,
            name=self.o.name,
            hazard=self.o.hazard,
            district=self.o.district,
            occurred_at=self.o.occurred_at,
            typhoon_event_id=self.o.typhoon_event_id,
            stable_on=self.stable_on,
            final_due=self.final_due,
            closed=self.closed,
            slots=[s.model_copy() for s in self.slots],
            reports=[r.model_copy() for r in self.reports.values()],
            latest=previous.indicators if previous else None,
            overdue=[s.key for s in self.slots if self._is_open(s) and now > s.due],
            last_seq=self.seq,
        )
