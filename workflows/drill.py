"""Drills (应急演练): one workflow per drill (``drill:{code}``) and one per programme
(``programme:{unit_code}:{year}``).

A drill is planned (reminders go out before its date; it can be postponed or cancelled),
conducted, evaluated (the report is due N days after), and its corrective actions (整改) are
tracked to done, each flagged when overdue. A finding that shows a plan is wrong signals that
plan's lifecycle with the "problems found in a drill" revision cause. With every action done the
drill closes.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.base import (
    FUTURE_SLACK,
    Guarded,
    OutboxWorkflow,
    actor,
    check_past_date,
    check_step_time,
    clamp_time,
    filled_in,
    invalid,
    once,
    once_validated,
    require_action,
    start_of,
    step_day,
    today_in_china,
)
from workflows.plan import PlanWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.drill import DrillActivities
    from activities.notify import NotifierActivities
    from activities.programme import programme_dates
    from models.common import CHINA_TZ, EndHistory
    from models.drill import (
        DRILL_ALLOWED,
        DRILL_TERMINAL,
        ActionDoneInput,
        CancelInput,
        Conduct,
        ConductInput,
        CorrectiveAction,
        DrillAction,
        DrillCreate,
        DrillEvaluateInput,
        DrillEvent,
        DrillOutcome,
        DrillProjection,
        DrillStage,
        DrillState,
        DrillView,
        DrillWorkflowInput,
        Evaluation,
        Finding,
        Notification,
        PostponeInput,
        ProgrammeInput,
        ProgrammeView,
    )
    from models.plan import TEXT_MAX, RevisionCause, RevisionTrigger

PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
REMINDER_HOUR = time(9, 0)
#: Reminders sent at once (the rest wait for these to be delivered).
REMINDER_CHUNK = 100
#: Postponements one drill takes (each is kept in its state).
POSTPONEMENTS_MAX = 20
REMINDER_CHUNK_PATCH = "drill-reminder-chunks"


def _reminder_at(day: date, days_before: int) -> datetime:
    return datetime.combine(day - timedelta(days=days_before), REMINDER_HOUR, tzinfo=CHINA_TZ)


@workflow.defn(name="Drill")
class DrillWorkflow(OutboxWorkflow, Guarded):
    @workflow.init
    def __init__(self, data: DrillWorkflowInput) -> None:
        if data.state is not None:
            self.s = data.state
            self._init_outbox(data.outbox, self.s.seq)
            return
        assert data.create is not None
        planned_at = data.create.at
        if planned_at is not None and planned_at > workflow.now() + FUTURE_SLACK:
            planned_at = None  # the services refuse it; a client that did not is timed now
        self.s = DrillState(
            drill=data.create,
            rules=data.rules,
            scheduled_on=data.create.scheduled_on,
            historical=data.historical,
        )
        self._init_outbox([], 0)
        self._emit(
            "planned",
            data.create.organiser,
            {"scheduled_on": data.create.scheduled_on.isoformat(), "type": data.create.drill_type},
            at=planned_at,
        )
        if data.historical and planned_at is None:
            # A past drill whose planning time is not known: its steps may be earlier.
            self.s.last_at = None

    @workflow.run
    async def run(self, data: DrillWorkflowInput) -> DrillOutcome:
        await self._loop_until(lambda: self.s.stage in DRILL_TERMINAL)
        if self.s.stage in DRILL_TERMINAL:
            await self._project_all()
            return DrillOutcome(code=self.s.drill.code, stage=self.s.stage)
        workflow.continue_as_new(DrillWorkflowInput(state=self.s, outbox=self._outbox))

    async def _project(self, batch: list[DrillEvent]) -> None:
        await workflow.execute_activity_method(
            DrillActivities.project_drill,
            DrillProjection(
                workflow_id=workflow.info().workflow_id, view=self._view(), events=batch
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=PROJECTION_RETRY,
        )

    # -- deadlines ------------------------------------------------------------------------------

    def _due_reminders(self) -> list[tuple[datetime, str, int]]:
        s = self.s
        if s.stage is not DrillStage.PLANNED:
            return []
        out = []
        for days in sorted(s.rules.reminder_days, reverse=True):
            key = f"{s.scheduled_on.isoformat()}:{days}d"
            if key not in s.reminders_sent:
                out.append((_reminder_at(s.scheduled_on, days), key, days))
        return out

    def _wakes(self) -> list[datetime]:
        s = self.s
        wakes = [at for at, _, _ in self._due_reminders()]
        if s.stage is DrillStage.PLANNED and not s.date_passed_unconducted:
            wakes.append(start_of(s.scheduled_on + timedelta(days=1)))
        if s.stage is DrillStage.CONDUCTED and s.evaluation_due and not s.evaluation_overdue:
            wakes.append(start_of(s.evaluation_due + timedelta(days=1)))
        if s.stage is DrillStage.EVALUATED:
            wakes += [
                start_of(a.due_on + timedelta(days=1))
                for a in s.actions
                if a.done_on is None and not a.overdue
            ]
        return wakes

    def _next_wake(self) -> datetime | None:
        if self.s.historical:
            return None  # a past drill: each step's ``at`` decides what fell due (_catch_up)
        return min(self._wakes(), default=None)

    def _deadlines(self) -> list[tuple[datetime, str, int | str | None]]:
        """Every deadline still ahead of a historical drill: (moment, what, which)."""
        s = self.s
        out: list[tuple[datetime, str, int | str | None]] = [
            (at, "reminder", key) for at, key, _ in self._due_reminders()
        ]
        if s.stage is DrillStage.PLANNED and not s.date_passed_unconducted:
            out.append((start_of(s.scheduled_on + timedelta(days=1)), "date_passed", None))
        if s.stage is DrillStage.CONDUCTED and s.evaluation_due and not s.evaluation_overdue:
            out.append((start_of(s.evaluation_due + timedelta(days=1)), "evaluation_overdue", None))
        if s.stage is DrillStage.EVALUATED:
            out += [
                (start_of(a.due_on + timedelta(days=1)), "action_overdue", a.number)
                for a in s.actions
                if a.done_on is None and not a.overdue
            ]
        return sorted(out, key=lambda d: d[0])

    def _catch_up(
        self,
        until: datetime,
        met: tuple[str, int | str | None] | None = None,
        reminders: bool = True,
    ) -> None:
        """Historical mode: apply, in order, every deadline that fell due by ``until`` (the time
        of the step about to be applied), each logged at its own moment. ``met`` is the deadline
        this step meets: the step judges it against its own date. A past reminder is marked, not
        sent: nobody is reminded now of a drill in the past."""
        if not self.s.historical:
            return
        for moment, what, which in self._deadlines():
            if moment > until or (what, which) == met:
                continue
            if what == "reminder" and not reminders:
                continue
            self._fire(what, which, clamp_time(moment, self.s.last_at, until))

    def _fire(self, what: str, which: int | str | None, at: datetime) -> None:
        s = self.s
        if what == "reminder":
            assert isinstance(which, str)
            s.reminders_sent.append(which)
        elif what == "date_passed":
            s.date_passed_unconducted = True
            self._emit(
                "date_passed_unconducted", "system", {"scheduled_on": str(s.scheduled_on)}, at=at
            )
        elif what == "evaluation_overdue":
            assert s.evaluation_due is not None
            s.evaluation_overdue = True
            self._emit("evaluation_overdue", "system", {"due": s.evaluation_due.isoformat()}, at=at)
        elif what == "action_overdue":
            a = s.actions[int(which or 0) - 1]
            a.overdue = True
            self._emit(
                "action_overdue",
                "system",
                {"action": a.number, "owner": a.owner, "due_on": a.due_on.isoformat()},
                at=at,
            )

    def _step(self, at: datetime | None, met: tuple[str, int | str | None] | None = None) -> None:
        """Before a step is applied: in historical mode, what fell due before it."""
        self._catch_up(at or workflow.now(), met)

    def _late(self, what: str, which: int | None, moment: datetime, at: datetime | None) -> None:
        """Historical mode: a step met its deadline late (by its own date); log the overdue as
        the clock would have, at the moment it fell due."""
        if self.s.historical:
            until = at or workflow.now()
            self._fire(what, which, clamp_time(moment, self.s.last_at, until))

    async def _on_deadline(self) -> None:
        s = self.s
        now = workflow.now()
        day_after = start_of(s.scheduled_on + timedelta(days=1))
        for at, key, days in self._due_reminders():
            if at <= now:
                s.reminders_sent.append(key)
                if now < day_after:  # a reminder is pointless once the day is over
                    await self._remind(key, days)
        if s.stage is DrillStage.PLANNED and not s.date_passed_unconducted and now >= day_after:
            s.date_passed_unconducted = True
            self._emit("date_passed_unconducted", "system", {"scheduled_on": str(s.scheduled_on)})
        if (
            s.stage is DrillStage.CONDUCTED
            and s.evaluation_due
            and not s.evaluation_overdue
            and now >= start_of(s.evaluation_due + timedelta(days=1))
        ):
            s.evaluation_overdue = True
            self._emit("evaluation_overdue", "system", {"due": s.evaluation_due.isoformat()})
        if s.stage is DrillStage.EVALUATED:
            for a in s.actions:
                if (
                    a.done_on is None
                    and not a.overdue
                    and now >= start_of(a.due_on + timedelta(days=1))
                ):
                    a.overdue = True
                    self._emit(
                        "action_overdue",
                        "system",
                        {"action": a.number, "owner": a.owner, "due_on": a.due_on.isoformat()},
                    )

    async def _remind(self, key: str, days: int) -> None:
        d = self.s.drill
        subject = f"演练提醒：{d.name} 将于{self.s.scheduled_on.isoformat()}举行（{days}天后）"
        scenario = d.scenario if len(d.scenario) <= 200 else d.scenario[:200] + "…"
        body = f"地点：{d.site}；情景：{scenario}；组织单位：{d.organiser}"
        recipients = list(dict.fromkeys([d.organiser, *d.participants]))
        # In chunks: a drill never has more than REMINDER_CHUNK notifications pending at once,
        # far below Temporal's 2,000 pending activities per workflow.
        chunked = workflow.patched(REMINDER_CHUNK_PATCH)
        size = REMINDER_CHUNK if chunked else max(len(recipients), 1)
        for start in range(0, len(recipients), size):
            await self._notify_all(key, subject, body, recipients[start : start + size])
        self._emit("reminder_sent", "system", {"days_before": days, "recipients": recipients})

    async def _notify_all(self, key: str, subject: str, body: str, recipients: list[str]) -> None:
        wid = workflow.info().workflow_id
        results = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    NotifierActivities.notify,
                    Notification(
                        key=f"{wid}:reminder:{key}:{who}",
                        recipient=who,
                        subject=subject,
                        body=body,
                        source=wid,
                    ),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=PROJECTION_RETRY,
                )
                for who in recipients
            ),
            return_exceptions=True,
        )
        # A reminder the notifier refuses for good (the webhook answered 4xx or a redirect) is
        # recorded as failed; the others were sent, and the drill goes on.
        for who, result in zip(recipients, results, strict=True):
            if isinstance(result, ActivityError):
                why = getattr(result.cause, "message", None) or str(result.cause or result)
                self._emit("notification_failed", "system", {"recipient": who, "why": why})
            elif isinstance(result, BaseException):
                raise result

    # -- state changes --------------------------------------------------------------------------

    def _emit(
        self, kind: str, actor: str, detail: dict | None = None, at: datetime | None = None
    ) -> int:
        """Record an event at ``at`` (a past step's time) or now."""
        when = at or workflow.now()
        self.s.seq += 1
        if self.s.last_at is None or when > self.s.last_at:
            self.s.last_at = when
        self._outbox.append(
            DrillEvent(
                seq=self.s.seq,
                at=when,
                kind=kind,
                stage=self.s.stage,
                actor=actor,
                detail=detail or {},
            )
        )
        return self.s.seq

    def _require(self, action: DrillAction) -> None:
        require_action(
            f"drill {self.s.drill.code}", self.s.stage, action, DRILL_ALLOWED[self.s.stage]
        )

    async def _done(self, seq: int) -> DrillView:
        await self._projected(seq)
        return self._view()

    def _close_if_done(self, at: datetime | None = None) -> None:
        if self.s.stage is DrillStage.EVALUATED and all(a.done_on for a in self.s.actions):
            self.s.stage = DrillStage.CLOSED
            self._emit("closed", "system", {"actions": len(self.s.actions)}, at=at)

    # -- updates --------------------------------------------------------------------------------

    @workflow.update
    @once
    async def postpone(self, data: PostponeInput) -> DrillView:
        self._validate_postpone(data)
        self._step(data.at)
        s = self.s
        s.postponements.append(
            {
                "from": s.scheduled_on.isoformat(),
                "to": data.new_date.isoformat(),
                "reason": data.reason,
                "by": data.by,
            }
        )
        old, s.scheduled_on = s.scheduled_on, data.new_date
        s.date_passed_unconducted = False
        seq = self._emit(
            "postponed",
            actor(data, data.by),
            {
                "from": old.isoformat(),
                "to": data.new_date.isoformat(),
                "reason": data.reason,
                **filled_in(data, data.by),
            },
            at=data.at,
        )
        return await self._done(seq)

    @postpone.validator
    @once_validated
    def _validate_postpone(self, data: PostponeInput) -> None:
        self._require(DrillAction.POSTPONE)
        check_step_time(data.at, self.s.last_at)
        if len(self.s.postponements) >= POSTPONEMENTS_MAX:
            raise invalid(
                f"new_date: drill {self.s.drill.code} was postponed {POSTPONEMENTS_MAX} times, "
                "the most one drill is; cancel it and plan it anew"
            )
        if data.at is not None:
            day = step_day(data.at)
            if data.new_date < day:
                raise invalid(f"new_date: {data.new_date} is before the step's own day ({day})")
        elif data.new_date < today_in_china():
            raise invalid(f"new_date: {data.new_date} is in the past (today is {today_in_china()})")
        if data.new_date == self.s.scheduled_on:
            raise invalid(f"new_date: the drill is already on {data.new_date}")

    @workflow.update
    @once
    async def cancel(self, data: CancelInput) -> DrillView:
        self._require(DrillAction.CANCEL)
        self._step(data.at)
        self.s.stage = DrillStage.CANCELLED
        return await self._done(
            self._emit(
                "cancelled",
                actor(data, data.by),
                {"reason": data.reason, **filled_in(data, data.by)},
                at=data.at,
            )
        )

    @cancel.validator
    @once_validated
    def _validate_cancel(self, data: CancelInput) -> None:
        self._require(DrillAction.CANCEL)
        check_step_time(data.at, self.s.last_at)

    @workflow.update
    @once
    async def conduct(self, data: ConductInput) -> DrillView:
        self._validate_conduct(data)
        # Whether the date passed undrilled is judged by the day it was conducted.
        self._step(data.at, met=("date_passed", None))
        s = self.s
        conducted_on = data.conducted_on or step_day(data.at)
        if conducted_on > s.scheduled_on and not s.date_passed_unconducted:
            self._late("date_passed", None, start_of(s.scheduled_on + timedelta(days=1)), data.at)
        s.conduct = Conduct(
            conducted_on=conducted_on,
            participant_count=data.participant_count,
            segments=data.segments,
            observations=data.observations,
        )
        s.evaluation_due = conducted_on + timedelta(days=s.rules.evaluation_due_days)
        s.stage = DrillStage.CONDUCTED
        seq = self._emit(
            "conducted",
            actor(data, data.by),
            {
                **filled_in(data, data.by),
                "conducted_on": conducted_on.isoformat(),
                "participant_count": data.participant_count,
                "segments": data.segments,
                "evaluation_due": s.evaluation_due.isoformat(),
            },
            at=data.at,
        )
        return await self._done(seq)

    @conduct.validator
    @once_validated
    def _validate_conduct(self, data: ConductInput) -> None:
        self._require(DrillAction.CONDUCT)
        check_step_time(data.at, self.s.last_at)
        check_past_date("conducted_on", data.conducted_on, at=data.at)

    @workflow.update
    @once
    async def evaluate(self, data: DrillEvaluateInput) -> DrillView:
        self._validate_evaluate(data)
        # Whether the report was late is judged by the day it was made.
        self._step(data.at, met=("evaluation_overdue", None))
        s = self.s
        assert s.conduct is not None
        evaluated_on = data.evaluated_on or step_day(data.at)
        late = bool(s.evaluation_due and evaluated_on > s.evaluation_due)
        if late and s.evaluation_due and not s.evaluation_overdue:
            self._late(
                "evaluation_overdue",
                None,
                start_of(s.evaluation_due + timedelta(days=1)),
                data.at,
            )
        s.evaluation = Evaluation(
            evaluator=data.evaluator,
            third_party=data.third_party,
            summary=data.summary,
            evaluated_on=evaluated_on,
            late=late,
        )
        s.findings = [
            Finding(number=i, **f.model_dump()) for i, f in enumerate(data.findings, start=1)
        ]
        s.actions = [
            CorrectiveAction(
                number=i,
                finding=a.finding,
                description=a.description,
                owner=a.owner,
                due_on=a.due_on,
            )
            for i, a in enumerate(data.actions, start=1)
        ]
        s.stage = DrillStage.EVALUATED
        self._emit(
            "evaluated",
            actor(data, data.evaluator),
            {
                **filled_in(data, data.evaluator),
                "third_party": data.third_party,
                "findings": len(s.findings),
                "actions": len(s.actions),
                "late": s.evaluation.late,
            },
            at=data.at,
        )
        for finding in s.findings:
            if finding.plan_defect and finding.plan_code:
                await self._reopen_plan(finding, data.at)
        self._close_if_done(data.at)
        return await self._done(self.s.seq)

    @evaluate.validator
    @once_validated
    def _validate_evaluate(self, data: DrillEvaluateInput) -> None:
        self._require(DrillAction.EVALUATE)
        check_step_time(data.at, self.s.last_at)
        conducted_on = self.s.conduct.conducted_on if self.s.conduct else None
        check_past_date("evaluated_on", data.evaluated_on, conducted_on, at=data.at)
        linked = self.s.drill.linked_plans
        for i, f in enumerate(data.findings):
            if f.plan_defect and f.plan_code not in linked:
                raise invalid(
                    f"findings[{i}].plan_code: '{f.plan_code}' is not a plan this drill exercises "
                    f"(linked plans: {', '.join(linked) or 'none'})"
                )
        for i, a in enumerate(data.actions):
            if conducted_on and a.due_on < conducted_on:
                raise invalid(
                    f"actions[{i}].due_on: {a.due_on} is before the drill ({conducted_on})"
                )

    async def _reopen_plan(self, finding: Finding, at: datetime | None = None) -> None:
        """Signal the linked plan: 在应急演练中发现问题需要作出重大调整.

        A past evaluation (``at``) gives the cause its time; the plan uses it if it can."""
        d = self.s.drill
        trigger = RevisionTrigger(
            cause=RevisionCause.RESPONSE_OR_DRILL_FINDINGS,
            # derived text: cut to the field's bound (a long finding must not fail the task)
            detail=f"{d.name}演练发现：{finding.description}"[:TEXT_MAX],
            source=f"drill:{d.code}",
            trigger_id=f"drill:{d.code}:finding:{finding.number}",
            at=at,
        )
        handle = workflow.get_external_workflow_handle_for(
            PlanWorkflow.run, f"plan:{finding.plan_code}"
        )
        try:
            await handle.signal(PlanWorkflow.trigger_revision, trigger)
            finding.plan_notified = True
            self._emit(
                "plan_revision_requested",
                "system",
                {"plan": finding.plan_code, "finding": finding.number},
                at=at,
            )
        except ApplicationError as err:
            finding.plan_notify_error = str(err)
            workflow.logger.warning(
                "could not signal plan", extra={"plan": finding.plan_code, "error": str(err)}
            )
            self._emit(
                "plan_revision_request_failed",
                "system",
                {"plan": finding.plan_code, "finding": finding.number, "error": str(err)},
                at=at,
            )

    @workflow.update
    @once
    async def action_done(self, data: ActionDoneInput) -> DrillView:
        self._validate_action_done(data)
        # Whether this action was overdue is judged by the day it was done.
        self._step(data.at, met=("action_overdue", data.action))
        s = self.s
        action = s.actions[data.action - 1]
        action.done_on = data.done_on or step_day(data.at)
        if action.done_on > action.due_on and not action.overdue:
            self._late(
                "action_overdue",
                action.number,
                start_of(action.due_on + timedelta(days=1)),
                data.at,
            )
        action.done_by = data.by
        action.note = data.note
        self._emit(
            "action_done",
            actor(data, data.by),
            {
                **filled_in(data, data.by),
                "action": action.number,
                "done_on": action.done_on.isoformat(),
                "was_overdue": action.overdue,
            },
            at=data.at,
        )
        self._close_if_done(data.at)
        return await self._done(s.seq)

    @action_done.validator
    @once_validated
    def _validate_action_done(self, data: ActionDoneInput) -> None:
        self._require(DrillAction.ACTION_DONE)
        check_step_time(data.at, self.s.last_at)
        if data.action > len(self.s.actions):
            raise invalid(
                f"action: no corrective action {data.action} (there are {len(self.s.actions)})"
            )
        if self.s.actions[data.action - 1].done_on is not None:
            raise invalid(f"action: corrective action {data.action} is already done")
        conducted_on = self.s.conduct.conducted_on if self.s.conduct else None
        check_past_date("done_on", data.done_on, conducted_on, at=data.at)

    @workflow.update
    async def end_history(self, data: EndHistory) -> DrillView:
        """The load of a past drill is over: what fell due since its last step is judged against
        today, and from now on reminders and deadlines run by the clock (a reminder still
        useful goes out then). A live drill: nothing to do."""
        if self.s.historical:
            self._catch_up(workflow.now(), reminders=False)
            self.s.historical = False
            self._rewake = True
            workflow.logger.info("historical drill goes live", extra={"by": data.by})
        return await self._done(self.s.seq)

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> DrillView:
        return self._view()

    def _applied_updates(self) -> list[str]:
        return self.s.update_ids

    def _set_applied_updates(self, ids: list[str]) -> None:
        self.s.update_ids = ids

    def _stage_now(self) -> DrillStage:
        return self.s.stage

    def _seq_now(self) -> int:
        return self.s.seq

    def _view(self) -> DrillView:
        s = self.s
        d = s.drill
        open_actions = [a for a in s.actions if a.done_on is None]
        return DrillView(
            code=d.code,
            name=d.name,
            drill_type=d.drill_type,
            scenario=d.scenario,
            organiser=d.organiser,
            participants=list(d.participants),
            linked_plans=list(d.linked_plans),
            site=d.site,
            programme_id=d.programme_id,
            stage=s.stage,
            stage_label=s.stage.label,
            allowed_actions=list(DRILL_ALLOWED[s.stage]),
            scheduled_on=s.scheduled_on,
            postponements=list(s.postponements),
            reminders_sent=list(s.reminders_sent),
            date_passed_unconducted=s.date_passed_unconducted,
            conduct=s.conduct,
            evaluation_due=s.evaluation_due,
            evaluation_overdue=s.evaluation_overdue,
            evaluation=s.evaluation,
            findings=[f.model_copy() for f in s.findings],
            actions=[a.model_copy() for a in s.actions],
            open_actions=len(open_actions),
            overdue_actions=sum(a.overdue for a in open_actions),
            last_seq=s.seq,
            district=d.district,
        )


@workflow.defn(name="DrillProgramme")
class ProgrammeWorkflow:
    """A unit's drill programme for a year: starts each drill workflow ahead of its date.

    A programme is bounded (a year's cadences: a few dozen drills at most), so its history stays
    far below Temporal's limits without continue-as-new.
    """

    @workflow.init
    def __init__(self, data: ProgrammeInput) -> None:
        self.p = data
        self.v = ProgrammeView(
            programme_id=workflow.info().workflow_id,
            unit=data.unit,
            year=data.year,
            items=data.items,
            drills=[],
            calendar_exact=True,
            revision=0,
        )

    @workflow.run
    async def run(self, data: ProgrammeInput) -> ProgrammeView:
        dates = await workflow.execute_activity(
            programme_dates, data, start_to_close_timeout=timedelta(seconds=30)
        )
        self.v.drills, self.v.calendar_exact = dates.drills, dates.exact
        await self._project()
        for drill in self.v.drills:
            if drill.scheduled_on < today_in_china():
                drill.status = "skipped"
                continue
            start_at = start_of(drill.scheduled_on - timedelta(days=data.lead_days))
            if start_at > workflow.now():
                await workflow.sleep(start_at - workflow.now())
            item = next(i for i in data.items if i.key == drill.item)
            create = DrillCreate(
                code=drill.code,
                name=drill.name,
                drill_type=item.drill_type,
                scenario=item.scenario,
                organiser=data.unit,
                participants=data.participants,
                linked_plans=item.linked_plans,
                site=item.site,
                scheduled_on=drill.scheduled_on,
                programme_id=self.v.programme_id,
                district=data.district,
            )
            try:
                await workflow.start_child_workflow(
                    DrillWorkflow.run,
                    DrillWorkflowInput(create=create, rules=data.rules),
                    id=f"drill:{drill.code}",
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
                drill.status = "started"
            except WorkflowAlreadyStartedError:
                drill.status = "already_exists"
            await self._project()
        await self._project()
        return self.v

    async def _project(self) -> None:
        self.v.revision += 1
        await workflow.execute_activity_method(
            DrillActivities.project_programme,
            self.v,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=PROJECTION_RETRY,
        )

    @workflow.query
    def view(self) -> ProgrammeView:
        return self.v
