"""叫应 at a city's scale: a warning (``warning:{id}``) and its batches (``warning:{id}:{batch}``).

The warning resolves its call chains from the register (``plan_warning``: written down once),
starts one batch per 街镇 (a big 街镇 in parts of at most a few hundred chains) and keeps the
live 叫应率, the response-time distribution and each 街镇's progress from what its batches
report. A batch calls its chains: each person up to N times within M minutes, then the next in
the chain's order (未叫醒), until someone answers or nobody is left. A call is placed once its
notification is queued in the outbox; delivery runs apart (``deliver_calls``) and only marks
what it could not deliver (未送达): redials and escalation follow their timers regardless.
An answer is written to its chain's row by the service first, then signalled (``answered``);
the batch also hears of answers from its rows when it starts and at each projection, and
closes its rows when it ends (answers after that are too late).

No workflow grows with the size of the city: a batch holds at most a few hundred chains (its
history: a few events per round of calls and about four per answer), the warning holds one
progress line per batch and continues as new when Temporal suggests it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ParentClosePolicy

from workflows.base import invalid

with workflow.unsafe.imports_passed_through():
    from activities.fanout import FanoutActivities
    from models.fanout import (
        BUCKETS,
        AckResult,
        AckRouted,
        BatchInput,
        BatchLook,
        BatchProgress,
        BatchProjection,
        BatchRef,
        ChainAck,
        ChainRow,
        ChainState,
        ChainStatus,
        DeliverCalls,
        FanoutInput,
        FanoutRow,
        FanoutState,
        FanoutView,
        QueueCalls,
        QueuedCall,
        TownProgress,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
TIMEOUT = timedelta(seconds=30)
#: A delivery gives up after this (each notification is tried a few times within it).
DELIVERY_LIMIT = timedelta(minutes=2)
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
#: Calls queued by one activity.
QUEUE_CHUNK = 500
ACK_AT_ONCE_PATCH = "fanout-ack-at-once"
#: Answers are written to their chain's row first, then signalled; a batch closes its rows.
ACK_IN_DB_PATCH = "fanout-ack-in-db"
#: A batch reads its rows for answers whose signal never came, before calling a chain again and
#: this often while it calls.
LOOK_PATCH = "fanout-look-rows"
LOOK_EVERY = timedelta(seconds=30)
#: After a signal, the rows are read this much later: the service signals a batch at most once a
#: second (``SIGNAL_EVERY_SECONDS``), so the answers in between are read then.
LOOK_TRAIL = timedelta(seconds=2)
#: Answers kept for a batch that has not yet loaded its chains (they are in its rows as well).
EARLY_MAX = 2000


def _bucket(seconds: float) -> int:
    return next((i for i, limit in enumerate(BUCKETS) if seconds <= limit), len(BUCKETS))


@workflow.defn(name="WarningBatch")
class WarningBatchWorkflow:
    @workflow.init
    def __init__(self, data: BatchInput) -> None:
        self.d = data
        self.chains: dict[str, ChainState] = {}
        self.by_person: dict[str, str] = {}
        self.by_key: dict[str, str] = {}
        self.loaded = False
        #: Chains changed since the last projection, and how many projections were made.
        self.dirty: set[str] = set()
        self.version = 0
        self.projected = 0
        self.reported: BatchProgress | None = None
        self.reported_at: datetime | None = None
        self.settled_at: datetime | None = None
        #: Answers told before the chains were loaded; whether one came since the last look.
        self.early: list[ChainAck] = []
        self.poked = False
        #: The chains' rows are closed to answers (the batch is ending).
        self.closed = False
        #: When the loop's current wait ends by itself (None: only when something happens).
        self.wake_at: datetime | None = None
        #: When the batch last read its rows for answers (``LOOK_PATCH``), and when it is to
        #: read them next because answers flow (after a signal).
        self.looked_at: datetime | None = None
        self.look_soon: datetime | None = None

    # -- the calls ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: BatchInput) -> BatchProgress:
        loaded = await workflow.execute_activity_method(
            FanoutActivities.batch_chains, data, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        for chain in loaded.chains:
            self.chains[chain.chain_id] = ChainState(chain=chain, next_at=data.issued_at)
            for person in chain.persons:
                self.by_person[person.person_id] = chain.chain_id
        for ack in [*loaded.acks, *self.early]:
            self._heard(ack)
        self.early.clear()
        if workflow.patched(LOOK_PATCH):
            self.looked_at = workflow.now()
        self.loaded = True
        deliveries: list[asyncio.Task[None]] = []
        while not self._over():
            self.poked = False
            now = workflow.now()
            if self.looked_at is not None:
                # Answers whose signal never came: before calling a chain again, and every
                # LOOK_EVERY while calling, the rows are read (the first calls follow the load,
                # which read them): nobody who answered is called again, the board catches up.
                looking = now >= self.looked_at + LOOK_EVERY
                trailing = self.look_soon is not None and now >= self.look_soon
                if trailing:  # answers flow: read those told to no one (SIGNAL_EVERY)
                    self.look_soon = None
                due = [
                    c
                    for c, s in self.chains.items()
                    if (trailing and s.acked_at is None)
                    or (
                        s.status is ChainStatus.CALLING
                        and (looking or (s.attempt > 0 and s.next_at and s.next_at <= now))
                    )
                ]
                if due:
                    await self._look(due)
                if looking:
                    self.looked_at = now
                now = workflow.now()
            calls = [
                c
                for s in self.chains.values()
                if s.status is ChainStatus.CALLING and s.next_at and s.next_at <= now
                for c in [self._advance(s, now)]
                if c is not None
            ]
            if calls:
                for i in range(0, len(calls), QUEUE_CHUNK):
                    chunk = calls[i : i + QUEUE_CHUNK]
                    await workflow.execute_activity_method(
                        FanoutActivities.queue_calls,
                        QueueCalls(
                            warning_id=data.warning_id,
                            batch_id=data.batch.batch_id,
                            title=self._title(),
                            calls=chunk,
                        ),
                        start_to_close_timeout=TIMEOUT,
                        retry_policy=RETRY,
                    )
                    deliveries.append(asyncio.create_task(self._deliver([c.key for c in chunk])))
            if self.settled_at is None and self._settled():
                self.settled_at = workflow.now()
            await self._flush()
            wake = self.wake_at = self._next_wake()
            timeout = None if wake is None else max(wake - workflow.now(), timedelta(0))
            if timeout == timedelta(0):
                continue
            try:
                await workflow.wait_condition(
                    lambda: bool(self.dirty) or self.poked or self._over(), timeout=timeout
                )
            except TimeoutError:
                pass
        await self._flush(final=True)
        # Deliveries still under way may yet mark a call 未送达; each is bounded.
        await workflow.wait_condition(lambda: all(t.done() for t in deliveries))
        await self._flush(final=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._progress(done=True)

    def _title(self) -> str:
        return self.d.title or self.d.warning_id

    def _advance(self, s: ChainState, now: datetime) -> QueuedCall | None:
        """The chain's next call: the same person again, or the next in order (the one before
        was 未叫醒); none when nobody is left (the chain is 未叫醒)."""
        rules = self.d.rules
        between = timedelta(minutes=rules.window_minutes / rules.attempts)
        if s.attempt >= rules.attempts:
            if s.current + 1 >= len(s.chain.persons):
                s.status, s.next_at = ChainStatus.NOT_REACHED, None
                self.dirty.add(s.chain.chain_id)
                return None
            s.current, s.attempt = s.current + 1, 0
        s.attempt += 1
        s.first_call_at = s.first_call_at or now
        if self.looked_at is not None:  # LOOK_PATCH: 未送达 speaks of the latest call only
            s.undelivered = None
        s.next_at = now + between
        person = s.chain.persons[s.current]
        key = f"{workflow.info().workflow_id}:{s.chain.chain_id}:{person.order}:{s.attempt}"
        self.by_key[key] = s.chain.chain_id
        self.dirty.add(s.chain.chain_id)
        return QueuedCall(chain_id=s.chain.chain_id, person=person, attempt=s.attempt, key=key)

    async def _deliver(self, keys: list[str]) -> None:
        try:
            result = await workflow.execute_activity_method(
                FanoutActivities.deliver_calls,
                DeliverCalls(keys=keys),
                schedule_to_close_timeout=DELIVERY_LIMIT,
                retry_policy=DELIVERY_RETRY,
            )
            failed = {u.key: u.reason for u in result.undelivered}
        except ActivityError as err:
            reason = getattr(err.cause, "message", None) or str(err.cause or err)
            failed = {k: f"delivery gave up: {reason}" for k in keys}
        for key, reason in failed.items():
            chain_id = self.by_key.get(key)
            if chain_id is not None:
                self.chains[chain_id].undelivered = reason[:500]
                self.dirty.add(chain_id)

    def _settled(self) -> bool:
        return all(s.status is not ChainStatus.CALLING for s in self.chains.values())

    def _over(self) -> bool:
        """Every chain answered; or every chain settled and the wait for late answers over."""
        if not self.loaded:
            return False
        if all(s.acked_at is not None for s in self.chains.values()):
            return True
        if self.settled_at is None:
            return False
        late = timedelta(minutes=self.d.rules.escalation_wait_minutes)
        return workflow.now() >= self.settled_at + late

    async def _look(self, chain_ids: list[str]) -> None:
        seen = await workflow.execute_activity_method(
            FanoutActivities.look_rows,
            BatchLook(
                warning_id=self.d.warning_id, batch_id=self.d.batch.batch_id, chain_ids=chain_ids
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        for ack in seen.acks:
            self._heard(ack)

    def _next_wake(self) -> datetime | None:
        times = [s.next_at for s in self.chains.values() if s.next_at is not None]
        if self.looked_at is not None and not self._settled():
            times.append(self.looked_at + LOOK_EVERY)
        if self.look_soon is not None:
            times.append(self.look_soon)
        if self.reported_at is not None and self._progress() != self.reported:
            times.append(self.reported_at + timedelta(seconds=self.d.progress_seconds))
        if self.settled_at is not None:
            times.append(self.settled_at + timedelta(minutes=self.d.rules.escalation_wait_minutes))
        return min(times) if times else None

    # -- projection and progress ----------------------------------------------------------------

    async def _flush(self, final: bool = False) -> None:
        closing = final and not self.closed and workflow.patched(ACK_IN_DB_PATCH)
        self.closed = self.closed or closing
        if closing:
            # The last look at the rows: answers not yet heard of are counted, and the chains
            # are closed (an answer after this is too late).
            self.dirty.update(c for c, s in self.chains.items() if s.acked_at is None)
        while self.dirty or closing:
            changed = sorted(self.dirty)
            self.dirty.clear()
            version = self.version = self.version + 1
            projected = await workflow.execute_activity_method(
                FanoutActivities.project_batch,
                BatchProjection(
                    warning_id=self.d.warning_id,
                    batch_id=self.d.batch.batch_id,
                    chains=[self._row(self.chains[c]) for c in changed],
                    final=closing,
                ),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            closing = False
            for ack in projected.acks if projected else []:
                self._heard(ack)
            self.projected = max(self.projected, version)
        await self._report(final)

    async def _report(self, final: bool) -> None:
        """Tell the warning how this batch stands: at most every ``progress_seconds``."""
        progress = self._progress(done=final)
        if progress == self.reported:
            return
        now = workflow.now()
        due = self.reported_at is None or now >= self.reported_at + timedelta(
            seconds=self.d.progress_seconds
        )
        if not (due or final):
            return
        self.reported, self.reported_at = progress, now
        parent = workflow.get_external_workflow_handle(self.d.parent_id)
        await parent.signal("progress", progress.model_copy(update={"at": now}))

    def _progress(self, done: bool = False) -> BatchProgress:
        histogram = [0] * (len(BUCKETS) + 1)
        counts = dict.fromkeys(ChainStatus, 0)
        undelivered = 0
        for s in self.chains.values():
            counts[s.status] += 1
            undelivered += s.undelivered is not None and s.acked_at is None
            if s.response_seconds is not None:
                histogram[_bucket(s.response_seconds)] += 1
        return BatchProgress(
            batch_id=self.d.batch.batch_id,
            town_code=self.d.batch.town_code,
            town_name=self.d.batch.town_name,
            chains=len(self.chains),
            answered=counts[ChainStatus.ANSWERED],
            backup_answered=counts[ChainStatus.BACKUP_ANSWERED],
            not_reached=counts[ChainStatus.NOT_REACHED],
            undelivered=undelivered,
            histogram=histogram,
            done=done,
        )

    @staticmethod
    def _row(s: ChainState) -> ChainRow:
        return ChainRow(
            chain_id=s.chain.chain_id,
            status=s.status,
            current_person=s.chain.persons[s.current].person_id,
            attempt=s.attempt,
            first_call_at=s.first_call_at,
            acked_at=s.acked_at,
            acked_by=s.acked_by,
            response_seconds=s.response_seconds,
            undelivered=s.undelivered,
        )

    # -- answers --------------------------------------------------------------------------------

    @workflow.signal
    def answered(self, data: ChainAck) -> None:
        """An answer, already recorded in its chain's row (``stores.fanout.answer``): stop
        calling it."""
        if not self.loaded:
            if len(self.early) < EARLY_MAX:
                self.early.append(data)
            return
        self._heard(data)
        # The answers after this one are not signalled for a second: read them a moment later.
        if self.look_soon is None and self.looked_at is not None:  # LOOK_PATCH
            self.look_soon = workflow.now() + LOOK_TRAIL
        # Wake the loop only when it would otherwise report this later than its next report is
        # due: a burst of answers costs one timer, not one per answer.
        due = workflow.now()
        if self.reported_at is not None:
            due = max(due, self.reported_at + timedelta(seconds=self.d.progress_seconds))
        if self.look_soon is not None:
            due = min(due, self.look_soon)
        if self.wake_at is None or due < self.wake_at:
            self.poked = True

    def _heard(self, data: ChainAck) -> None:
        s = self.chains.get(data.chain_id)
        if s is None or s.acked_at is not None:
            return
        s.acked_at, s.acked_by = data.acked_at, data.person_id
        s.response_seconds, s.status, s.next_at = data.response_seconds, data.status, None

    @workflow.update
    async def acknowledge(self, data: AckRouted) -> AckResult:
        await workflow.wait_condition(lambda: self.loaded)
        if data.person_id not in self.by_person:
            raise invalid(f"person_id: {data.person_id} is not called by this batch")
        s = self.chains[self.by_person[data.person_id]]
        if s.acked_at is not None:  # a repeat of an answer already recorded
            return AckResult(
                chain_id=s.chain.chain_id, status=s.status, response_seconds=s.response_seconds
            )
        now = workflow.now()
        index = next(i for i, p in enumerate(s.chain.persons) if p.person_id == data.person_id)
        s.acked_at, s.acked_by = now, data.person_id
        start = s.first_call_at or self.d.issued_at
        s.response_seconds = max((now - start).total_seconds(), 0.0)
        s.status = ChainStatus.ANSWERED if index == 0 else ChainStatus.BACKUP_ANSWERED
        s.next_at = None
        self.dirty.add(s.chain.chain_id)
        if not workflow.patched(ACK_AT_ONCE_PATCH):
            # Runs that began before: answered once the line was in the database. That held each
            # answer open through a projection, and under load more than Temporal's 10 open
            # updates per workflow piled up. An answer is recorded once accepted (it is in the
            # history); the next flush, at once, puts it on the board.
            version = self.version + 1
            await workflow.wait_condition(lambda: self.projected >= version)
        return AckResult(
            chain_id=s.chain.chain_id, status=s.status, response_seconds=s.response_seconds
        )

    @acknowledge.validator
    def _validate_ack(self, data: AckRouted) -> None:
        if self.loaded and data.person_id not in self.by_person:
            raise invalid(f"person_id: {data.person_id} is not called by this batch")
        answered = self.loaded and self.chains[self.by_person[data.person_id]].acked_at
        if self.loaded and self._over() and not answered:  # a repeat is still answered
            raise invalid(f"{workflow.info().workflow_id}: 叫应 is over")

    @workflow.query
    def progress(self) -> BatchProgress:
        return self._progress()


@workflow.defn(name="WarningFanout")
class WarningFanoutWorkflow:
    @workflow.init
    def __init__(self, data: FanoutInput) -> None:
        self.i = data.issue
        self.d = data
        self.state: FanoutState | None = data.state
        self.changed = False

    @workflow.run
    async def run(self, data: FanoutInput) -> FanoutView:
        if self.state is None:
            plan = await workflow.execute_activity_method(
                FanoutActivities.plan_warning,
                data,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RETRY,
            )
            plan = plan.model_copy(update={"issued_at": workflow.now()})
            self.state = FanoutState(plan=plan)
        state = self.state
        wid = workflow.info().workflow_id
        await self._project()
        waiting = [b for b in state.plan.batches if b.batch_id not in state.started]
        await asyncio.gather(*(self._start(b) for b in waiting))
        while not self._finished():
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(data.model_copy(update={"state": state}))
            try:
                await workflow.wait_condition(
                    lambda: self.changed or self._finished(), timeout=timedelta(seconds=5)
                )
            except TimeoutError:
                pass
            if self.changed:
                self.changed = False
                await self._project()
        state.finished = True
        await self._project()
        workflow.logger.info("warning finished", extra={"warning": wid})
        return self._view()

    async def _start(self, batch: BatchRef) -> None:
        assert self.state is not None
        # From the input, not workflow.info(): a replay under another id starts the same ids.
        wid = f"warning:{self.i.warning_id}"
        await workflow.start_child_workflow(
            WarningBatchWorkflow.run,
            BatchInput(
                warning_id=self.i.warning_id,
                title=self.i.title,
                parent_id=wid,
                batch=batch,
                issued_at=self.state.plan.issued_at,
                rules=self.d.rules,
                progress_seconds=self.d.progress_seconds,
            ),
            id=f"{wid}:{batch.batch_id}",
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        self.state.started.append(batch.batch_id)

    def _finished(self) -> bool:
        assert self.state is not None
        done = {b for b, p in self.state.progress.items() if p.done}
        return all(b.batch_id in done for b in self.state.plan.batches)

    async def _project(self) -> None:
        assert self.state is not None
        view = self._view()
        self.state.seq += 1
        await workflow.execute_activity_method(
            FanoutActivities.project_fanout,
            FanoutRow(
                warning_id=view.warning_id,
                workflow_id=workflow.info().workflow_id,
                title=view.title,
                district=view.district,
                issued_by=view.issued_by,
                issued_at=view.issued_at or workflow.now(),
                finished=view.finished,
                targets=view.chains,
                answered=view.answered,
                not_reached=view.not_reached,
                call_response_rate=view.call_response_rate,
                last_seq=self.state.seq,
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )

    @workflow.signal
    def progress(self, data: BatchProgress) -> None:
        assert self.state is not None
        known = self.state.progress.get(data.batch_id)
        if known is not None and known.at and data.at and data.at < known.at:
            return
        self.state.progress[data.batch_id] = data
        self.changed = True

    @workflow.query
    def view(self) -> FanoutView:
        return self._view()

    def _view(self) -> FanoutView:
        state = self.state
        batches = state.plan.batches if state else []
        progress = state.progress if state else {}
        towns: dict[str, TownProgress] = {}
        histogram = [0] * (len(BUCKETS) + 1)
        for b in batches:
            p = progress.get(b.batch_id) or BatchProgress(
                batch_id=b.batch_id, town_code=b.town_code, town_name=b.town_name, chains=b.chains
            )
            t = towns.setdefault(
                b.town_code,
                TownProgress(
                    town_code=b.town_code,
                    town_name=b.town_name,
                    chains=0,
                    answered=0,
                    not_reached=0,
                    undelivered=0,
                    calling=0,
                ),
            )
            answered = p.answered + p.backup_answered
            t.chains += b.chains
            t.answered += answered
            t.not_reached += p.not_reached
            t.undelivered += p.undelivered
            t.calling += b.chains - answered - p.not_reached
            histogram = [a + b for a, b in zip(histogram, p.histogram, strict=True)]
        chains = sum(t.chains for t in towns.values())
        first = sum(p.answered for p in progress.values())
        answered = sum(t.answered for t in towns.values())
        return FanoutView(
            warning_id=self.i.warning_id,
            title=self.i.title,
            district=self.i.district,
            level=self.i.level,
            who=self.i.who,
            issued_by=self.i.issued_by,
            issued_at=state.plan.issued_at if state else None,
            typhoon_event_id=self.i.typhoon_event_id,
            chains=chains,
            answered=answered,
            not_reached=sum(t.not_reached for t in towns.values()),
            undelivered=sum(t.undelivered for t in towns.values()),
            call_response_rate=round(first / chains, 4) if chains else 0.0,
            histogram=histogram,
            towns=list(towns.values()),
            gaps=state.plan.gaps if state else [],
            finished=bool(state and state.finished),
        )
