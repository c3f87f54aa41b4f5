"""Emergency plan (应急预案) lifecycle: one workflow per plan, ID ``plan:{code}``.

drafting → consultation → expert review → legality review → approval → issued → filed → in force
→ under evaluation → (still valid: in force again | revise: revision → drafting, version + 1).
Withdrawn (before issue) and abolished (after issue) end the workflow.

Every transition is an update whose validator rejects an illegal move before it reaches history.
Every change becomes a numbered event in an outbox; the main loop projects the outbox to
PostgreSQL through an idempotent activity, and each update returns only once its own event is
projected. A revision, or Temporal's suggestion, continues the workflow as new with its whole
state once handlers are drained and the outbox is empty.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

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
)

with workflow.unsafe.imports_passed_through():
    from activities.calendar import add_working_days
    from activities.plan import PlanActivities
    from models.common import EndHistory
    from models.plan import (
        ALLOWED_ACTIONS,
        EVALUATIONS_KEPT,
        OLD_TRIGGER_DETAIL_KEPT,
        OPEN_TRIGGERS_MAX,
        REVIEW_STAGES,
        REVIEWS_KEPT,
        REVISIONS_KEPT,
        TERMINAL_STAGES,
        TRIGGERS_MAX,
        ApprovalRecord,
        ApproveInput,
        CloseInput,
        Deadline,
        DeadlineKind,
        EvaluateInput,
        EvaluationOutcome,
        EvaluationRecord,
        FileInput,
        FilingRecord,
        IssueInput,
        IssueRecord,
        PlanAction,
        PlanEvent,
        PlanOutcome,
        PlanProjection,
        PlanRow,
        PlanStage,
        PlanState,
        PlanView,
        PlanWorkflowInput,
        ReviewInput,
        ReviewOutcome,
        ReviewRecord,
        RevisionCause,
        RevisionRecord,
        RevisionTrigger,
        SubmitDraft,
        WorkingDaysInput,
    )
    from yingji.core.search import STAGE

PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
TRIGGER_BOUND_PATCH = "plan-trigger-bounds"
STAGE_ATTRIBUTE_PATCH = "stage-search-attribute"


def _compacted(revision: RevisionRecord) -> RevisionRecord:
    cut = OLD_TRIGGER_DETAIL_KEPT
    triggers = [
        t if len(t.detail) <= cut else t.model_copy(update={"detail": t.detail[:cut] + "…"})
        for t in revision.triggers
    ]
    return revision.model_copy(update={"triggers": triggers})


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@workflow.defn(name="PlanLifecycle")
class PlanWorkflow(OutboxWorkflow, Guarded):
    @workflow.init
    def __init__(self, data: PlanWorkflowInput) -> None:
        self._revision_pending = False
        if data.state is not None:
            self.s = data.state
            self._init_outbox(data.outbox, self.s.seq)
            if self.s.stage is PlanStage.REVISION:
                self._begin_revision_draft()
            return
        assert data.create is not None
        created_at = data.create.at
        if created_at is not None and created_at > workflow.now() + FUTURE_SLACK:
            created_at = None  # the services refuse it; a client that did not is timed now
        self.s = PlanState(
            plan=data.create,
            rules=data.rules,
            stage=PlanStage.DRAFTING,
            stage_since=created_at or workflow.now(),
            historical=data.historical,
        )
        self._init_outbox([], 0)
        self._emit(
            "created",
            None,
            data.create.drafter,
            {
                "kind": data.create.kind.value,
                "level": data.create.level.value,
                "unit": data.create.unit,
                "name": data.create.name,
            },
            at=created_at,
        )
        if data.historical and created_at is None:
            # A past plan whose start is not known: its first step may be earlier than the load.
            self.s.last_at = None

    # -- main loop ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: PlanWorkflowInput) -> PlanOutcome:
        await self._loop_until(lambda: self.s.stage in TERMINAL_STAGES or self._revision_pending)
        if self.s.stage in TERMINAL_STAGES:
            await self._project_all()
            return PlanOutcome(code=self.s.plan.code, stage=self.s.stage, version=self.s.version)
        workflow.logger.info(
            "continuing as new",
            extra={
                "stage": self.s.stage.value,
                "version": self.s.version,
                "seq": self.s.seq,
                "carried_events": len(self._outbox),
            },
        )
        workflow.continue_as_new(PlanWorkflowInput(state=self.s, outbox=self._outbox))

    async def _project(self, batch: list[PlanEvent]) -> None:
        await workflow.execute_activity_method(
            PlanActivities.project_plan,
            PlanProjection(
                workflow_id=workflow.info().workflow_id,
                row=self._row(),
                events=batch,
                revisions=self._revisions_opened_by(batch),
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=PROJECTION_RETRY,
        )

    def _deadline(self) -> tuple[datetime, str] | None:
        """The next deadline of the current stage: when it falls and what it does then."""
        s = self.s
        if s.stage is PlanStage.ISSUED and s.filing_due and not s.filing_due.overdue:
            return start_of(s.filing_due.due + timedelta(days=1)), "filing_overdue"
        if s.stage is PlanStage.IN_FORCE and s.evaluation_due:
            return start_of(s.evaluation_due.due), "evaluation_opened"
        if (
            s.stage is PlanStage.UNDER_EVALUATION
            and s.evaluation_due
            and not s.evaluation_due.overdue
        ):
            return start_of(s.evaluation_due.due + timedelta(days=1)), "evaluation_overdue"
        return None

    def _next_wake(self) -> datetime | None:
        if self.s.historical:
            return None  # a past plan: each step's ``at`` decides what fell due (_catch_up)
        deadline = self._deadline()
        return deadline[0] if deadline else None

    async def _on_deadline(self) -> None:
        deadline = self._deadline()
        if deadline is not None and workflow.now() >= deadline[0]:
            self._fire(deadline[1])

    def _fire(self, what: str, at: datetime | None = None) -> None:
        """Apply a deadline that has fallen due; ``at`` logs it at a past time."""
        s = self.s
        if what == "filing_overdue":
            assert s.filing_due is not None
            s.filing_due.overdue = True
            self._emit(
                "filing_overdue", s.stage, "system", {"due": s.filing_due.due.isoformat()}, at=at
            )
            workflow.logger.warning("plan filing overdue", extra={"due": str(s.filing_due.due)})
        elif what == "evaluation_opened":
            assert s.evaluation_due is not None
            self._move(
                PlanStage.UNDER_EVALUATION,
                "evaluation_opened",
                "system",
                {"due": s.evaluation_due.due.isoformat()},
                at=at,
            )
        elif what == "evaluation_overdue":
            assert s.evaluation_due is not None
            s.evaluation_due.overdue = True
            self._emit(
                "evaluation_overdue",
                s.stage,
                "system",
                {"due": s.evaluation_due.due.isoformat()},
                at=at,
            )

    def _catch_up(self, until: datetime, met: str | None = None) -> None:
        """Historical mode: apply, in order, every deadline that fell due by ``until`` (the time
        of the step about to be applied), each logged at its own moment. ``met`` is the deadline
        this step itself meets: it is judged against the step's own date by the step."""
        if not self.s.historical:
            return
        while (deadline := self._deadline()) is not None:
            moment, what = deadline
            if moment > until or what == met:
                return
            self._fire(what, clamp_time(moment, self.s.last_at, until))

    def _late(self, what: str, moment: datetime, until: datetime) -> None:
        """Historical mode: a step met its deadline late; log the overdue as the clock would
        have, at the moment it fell due."""
        if self.s.historical:
            self._fire(what, clamp_time(moment, self.s.last_at, until))

    # -- state changes --------------------------------------------------------------------------

    def _emit(
        self,
        kind: str,
        stage_from: PlanStage | None,
        actor: str,
        detail: dict | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record an event at ``at`` (a past step's time) or now."""
        when = at or workflow.now()
        self.s.seq += 1
        if self.s.last_at is None or when > self.s.last_at:
            self.s.last_at = when
        self._outbox.append(
            PlanEvent(
                seq=self.s.seq,
                at=when,
                kind=kind,
                version=self.s.version,
                stage_from=stage_from,
                stage_to=self.s.stage,
                actor=actor,
                detail=detail or {},
            )
        )
        return self.s.seq

    def _move(
        self,
        to: PlanStage,
        kind: str,
        actor: str,
        detail: dict | None = None,
        at: datetime | None = None,
    ) -> int:
        before = self.s.stage
        self.s.stage = to
        self.s.stage_since = at or workflow.now()
        if workflow.patched(STAGE_ATTRIBUTE_PATCH):
            # Added after histories were recorded: older runs replay without this command.
            workflow.upsert_search_attributes([STAGE.value_set(to.value)])
        workflow.logger.info(
            "plan stage changed",
            extra={"plan": self.s.plan.code, "from": before.value, "to": to.value, "by": actor},
        )
        return self._emit(kind, before, actor, detail, at=at)

    def _start_revision(
        self, triggers: list[RevisionTrigger], actor: str, at: datetime | None = None
    ) -> int:
        s = self.s
        # Older revisions were projected when they opened (plan_revision has their causes in
        # full): the state keeps the latest ones, their causes cut short, so it stays bounded.
        s.revisions = [_compacted(r) for r in s.revisions[-(REVISIONS_KEPT - 1) :]]
        s.revisions.append(
            RevisionRecord(
                version=s.version + 1,
                from_version=s.version,
                started_at=at or workflow.now(),
                triggers=triggers,
            )
        )
        s.pending_triggers = []
        s.evaluation_due = None
        s.draft_at = at
        self._revision_pending = True
        return self._move(
            PlanStage.REVISION,
            "revision_started",
            actor,
            {"to_version": s.version + 1, "causes": [t.cause.value for t in triggers]},
            at=at,
        )

    def _begin_revision_draft(self) -> None:
        """First step of the run that continues a revision: drafting of the next version."""
        s = self.s
        revision = s.revisions[-1]
        s.version = revision.version
        s.reviews = []
        s.approval = None
        s.filing_due = None
        # Causes that arrived while the revision was being handed over are noted for this draft.
        s.draft_triggers = [*s.draft_triggers, *s.pending_triggers]
        s.pending_triggers = []
        self._move(
            PlanStage.DRAFTING,
            "revision_drafting",
            "system",
            {"from_version": revision.from_version},
            # A revision started by a past step: its draft begins then, not when it was loaded.
            at=s.draft_at,
        )
        s.draft_at = None

    def _require(self, action: PlanAction) -> None:
        require_action(
            f"plan {self.s.plan.code}", self.s.stage, action, ALLOWED_ACTIONS[self.s.stage]
        )

    def _check_date(
        self,
        field: str,
        value: date | None,
        not_before: date | None = None,
        at: datetime | None = None,
    ) -> None:
        check_past_date(field, value, not_before, at)

    def _check_at(self, at: datetime | None) -> None:
        check_step_time(at, self.s.last_at)

    def _step(self, at: datetime | None, met: str | None = None) -> None:
        """Before a step is applied: in historical mode, what fell due before it."""
        self._catch_up(at or workflow.now(), met)

    async def _done(self, seq: int) -> PlanView:
        await self._projected(seq)
        return self._view()

    # -- updates --------------------------------------------------------------------------------

    @workflow.update
    @once
    async def submit(self, data: SubmitDraft) -> PlanView:
        self._require(PlanAction.SUBMIT)
        self._step(data.at)
        return await self._done(
            self._move(
                PlanStage.CONSULTATION,
                "submitted",
                actor(data, data.by),
                {"note": data.note, **filled_in(data, data.by)},
                at=data.at,
            )
        )

    @submit.validator
    @once_validated
    def _validate_submit(self, data: SubmitDraft) -> None:
        self._require(PlanAction.SUBMIT)
        self._check_at(data.at)

    @workflow.update
    @once
    async def review(self, data: ReviewInput) -> PlanView:
        self._require(PlanAction.REVIEW)
        self._step(data.at)
        s = self.s
        stage = s.stage
        s.reviews = [
            *s.reviews[-(REVIEWS_KEPT - 1) :],
            ReviewRecord(
                stage=stage,
                reviewer=data.reviewer,
                opinion=data.opinion,
                outcome=data.outcome,
                at=data.at or workflow.now(),
            ),
        ]
        detail = {
            "review_stage": stage.value,
            "opinion": data.opinion,
            "outcome": data.outcome.value,
            **filled_in(data, data.reviewer),
        }
        by = actor(data, data.reviewer)
        if data.outcome is ReviewOutcome.RETURN:
            seq = self._move(PlanStage.DRAFTING, "returned_with_comments", by, detail, at=data.at)
        else:
            index = REVIEW_STAGES.index(stage)
            nxt = REVIEW_STAGES[index + 1] if index + 1 < len(REVIEW_STAGES) else PlanStage.APPROVAL
            seq = self._move(nxt, "review_passed", by, detail, at=data.at)
        return await self._done(seq)

    @review.validator
    @once_validated
    def _validate_review(self, data: ReviewInput) -> None:
        self._require(PlanAction.REVIEW)
        self._check_at(data.at)

    @workflow.update
    @once
    async def approve(self, data: ApproveInput) -> PlanView:
        self._require(PlanAction.APPROVE)
        self._step(data.at)
        self.s.approval = ApprovalRecord(
            approver=data.approver,
            approved=data.approved,
            collective_discussion=data.collective_discussion,
            opinion=data.opinion,
            at=data.at or workflow.now(),
        )
        detail = {
            "collective_discussion": data.collective_discussion,
            "opinion": data.opinion,
            **filled_in(data, data.approver),
        }
        by = actor(data, data.approver)
        if data.approved:
            seq = self._move(PlanStage.APPROVED, "approved", by, detail, at=data.at)
        else:
            seq = self._move(PlanStage.DRAFTING, "approval_refused", by, detail, at=data.at)
        return await self._done(seq)

    @approve.validator
    @once_validated
    def _validate_approve(self, data: ApproveInput) -> None:
        self._require(PlanAction.APPROVE)
        self._check_at(data.at)

    @workflow.update
    @once
    async def issue(self, data: IssueInput) -> PlanView:
        self._require(PlanAction.ISSUE)
        self._check_date("issued_on", data.issued_on, at=data.at)
        self._step(data.at)
        s = self.s
        before = s.stage
        issued_on = data.issued_on or step_day(data.at)
        # Take the stage first so that no concurrent update can issue twice while we wait.
        s.stage = PlanStage.ISSUED
        s.stage_since = data.at or workflow.now()
        due = await workflow.execute_local_activity(
            add_working_days,
            WorkingDaysInput(start=issued_on, days=s.rules.filing_working_days),
            start_to_close_timeout=timedelta(seconds=10),
        )
        s.issue = IssueRecord(
            document_number=data.document_number, issuer=data.issuer, issued_on=issued_on
        )
        s.filing = None
        s.draft_triggers = []
        s.filing_due = Deadline(
            kind=DeadlineKind.FILING, due=due.due, overdue=False, exact=due.exact
        )
        s.evaluation_due = Deadline(
            kind=DeadlineKind.EVALUATION,
            due=_add_years(issued_on, s.rules.evaluation_years),
            overdue=False,
            exact=True,
        )
        seq = self._emit(
            "issued",
            before,
            actor(data, data.issuer),
            {
                **filled_in(data, data.issuer),
                "document_number": data.document_number,
                "issued_on": issued_on.isoformat(),
                "filing_due": due.due.isoformat(),
                "filing_due_exact": due.exact,
                "evaluation_due": s.evaluation_due.due.isoformat(),
            },
            at=data.at,
        )
        return await self._done(seq)

    @issue.validator
    @once_validated
    def _validate_issue(self, data: IssueInput) -> None:
        self._require(PlanAction.ISSUE)
        self._check_at(data.at)
        self._check_date("issued_on", data.issued_on, at=data.at)

    @workflow.update
    @once
    async def file(self, data: FileInput) -> PlanView:
        self._require(PlanAction.FILE)
        s = self.s
        # An issue update may still be computing the due date.
        await workflow.wait_condition(lambda: s.filing_due is not None and s.issue is not None)
        assert s.filing_due is not None and s.issue is not None
        self._check_date("filed_on", data.filed_on, s.issue.issued_on, at=data.at)
        # The filing deadline is judged against the filing date, not the moment it was logged.
        self._step(data.at, met="filing_overdue")
        filed_on = data.filed_on or step_day(data.at)
        late = max(0, (filed_on - s.filing_due.due).days)
        if late and not s.filing_due.overdue:
            self._late(
                "filing_overdue",
                start_of(s.filing_due.due + timedelta(days=1)),
                data.at or workflow.now(),
            )
        s.filing = FilingRecord(
            filed_with=data.filed_with,
            filed_by=data.filed_by,
            filed_on=filed_on,
            receipt_number=data.receipt_number,
            due=s.filing_due.due,
            late_by_days=late,
        )
        s.filing_due = None
        self._move(
            PlanStage.FILED,
            "filed",
            actor(data, data.filed_by),
            {
                "filed_with": data.filed_with,
                "filed_on": filed_on.isoformat(),
                "late_by_days": late,
                **filled_in(data, data.filed_by),
            },
            at=data.at,
        )
        s.in_force_version = s.version
        seq = self._move(
            PlanStage.IN_FORCE, "in_force", "system", {"version": s.version}, at=data.at
        )
        if s.pending_triggers:
            seq = self._start_revision(list(s.pending_triggers), "system", at=data.at)
        return await self._done(seq)

    @file.validator
    @once_validated
    def _validate_file(self, data: FileInput) -> None:
        self._require(PlanAction.FILE)
        self._check_at(data.at)
        issued_on = self.s.issue.issued_on if self.s.issue else None
        self._check_date("filed_on", data.filed_on, issued_on, at=data.at)

    @workflow.update
    @once
    async def evaluate(self, data: EvaluateInput) -> PlanView:
        self._require(PlanAction.EVALUATE)
        self._step(data.at)
        s = self.s
        s.evaluations = [
            *s.evaluations[-(EVALUATIONS_KEPT - 1) :],
            EvaluationRecord(
                version=s.version,
                evaluator=data.evaluator,
                outcome=data.outcome,
                findings=data.findings,
                at=data.at or workflow.now(),
            ),
        ]
        detail = {
            "outcome": data.outcome.value,
            "findings": data.findings,
            **filled_in(data, data.evaluator),
        }
        by = actor(data, data.evaluator)
        if data.outcome is EvaluationOutcome.STILL_VALID:
            next_due = _add_years(step_day(data.at), s.rules.evaluation_years)
            s.evaluation_due = Deadline(
                kind=DeadlineKind.EVALUATION, due=next_due, overdue=False, exact=True
            )
            detail["next_evaluation_due"] = next_due.isoformat()
            seq = self._move(PlanStage.IN_FORCE, "evaluated_still_valid", by, detail, at=data.at)
        else:
            self._emit("evaluated_revise", s.stage, by, detail, at=data.at)
            trigger = RevisionTrigger(
                cause=data.cause or RevisionCause.OTHER,
                detail=data.findings,
                # derived text: cut to the field's bound (a long name must not fail the task)
                source=f"evaluation by {data.evaluator}"[:100],
                # The event number: unique for the plan's life (the evaluations kept are not).
                trigger_id=f"evaluation:{s.version}:{s.seq + 1}",
            )
            seq = self._start_revision([trigger], by, at=data.at)
        return await self._done(seq)

    @evaluate.validator
    @once_validated
    def _validate_evaluate(self, data: EvaluateInput) -> None:
        self._require(PlanAction.EVALUATE)
        self._check_at(data.at)

    @workflow.update
    @once
    async def withdraw(self, data: CloseInput) -> PlanView:
        self._require(PlanAction.WITHDRAW)
        self._step(data.at)
        return await self._done(
            self._move(
                PlanStage.WITHDRAWN,
                "withdrawn",
                actor(data, data.by),
                {"reason": data.reason, **filled_in(data, data.by)},
                at=data.at,
            )
        )

    @withdraw.validator
    @once_validated
    def _validate_withdraw(self, data: CloseInput) -> None:
        self._require(PlanAction.WITHDRAW)
        self._check_at(data.at)

    @workflow.update
    @once
    async def abolish(self, data: CloseInput) -> PlanView:
        self._require(PlanAction.ABOLISH)
        self._step(data.at)
        self.s.filing_due = None
        self.s.evaluation_due = None
        return await self._done(
            self._move(
                PlanStage.ABOLISHED,
                "abolished",
                actor(data, data.by),
                {"reason": data.reason, **filled_in(data, data.by)},
                at=data.at,
            )
        )

    @abolish.validator
    @once_validated
    def _validate_abolish(self, data: CloseInput) -> None:
        self._require(PlanAction.ABOLISH)
        self._check_at(data.at)

    @workflow.update
    @once
    async def request_revision(self, data: RevisionTrigger) -> PlanView:
        """``trigger_revision`` as an update: a cause with a time (a past one, from
        ``yingji load``) is checked before it reaches history, and the caller gets the view
        once it is recorded. A repeated ``trigger_id`` is recorded once."""
        self._receive_trigger(data, data.at)
        return await self._done(self.s.seq)

    @request_revision.validator
    @once_validated
    def _validate_request_revision(self, data: RevisionTrigger) -> None:
        if data.trigger_id in self.s.seen_trigger_ids:
            return  # a repeat: accepted, and changes nothing
        self._check_at(data.at)
        refusal = self._trigger_refusal()
        if refusal:
            raise invalid(refusal)

    @workflow.update
    async def end_history(self, data: EndHistory) -> PlanView:
        """The load of a past plan is over: what fell due since its last step is judged against
        today, and from now on its deadlines run by the clock. A live plan: nothing to do."""
        if self.s.historical:
            self._catch_up(workflow.now())
            self.s.historical = False
            self._rewake = True
            workflow.logger.info("historical plan goes live", extra={"by": data.by})
        return await self._done(self.s.seq)

    # -- signal ---------------------------------------------------------------------------------

    @workflow.signal
    def trigger_revision(self, data: RevisionTrigger) -> None:
        """A revision cause from a person or another workflow (a drill finding, say).

        In force or under evaluation: revision starts now. Issued but not yet filed: it waits
        and starts once the plan is in force. While a version is being drafted: it is noted for
        that draft. A repeated ``trigger_id`` is recorded once.

        A signal cannot be refused: an ``at`` that is in the future or earlier than the last
        step is not used (the cause is recorded now, saying so); ``request_revision`` refuses it.
        """
        at = data.at
        if at is not None and data.trigger_id not in self.s.seen_trigger_ids:
            try:
                self._check_at(at)
            except ApplicationError as err:
                workflow.logger.warning(
                    "revision trigger time not used", extra={"id": data.trigger_id, "why": str(err)}
                )
                at = None
        self._receive_trigger(data, at)

    def _receive_trigger(self, data: RevisionTrigger, at: datetime | None) -> None:
        s = self.s
        if data.trigger_id in s.seen_trigger_ids:
            workflow.logger.info(
                "duplicate revision trigger ignored", extra={"id": data.trigger_id}
            )
            return
        refusal = self._trigger_refusal()
        if refusal and workflow.patched(TRIGGER_BOUND_PATCH):
            # A signal cannot be refused: the cause is in the event log, not held by the plan.
            workflow.logger.warning("revision trigger over the bound", extra={"why": refusal})
            detail = {**data.model_dump(mode="json", include={"cause", "source", "trigger_id"})}
            self._emit(
                "trigger_refused", s.stage, actor(data, data.source), {**detail, "why": refusal}
            )
            return
        self._step(at)
        s.seen_trigger_ids = [*s.seen_trigger_ids, data.trigger_id]
        unsent = {"actor", "expect_stage", "expect_seq"} | ({"at"} if data.at is None else set())
        detail = {**data.model_dump(mode="json", exclude=unsent), **filled_in(data, data.source)}
        who = actor(data, data.source)
        if data.at is not None and at is None:
            detail["at_not_used"] = True
        if s.stage in TERMINAL_STAGES or self._revision_pending:
            s.pending_triggers.append(data)
            self._emit("trigger_noted", s.stage, who, detail, at=at)
        elif s.stage in (PlanStage.IN_FORCE, PlanStage.UNDER_EVALUATION):
            self._emit("trigger_received", s.stage, who, detail, at=at)
            self._start_revision([data], who, at=at)
        elif s.stage in (PlanStage.ISSUED, PlanStage.FILED):
            s.pending_triggers.append(data)
            self._emit("trigger_pending", s.stage, who, detail, at=at)
        else:
            s.draft_triggers.append(data)
            self._emit("trigger_noted_for_draft", s.stage, who, detail, at=at)

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> PlanView:
        return self._view()

    def _row(self) -> PlanRow:
        return PlanRow.of(self._view())

    def _revisions_opened_by(self, batch: list[PlanEvent]) -> list[RevisionRecord]:
        versions = {e.detail.get("to_version") for e in batch if e.kind == "revision_started"}
        return [r for r in self.s.revisions if r.version in versions]

    def _trigger_refusal(self) -> str | None:
        """Why a new revision cause cannot be held, if it cannot."""
        s = self.s
        if len(s.seen_trigger_ids) >= TRIGGERS_MAX:
            return (
                f"trigger_id: plan {s.plan.code} has received {TRIGGERS_MAX} revision causes, "
                "the most one plan keeps; open a new plan code for a new plan"
            )
        if len(s.pending_triggers) + len(s.draft_triggers) >= OPEN_TRIGGERS_MAX:
            return (
                f"trigger_id: plan {s.plan.code} already holds {OPEN_TRIGGERS_MAX} causes not yet "
                "dealt with; finish the revision in hand first"
            )
        return None

    def _applied_updates(self) -> list[str]:
        return self.s.update_ids

    def _set_applied_updates(self, ids: list[str]) -> None:
        self.s.update_ids = ids

    def _stage_now(self) -> PlanStage:
        return self.s.stage

    def _seq_now(self) -> int:
        return self.s.seq

    def _view(self) -> PlanView:
        s = self.s
        deadlines = [d for d in (s.filing_due, s.evaluation_due) if d is not None]
        return PlanView(
            code=s.plan.code,
            name=s.plan.name,
            kind=s.plan.kind,
            level=s.plan.level,
            unit=s.plan.unit,
            stage=s.stage,
            stage_label=s.stage.label,
            stage_since=s.stage_since,
            version=s.version,
            in_force_version=s.in_force_version,
            allowed_actions=list(ALLOWED_ACTIONS[s.stage]),
            deadlines=[d.model_copy() for d in deadlines],
            filing_overdue=bool(s.filing_due and s.filing_due.overdue),
            evaluation_overdue=bool(s.evaluation_due and s.evaluation_due.overdue),
            issue=s.issue,
            filing=s.filing,
            reviews=list(s.reviews),
            approval=s.approval,
            evaluations=list(s.evaluations),
            revisions=list(s.revisions),
            pending_triggers=list(s.pending_triggers),
            draft_triggers=list(s.draft_triggers),
            last_seq=s.seq,
            district=s.plan.district,
            short_name=s.plan.short_name,
        )


__all__ = ["PlanWorkflow"]
