"""叫应 (call-and-respond) for one warning: ID ``warning:{warning_id}``.

Every responsible person is called at once, each in its own coroutine: a call through the
notifier, then a wait for that person's acknowledgement; no answer, and the call is repeated, up
to N attempts spread over M minutes. Still no answer: the person is marked 未叫醒 and the backup
(B officer or superior) is called, who may answer, as may the person, later. Each answer's time
from the first call is recorded. When every call is settled the workflow ends with the 叫应率 and
the distribution of response times.

A past warning (``issued_at`` set, from ``yingji load``) calls nobody: each acknowledgement's
``at`` decides its status. It ends when everyone has answered, or when the loader says the
scenario's answers are all in (``end_history``): whoever has not answered by then was 未叫醒.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

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
)

with workflow.unsafe.imports_passed_through():
    from activities.warning import WarningActivities
    from models.common import EndHistory
    from models.drill import Notification
    from models.warning import (
        AckInput,
        CallRecord,
        CallStatus,
        CallTarget,
        ResponseStats,
        WarningEvent,
        WarningInput,
        WarningPhase,
        WarningProjection,
        WarningView,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
TIMEOUT = timedelta(seconds=30)


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@workflow.defn(name="WarningCall")
class WarningWorkflow(OutboxWorkflow, Guarded):
    @workflow.init
    def __init__(self, data: WarningInput) -> None:
        self.issue = data.issue
        self.rules = data.rules
        self.issued_at = data.issue.issued_at or workflow.now()
        self.past = data.issue.issued_at is not None
        self.calls = {
            t.person.name: CallRecord(
                person=t.person.name,
                phone=t.person.phone,
                unit=t.unit,
                backup=t.backup.name if t.backup else None,
            )
            for t in data.issue.targets
        }
        self.finished = False
        #: The update ids applied (a warning does not continue as new: Temporal's own memory
        #: of update ids would do; kept so that every workflow answers repeats the same way).
        self.update_ids: list[str] = []
        #: A past warning's answers are all in (``end_history``).
        self.history_over = False
        self.seq = 0
        self._init_outbox([], 0)
        self._emit("issued", None, {"title": data.issue.title, "targets": len(self.calls)})

    @workflow.run
    async def run(self, data: WarningInput) -> WarningView:
        if self.past:  # a record of the past: nobody is called now, the acks tell the outcome
            for record in self.calls.values():
                record.attempts, record.first_call_at = 1, self.issued_at
            calls = list(self.calls.values())
            await self._loop_until(
                lambda: self.history_over or all(c.acked_at is not None for c in calls)
            )
            return await self._finish()
        calling = asyncio.gather(*(self._call(t) for t in data.issue.targets))
        await self._loop_until(lambda: calling.done())
        await calling
        return await self._finish()

    async def _finish(self) -> WarningView:
        self.finished = True
        self._emit("finished", None, {"rate": self._view().call_response_rate})
        await self._project_all()
        return self._view()

    async def _project(self, batch: list[WarningEvent]) -> None:
        await workflow.execute_activity_method(
            WarningActivities.project_warning,
            WarningProjection(
                workflow_id=workflow.info().workflow_id, view=self._view(), events=batch
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )

    def _emit(self, kind: str, person: str | None, detail: dict | None = None) -> int:
        self.seq += 1
        self._outbox.append(
            WarningEvent(
                seq=self.seq, at=workflow.now(), kind=kind, person=person, detail=detail or {}
            )
        )
        return self.seq

    async def _notify(self, key: str, name: str, address: str, subject: str, body: str) -> None:
        """Send a notification; one the notifier refuses for good (the webhook answered 4xx
        or a redirect) is recorded as failed and the call goes on to its next attempt."""
        wid = workflow.info().workflow_id
        message = Notification(
            key=f"{wid}:{key}", recipient=name, address=address, subject=subject, body=body,
            source=wid,
        )  # fmt: skip
        why = await refused_notification(message, TIMEOUT, RETRY)
        if why is not None:
            self._emit("notification_failed", name, {"key": key, "why": why})

    async def _call(self, target: CallTarget) -> None:
        record = self.calls[target.person.name]
        rules = self.rules
        between = timedelta(minutes=rules.window_minutes / rules.attempts)
        subject = f"【叫应】{self.issue.title}：请立即回复确认"
        for attempt in range(1, rules.attempts + 1):
            if record.acked_at is not None:
                return
            record.attempts = attempt
            if record.first_call_at is None:
                record.first_call_at = workflow.now()
            await self._notify(
                f"{record.person}:call:{attempt}",
                record.person,
                record.phone,
                subject,
                f"{self.issue.district} {self.issue.title}，发布人：{self.issue.issued_by}。"
                f"第{attempt}次呼叫。",
            )
            self._emit("called", record.person, {"attempt": attempt})
            try:
                await workflow.wait_condition(lambda: record.acked_at is not None, timeout=between)
                return
            except TimeoutError:
                continue
        if record.acked_at is not None:
            return
        record.status = CallStatus.NOT_REACHED
        record.escalated_at = workflow.now()
        self._emit(
            "not_reached", record.person, {"attempts": record.attempts, "backup": record.backup}
        )
        if target.backup is not None:
            await self._notify(
                f"{record.person}:escalate",
                target.backup.name,
                target.backup.phone,
                f"【叫应升级】{record.person}未叫醒：{self.issue.title}",
                f"{record.unit} {record.person}（{record.phone}）{rules.attempts}次呼叫未应答，"
                "请立即上门叫应。",
            )
            self._emit("escalated", record.person, {"to": target.backup.name})
        try:
            await workflow.wait_condition(
                lambda: record.acked_at is not None,
                timeout=timedelta(minutes=rules.escalation_wait_minutes),
            )
        except TimeoutError:
            self._emit("unanswered", record.person, {})

    # -- acknowledgement ------------------------------------------------------------------------

    def _record_for(self, person: str) -> CallRecord:
        for record in self.calls.values():
            if person in (record.person, record.backup):
                return record
        known = ", ".join(sorted(self.calls))
        raise invalid(f"person: '{person}' was not called for this warning (called: {known})")

    @workflow.update
    @once
    async def acknowledge(self, data: AckInput) -> WarningView:
        self._validate_ack(data)
        record = self._record_for(data.person)
        now = data.at or workflow.now()
        if self.past:
            self._settle_past_call(record, data)
        record.acked_at, record.acked_by = now, data.person
        start = record.first_call_at or self.issued_at
        record.response_seconds = (now - start).total_seconds()
        if record.status is CallStatus.CALLING:
            record.status = CallStatus.ANSWERED
        elif data.person == record.person:
            record.status = CallStatus.ANSWERED_AFTER_ESCALATION
        else:
            record.status = CallStatus.BACKUP_ANSWERED
        seq = self._emit(
            "acknowledged",
            record.person,
            {
                "by": data.person,
                "recorded_by": actor(data, data.person),
                **filled_in(data, data.person),
                "via": data.via,
                "seconds": record.response_seconds,
                "status": record.status.value,
            },
        )
        await self._projected(seq)
        return self._view()

    def _settle_past_call(self, record: CallRecord, data: AckInput) -> None:
        """A past call: answered within the call window, or after 未叫醒 and escalation."""
        assert data.at is not None
        window_end = self.issued_at + timedelta(minutes=self.rules.window_minutes)
        if data.person == record.person and data.at <= window_end:
            return
        record.status, record.escalated_at = CallStatus.NOT_REACHED, window_end
        record.attempts = self.rules.attempts

    @workflow.update
    async def end_history(self, data: EndHistory) -> WarningView:
        """A past warning's answers are all in (the loader sends this after the scenario's
        acks): whoever has not answered was not reached (未叫醒) when the call window closed,
        and the warning ends. A live warning, or one already over: nothing changes."""
        unanswered = [c for c in self.calls.values() if c.acked_at is None]
        if not self.past or self.finished or self.history_over or not unanswered:
            self.history_over = self.history_over or self.past
            return self._view()
        window_end = self.issued_at + timedelta(minutes=self.rules.window_minutes)
        seq = self.seq
        for record in unanswered:
            record.status, record.escalated_at = CallStatus.NOT_REACHED, window_end
            record.attempts = self.rules.attempts
            self._emit(
                "not_reached", record.person, {"attempts": record.attempts, "backup": record.backup}
            )
            seq = self._emit("unanswered", record.person, {})
        self.history_over = True
        workflow.logger.info("past warning ends", extra={"by": data.by})
        await self._projected(seq)
        return self._view()

    @acknowledge.validator
    @once_validated
    def _validate_ack(self, data: AckInput) -> None:
        if self.finished or self.history_over:
            raise invalid(f"warning {self.issue.warning_id}: 叫应 is over")
        if not self.past and data.at is not None:
            raise invalid("at: only a past warning takes an answer time; a live answer is timed")
        if self.past:
            if data.at is None:
                raise invalid("at: required for a past warning (when the person answered)")
            if data.at < self.issued_at or data.at > workflow.now():
                raise invalid(
                    f"at: {data.at.isoformat()} is outside {self.issued_at.isoformat()} .. now"
                )
        record = self._record_for(data.person)
        if record.acked_at is not None:
            raise invalid(
                f"person: {record.person}'s call was already answered by {record.acked_by}"
            )

    # -- query ----------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> WarningView:
        return self._view()

    def _applied_updates(self) -> list[str]:
        return self.update_ids

    def _set_applied_updates(self, ids: list[str]) -> None:
        self.update_ids = ids

    def _stage_now(self) -> WarningPhase:
        over = self.finished or self.history_over
        return WarningPhase.OVER if over else WarningPhase.CALLING

    def _seq_now(self) -> int:
        return self.seq

    def _view(self) -> WarningView:
        calls = [c.model_copy() for c in self.calls.values()]
        answered = sum(c.status is CallStatus.ANSWERED for c in calls)
        times = [c.response_seconds for c in calls if c.response_seconds is not None]
        buckets = {"≤1min": 0, "1-3min": 0, "3-5min": 0, ">5min": 0}
        for t in times:
            key = (
                "≤1min" if t <= 60 else "1-3min" if t <= 180 else "3-5min" if t <= 300 else ">5min"
            )
            buckets[key] += 1
        return WarningView(
            warning_id=self.issue.warning_id,
            title=self.issue.title,
            district=self.issue.district,
            issued_by=self.issue.issued_by,
            issued_at=self.issued_at,
            finished=self.finished,
            calls=calls,
            targets=len(calls),
            answered=answered,
            not_reached=sum(c.escalated_at is not None for c in calls),
            call_response_rate=answered / len(calls),
            responses=ResponseStats(
                count=len(times),
                p50_seconds=_percentile(times, 50),
                p90_seconds=_percentile(times, 90),
                max_seconds=max(times, default=None),
                buckets=buckets,
            ),
            last_seq=self.seq,
        )
