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

from workflows.base import (
    OutboxWorkflow,
    check_past_date,
    require_action,
    start_of,
    today_in_china,
)

with workflow.unsafe.imports_passed_through():
    from activities.calendar import add_working_days
    from activities.plan import PlanActivities
    from models.plan import (
        ALLOWED_ACTIONS,
        REVIEW_STAGES,
        TERMINAL_STAGES,
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
SEEN_TRIGGER_IDS_KEPT = 500
STAGE_ATTRIBUTE_PATCH = "stage-search-attribute"


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@workflow.defn(name="PlanLifecycle")
class PlanWorkflow(OutboxWorkflow):
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
        self.s = PlanState(
            plan=data.create, rules=data.rules, stage=PlanStage.DRAFTING, stage_since=workflow.now()
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
        )

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
                workflow_id=workflow.info().workflow_id, view=self._view(), events=batch
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=PROJECTION_RETRY,
        )

    def _next_wake(self) -> datetime | None:
        s = self.s
        if s.stage is PlanStage.ISSUED and s.filing_due and not s.filing_due.overdue:
            return start_of(s.filing_due.due + timedelta(days=1))
        if s.stage is PlanStage.IN_FORCE and s.evaluation_due:
            return start_of(s.evaluation_due.due)
        if (
            s.stage is PlanStage.UNDER_EVALUATION
            and s.evaluation_due
            and not s.evaluation_due.overdue
        ):
            return start_of(s.evaluation_due.due + timedelta(days=1))
        return None

    async def _on_deadline(self) -> None:
        s = self.s
        now = workflow.now()
        if s.stage is PlanStage.ISSUED and s.filing_due and not s.filing_due.overdue:
            if now >= start_of(s.filing_due.due + timedelta(days=1)):
                s.filing_due.overdue = True
                self._emit(
                    "filing_overdue", s.stage, "system", {"due": s.filing_due.due.isoformat()}
                )
                workflow.logger.warning("plan filing overdue", extra={"due": str(s.filing_due.due)})
        elif s.stage is PlanStage.IN_FORCE and s.evaluation_due:
            if now >= start_of(s.evaluation_due.due):
                self._move(
                    PlanStage.UNDER_EVALUATION,
                    "evaluation_opened",
                    "system",
                    {"due": s.evaluation_due.due.isoformat()},
                )
        elif s.stage is PlanStage.UNDER_EVALUATION and s.evaluation_due:
            if now >= start_of(s.evaluation_due.due + timedelta(days=1)):
                s.evaluation_due.overdue = True
                self._emit(
                    "evaluation_overdue",
                    s.stage,
                    "system",
                    {"due": s.evaluation_due.due.isoformat()},
                )

    # -- state changes --------------------------------------------------------------------------

    def _emit(
        self, kind: str, stage_from: PlanStage | None, actor: str, detail: dict | None = None
    ) -> int:
        self.s.seq += 1
        self._outbox.append(
            PlanEvent(
                seq=self.s.seq,
                at=workflow.now(),
                kind=kind,
                version=self.s.version,
                stage_from=stage_from,
                stage_to=self.s.stage,
                actor=actor,
                detail=detail or {},
            )
        )
        return self.s.seq

    def _move(self, to: PlanStage, kind: str, actor: str, detail: dict | None = None) -> int:
        before = self.s.stage
        self.s.stage = to
        self.s.stage_since = workflow.now()
        if workflow.patched(STAGE_ATTRIBUTE_PATCH):
            # Added after histories were recorded: older runs replay without this command.
            workflow.upsert_search_attributes([STAGE.value_set(to.value)])
        workflow.logger.info(
            "plan stage changed",
            extra={"plan": self.s.plan.code, "from": before.value, "to": to.value, "by": actor},
        )
        return self._emit(kind, before, actor, detail)

    def _start_revision(self, triggers: list[RevisionTrigger], actor: str) -> int:
        s = self.s
        s.revisions.append(
            RevisionRecord(
                version=s.version + 1,
                from_version=s.version,
                started_at=workflow.now(),
                triggers=triggers,
            )
        )
        s.pending_triggers = []
        s.evaluation_due = None
        self._revision_pending = True
        return self._move(
            PlanStage.REVISION,
            "revision_started",
            actor,
            {"to_version": s.version + 1, "causes": [t.cause.value for t in triggers]},
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
        )

    def _require(self, action: PlanAction) -> None:
        require_action(
            f"plan {self.s.plan.code}", self.s.stage, action, ALLOWED_ACTIONS[self.s.stage]
        )

    def _today(self) -> date:
        return today_in_china()

    def _check_date(self, field: str, value: date | None, not_before: date | None = None) -> None:
        check_past_date(field, value, not_before)

    async def _done(self, seq: int) -> PlanView:
        await self._projected(seq)
        return self._view()

    # -- updates --------------------------------------------------------------------------------

    @workflow.update
    async def submit(self, data: SubmitDraft) -> PlanView:
        self._require(PlanAction.SUBMIT)
        return await self._done(
            self._move(PlanStage.CONSULTATION, "submitted", data.by, {"note": data.note})
        )

    @submit.validator
    def _validate_submit(self, data: SubmitDraft) -> None:
        self._require(PlanAction.SUBMIT)

    @workflow.update
    async def review(self, data: ReviewInput) -> PlanView:
        self._require(PlanAction.REVIEW)
        s = self.s
        stage = s.stage
        s.reviews.append(
            ReviewRecord(
                stage=stage,
                reviewer=data.reviewer,
                opinion=data.opinion,
                outcome=data.outcome,
                at=workflow.now(),
            )
        )
        detail = {
            "review_stage": stage.value,
            "opinion": data.opinion,
            "outcome": data.outcome.value,
        }
        if data.outcome is ReviewOutcome.RETURN:
            seq = self._move(PlanStage.DRAFTING, "returned_with_comments", data.reviewer, detail)
        else:
            index = REVIEW_STAGES.index(stage)
            nxt = REVIEW_STAGES[index + 1] if index + 1 < len(REVIEW_STAGES) else PlanStage.APPROVAL
            seq = self._move(nxt, "review_passed", data.reviewer, detail)
        return await self._done(seq)

    @review.validator
    def _validate_review(self, data: ReviewInput) -> None:
        self._require(PlanAction.REVIEW)

    @workflow.update
    async def approve(self, data: ApproveInput) -> PlanView:
        self._require(PlanAction.APPROVE)
        self.s.approval = ApprovalRecord(
            approver=data.approver,
            approved=data.approved,
            collective_discussion=data.collective_discussion,
            opinion=data.opinion,
            at=workflow.now(),
        )
        detail = {"collective_discussion": data.collective_discussion, "opinion": data.opinion}
        if data.approved:
            seq = self._move(PlanStage.APPROVED, "approved", data.approver, detail)
        else:
            seq = self._move(PlanStage.DRAFTING, "approval_refused", data.approver, detail)
        return await self._done(seq)

    @approve.validator
    def _validate_approve(self, data: ApproveInput) -> None:
        self._require(PlanAction.APPROVE)

    @workflow.update
    async def issue(self, data: IssueInput) -> PlanView:
        self._require(PlanAction.ISSUE)
        self._check_date("issued_on", data.issued_on)
        s = self.s
        before = s.stage
        issued_on = data.issued_on or self._today()
        # Take the stage first so that no concurrent update can issue twice while we wait.
        s.stage = PlanStage.ISSUED
        s.stage_since = workflow.now()
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
            data.issuer,
            {
                "document_number": data.document_number,
                "issued_on": issued_on.isoformat(),
                "filing_due": due.due.isoformat(),
                "filing_due_exact": due.exact,
                "evaluation_due": s.evaluation_due.due.isoformat(),
            },
        )
        return await self._done(seq)

    @issue.validator
    def _validate_issue(self, data: IssueInput) -> None:
        self._require(PlanAction.ISSUE)
        self._check_date("issued_on", data.issued_on)

    @workflow.update
    async def file(self, data: FileInput) -> PlanView:
        self._require(PlanAction.FILE)
        s = self.s
        # An issue update may still be computing the due date.
        await workflow.wait_condition(lambda: s.filing_due is not None and s.issue is not None)
        assert s.filing_due is not None and s.issue is not None
        self._check_date("filed_on", data.filed_on, s.issue.issued_on)
        filed_on = data.filed_on or self._today()
        late = max(0, (filed_on - s.filing_due.due).days)
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
            data.filed_by,
            {"filed_with": data.filed_with, "filed_on": filed_on.isoformat(), "late_by_days": late},
        )
        s.in_force_version = s.version
        seq = self._move(PlanStage.IN_FORCE, "in_force", "system", {"version": s.version})
        if s.pending_triggers:
            seq = self._start_revision(list(s.pending_triggers), "system")
        return await self._done(seq)

    @file.validator
    def _validate_file(self, data: FileInput) -> None:
        self._require(PlanAction.FILE)
        issued_on = self.s.issue.issued_on if self.s.issue else None
        self._check_date("filed_on", data.filed_on, issued_on)

    @workflow.update
    async def evaluate(self, data: EvaluateInput) -> PlanView:
        self._require(PlanAction.EVALUATE)
        s = self.s
        s.evaluations.append(
            EvaluationRecord(
                version=s.version,
                evaluator=data.evaluator,
                outcome=data.outcome,
                findings=data.findings,
                at=workflow.now(),
            )
        )
        detail = {"outcome": data.outcome.value, "findings": data.findings}
        if data.outcome is EvaluationOutcome.STILL_VALID:
            next_due = _add_years(self._today(), s.rules.evaluation_years)
            s.evaluation_due = Deadline(
                kind=DeadlineKind.EVALUATION, due=next_due, overdue=False, exact=True
            )
            detail["next_evaluation_due"] = next_due.isoformat()
            seq = self._move(PlanStage.IN_FORCE, "evaluated_still_valid", data.evaluator, detail)
        else:
            self._emit("evaluated_revise", s.stage, data.evaluator, detail)
            trigger = RevisionTrigger(
                cause=data.cause or RevisionCause.OTHER,
                detail=data.findings,
                source=f"evaluation by {data.evaluator}",
                trigger_id=f"evaluation:{s.version}:{len(s.evaluations)}",
            )
            seq = self._start_revision([trigger], data.evaluator)
        return await self._done(seq)

    @evaluate.validator
    def _validate_evaluate(self, data: EvaluateInput) -> None:
        self._require(PlanAction.EVALUATE)

    @workflow.update
    async def withdraw(self, data: CloseInput) -> PlanView:
        self._require(PlanAction.WITHDRAW)
        return await self._done(
            self._move(PlanStage.WITHDRAWN, "withdrawn", data.by, {"reason": data.reason})
        )

    @withdraw.validator
    def _validate_withdraw(self, data: CloseInput) -> None:
        self._require(PlanAction.WITHDRAW)

    @workflow.update
    async def abolish(self, data: CloseInput) -> PlanView:
        self._require(PlanAction.ABOLISH)
        self.s.filing_due = None
        self.s.evaluation_due = None
        return await self._done(
            self._move(PlanStage.ABOLISHED, "abolished", data.by, {"reason": data.reason})
        )

    @abolish.validator
    def _validate_abolish(self, data: CloseInput) -> None:
        self._require(PlanAction.ABOLISH)

    # -- signal ---------------------------------------------------------------------------------

    @workflow.signal
    def trigger_revision(self, data: RevisionTrigger) -> None:
        """A revision cause from a person or another workflow (a drill finding, say).

        In force or under evaluation: revision starts now. Issued but not yet filed: it waits
        and starts once the plan is in force. While a version is being drafted: it is noted for
        that draft. A repeated ``trigger_id`` is recorded once.
        """
        s = self.s
        if data.trigger_id in s.seen_trigger_ids:
            workflow.logger.info(
                "duplicate revision trigger ignored", extra={"id": data.trigger_id}
            )
            return
        s.seen_trigger_ids = [*s.seen_trigger_ids, data.trigger_id][-SEEN_TRIGGER_IDS_KEPT:]
        detail = data.model_dump(mode="json")
        if s.stage in TERMINAL_STAGES or self._revision_pending:
            s.pending_triggers.append(data)
            self._emit("trigger_noted", s.stage, data.source, detail)
        elif s.stage in (PlanStage.IN_FORCE, PlanStage.UNDER_EVALUATION):
            self._emit("trigger_received", s.stage, data.source, detail)
            self._start_revision([data], data.source)
        elif s.stage in (PlanStage.ISSUED, PlanStage.FILED):
            s.pending_triggers.append(data)
            self._emit("trigger_pending", s.stage, data.source, detail)
        else:
            s.draft_triggers.append(data)
            self._emit("trigger_noted_for_draft", s.stage, data.source, detail)

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> PlanView:
        return self._view()

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
        )


__all__ = ["PlanWorkflow"]
