"""What every Yingji workflow shares: an outbox of numbered events and a deadline loop.

A handler changes state synchronously and appends an event; the main loop projects the outbox
in batches through the subclass's projection activity, fires deadlines when they fall due, and
stops for continue-as-new when asked or when Temporal suggests it. Events not yet projected at
hand-over travel to the next run in its input, so a stream of signals cannot delay it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifierActivities
    from models.common import CHINA_TZ
    from models.drill import Notification


def invalid(message: str) -> ApplicationError:
    """A rejection the caller sees as is: names the field or stage and the reason."""
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def require_action(subject: str, stage: Any, action: Any, allowed: tuple[Any, ...]) -> None:
    """Reject ``action`` unless the current ``stage`` allows it; say what is allowed."""
    if action not in allowed:
        names = ", ".join(a.value for a in allowed) or "none"
        raise invalid(
            f"{subject} is in stage '{stage.value}' ({stage.label}); "
            f"'{action.value}' is not allowed. Allowed actions: {names}"
        )


#: How many applied update ids a workflow remembers across continue-as-new. Within one run
#: Temporal itself answers a repeated update id with the first outcome.
REMEMBERED_UPDATES = 256


def stale(message: str) -> ApplicationError:
    """A conditional request (``expect_stage``/``expect_seq``) that no longer holds."""
    return ApplicationError(message, type="StaleRequest", non_retryable=True)


def _update_id() -> str | None:
    info = workflow.current_update_info()
    return info.id if info is not None else None


class Guarded:
    """Mixin: updates applied once per id across continue-as-new, and conditional updates.

    A subclass keeps the ids in its carried state (``_applied_updates``) and says what a repeat
    answers (``_view``), which stage it is in and its last event number."""

    def _applied_updates(self) -> list[str]:
        raise NotImplementedError

    def _set_applied_updates(self, ids: list[str]) -> None:
        raise NotImplementedError

    def _view(self) -> Any:
        raise NotImplementedError

    def _stage_now(self) -> Any:
        raise NotImplementedError

    def _seq_now(self) -> int:
        raise NotImplementedError

    def _is_repeat(self) -> bool:
        uid = _update_id()
        return uid is not None and uid in self._applied_updates()

    def _check_expected(self, data: Any) -> None:
        stage = self._stage_now()
        expected = getattr(data, "expect_stage", None)
        if expected is not None and expected not in (stage.value, stage.label):
            raise stale(
                f"expect_stage: it is now in stage '{stage.value}' ({stage.label}), "
                f"not '{expected}'"
            )
        seq = getattr(data, "expect_seq", None)
        if seq is not None and seq != self._seq_now():
            raise stale(
                f"expect_seq (If-Match): it has changed since event {seq} (now "
                f"{self._seq_now()}, stage '{stage.value}' ({stage.label}))"
            )


def once(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """An update applied once per update id, across continue-as-new: a repeat answers the view
    and records nothing. Put it under ``@workflow.update``."""

    @functools.wraps(handler)
    async def apply(self: Guarded, data: Any) -> Any:
        if self._is_repeat():
            return self._view()
        result = await handler(self, data)
        uid = _update_id()
        if uid is not None:
            self._set_applied_updates([*self._applied_updates(), uid][-REMEMBERED_UPDATES:])
        return result

    return apply


def once_validated(validator: Callable[..., None]) -> Callable[..., None]:
    """The validator of a ``once`` update: a repeated id is accepted (it then changes nothing),
    whatever the stage now; otherwise ``expect_stage``/``expect_seq`` must hold, then the
    update's own checks."""

    @functools.wraps(validator)
    def check(self: Guarded, data: Any) -> None:
        if self._is_repeat():
            return
        self._check_expected(data)
        validator(self, data)

    return check


def actor(data: Any, named: str | None, default: str = "system") -> str:
    """Who an event names: the console caller behind the request, else the name given."""
    return getattr(data, "actor", None) or named or default


def filled_in(data: Any, named: str | None) -> dict[str, str]:
    """The name the console caller filled in for someone else (代填), for the event's detail."""
    caller = getattr(data, "actor", None)
    return {"代填": named} if caller and named and named != caller else {}


#: How long a notification is tried, all attempts together, before it counts as undelivered.
NOTIFY_LIMIT = timedelta(minutes=2)


async def refused_notification(
    notification: Notification, time_limit: timedelta, retry: RetryPolicy
) -> str | None:
    """Send a notification through the notifier; answer why, if it could not be delivered:
    the webhook refused it for good (4xx, a redirect), or kept failing (5xx, down, too slow) for
    ``NOTIFY_LIMIT``. A message that cannot be delivered must not stop what follows it (the next
    call attempt, the escalation): the caller records the reason and goes on. The notification
    itself is in the outbox from the first attempt on."""
    try:
        await workflow.execute_activity_method(
            NotifierActivities.notify,
            notification,
            start_to_close_timeout=time_limit,
            schedule_to_close_timeout=NOTIFY_LIMIT,
            retry_policy=retry,
        )
    except ActivityError as err:
        reason = getattr(err.cause, "message", None) or str(err.cause or err)
        if reason.endswith(": will retry"):  # the last try's failure when the time ran out
            reason = f"{reason.removesuffix(': will retry')} (gave up after {NOTIFY_LIMIT})"
        workflow.logger.warning(
            "notification failed", extra={"key": notification.key, "why": reason}
        )
        return reason
    return None


