"""A webhook that refuses a notification for good (4xx, a redirect) does not stop a workflow.

The notifier no longer retries a 4xx for ever; the workflows that send notifications must then
carry on: the refusal is recorded as ``notification_failed`` and the reminders and escalation
that follow still go out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from tests.conftest import make_settings
from tests.helpers import answering_webhook, eventually, rows
from tests.test_disaster import opened
from yingji.services import disaster as disasters


@pytest.fixture(params=[400, 500])
def refusing_webhook(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A receiver on 127.0.0.1 that answers every POST with 400 (refused for good) or 500
    (failing: retried until the notification's time is up)."""
    with answering_webhook(request.param) as url:
        yield url, request.param


async def test_a_refused_reminder_is_recorded_and_escalation_still_happens(
    ts_env: WorkflowEnvironment,
    engine,
    task_queue: str,
    code: str,
    refusing_webhook: tuple[str, int],
) -> None:
    from worker import build_worker

    url, status = refusing_webhook
    settings = make_settings(notify_webhook_url=url)
    client: Client = ts_env.client
    async with build_worker(client, settings, engine, task_queue):
        now = (await ts_env.get_current_time()).astimezone(CHINA_TZ)
        await disasters.open_disaster(client, settings, opened(code, now), task_queue=task_queue)
        await ts_env.sleep(timedelta(hours=3, minutes=10))  # past the reminder and escalation
        view = await disasters.show(client, code)
        assert view.slots[0].reminded and view.slots[0].escalated and not view.closed
        failed = await eventually(
            lambda: rows(
                engine,
                "SELECT detail FROM disaster_event WHERE disaster_code = :c "
                "AND kind = 'notification_failed'",
                c=code,
            ),
            lambda found: len(found) >= 3,
        )
        # 400: refused at once; 500: tried until the notification's time was up.
        expected = "400" if status == 400 else "500 (gave up after"
        assert all(expected in f["detail"]["why"].lower() for f in failed), failed
        # Each refused message is kept, undelivered, in the outbox.
        kept = await rows(
            engine,
            "SELECT delivered_at FROM notification WHERE source = :s",
            s=f"disaster:{code}",
        )
        assert len(kept) >= 3 and all(k["delivered_at"] is None for k in kept)
