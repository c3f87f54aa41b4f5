"""The notifier: every notification lands once in the ``notification`` outbox and in the log.

Keyed by the caller's idempotency key, so a retried activity or a replayed workflow never
notifies twice. Delivery channels beyond the log (SMTP, webhook) read this outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.drill import Notification, NotificationResult
from yingji.tables import NotificationRow


class NotifierActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name="notify")
    async def notify(self, data: Notification) -> NotificationResult:
        row = {**data.model_dump(), "created_at": datetime.now(UTC)}
        stmt = insert(NotificationRow.__table__).values(row).on_conflict_do_nothing()
        async with self.engine.begin() as conn:
            created = (await conn.execute(stmt)).rowcount == 1
        if created:
            activity.logger.info(
                "notification",
                extra={"key": data.key, "recipient": data.recipient, "subject": data.subject},
            )
        return NotificationResult(key=data.key, created=created)