def today_in_china() -> Any:
    return workflow.now().astimezone(CHINA_TZ).date()


#: How far ahead of the workflow's clock a step's ``at`` may be (clocks differ a little).
FUTURE_SLACK = timedelta(minutes=10)


def china_time(at: datetime) -> str:
    return at.astimezone(CHINA_TZ).isoformat()


def step_day(at: datetime | None) -> date:
    """The day (China time) of a step: the day of its ``at``, or today."""
    return at.astimezone(CHINA_TZ).date() if at is not None else today_in_china()


def check_step_time(at: datetime | None, previous: datetime | None) -> None:
    """A step's ``at`` may be neither in the future nor earlier than the previous step."""
    if at is None:
        return
    now = workflow.now()
    if at > now + FUTURE_SLACK:
        raise invalid(f"at: {china_time(at)} is in the future (now is {china_time(now)})")
    if previous is not None and at < previous:
        raise invalid(
            f"at: earlier than the previous step ({china_time(previous)}); got {china_time(at)}"
        )


def check_past_date(field: str, value: Any, not_before: Any = None, at: Any = None) -> None:
    """``value`` (a date or None) must not be in the future nor before ``not_before``; with
    ``at`` (a past step's time) not after that step's day either."""
    if value is None:
        return
    if at is not None:
        day = step_day(at)
        if value > day:
            raise invalid(f"{field}: {value} is after the step's own day ({day}, from at)")
    today = today_in_china()
    if value > today:
        raise invalid(f"{field}: {value} is in the future (today is {today})")
    if not_before is not None and value < not_before:
        raise invalid(f"{field}: {value} is before {not_before}")


def clamp_time(moment: datetime, not_before: datetime | None, not_after: datetime) -> datetime:
    """When a deadline recorded late is logged: its own moment, kept in the log's order."""
    if not_before is not None and moment < not_before:
        moment = not_before
    return min(moment, not_after)


def start_of(day: Any) -> datetime:
    """00:00 China time of ``day`` (a ``date``)."""
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ)


class OutboxWorkflow:
    """Mixin: subclasses implement ``_project``, ``_next_wake`` and ``_on_deadline``."""

    _outbox: list[Any]
    _projected_seq: int
    #: Set to make the loop look at its deadlines again (say, when a workflow leaves
    #: historical mode and its clock starts running).
    _rewake: bool = False

    def _init_outbox(self, carried: list[Any], last_seq: int) -> None:
        self._outbox = list(carried)
        self._projected_seq = last_seq - len(self._outbox)

    async def _project(self, batch: list[Any]) -> None:
        raise NotImplementedError

    def _next_wake(self) -> datetime | None:
        return None

    async def _on_deadline(self) -> None:
        return None

    async def _project_batch(self) -> None:
        if self._outbox:
            batch = list(self._outbox)
            await self._project(batch)
            del self._outbox[: len(batch)]
            self._projected_seq = batch[-1].seq

    async def _projected(self, seq: int) -> None:
        """Wait until the event numbered ``seq`` is in the database."""
        await workflow.wait_condition(lambda: self._projected_seq >= seq)

    async def _loop_until(self, stop: Callable[[], bool]) -> None:
        """Project, fire deadlines and wait, until ``stop()`` or a suggested continue-as-new."""
        while True:
            # One batch at a time, so a stream of signals cannot keep us from checking below.
            await self._project_batch()
            if stop() or workflow.info().is_continue_as_new_suggested():
                break
            wake_at = self._next_wake()
            if wake_at is not None and wake_at <= workflow.now():
                await self._on_deadline()
                continue
            timeout = None if wake_at is None else wake_at - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._outbox) or stop() or self._rewake, timeout=timeout
                )
            except TimeoutError:
                await self._on_deadline()
            self._rewake = False
        await self._drain()

    async def _drain(self) -> None:
        """Let every running update finish (each waits for its own event to be projected).

        Events still in the outbox afterwards are not projected here: a steady stream of
        signals would never let that end. They travel to the next run in its input.
        """
        while not workflow.all_handlers_finished():
            if self._outbox:
                await self._project_batch()
            else:
                await workflow.wait_condition(
                    lambda: bool(self._outbox) or workflow.all_handlers_finished()
                )

    async def _project_all(self) -> None:
        """Before completing: there is no next run to carry the outbox."""
        while self._outbox:
            await self._project_batch()
