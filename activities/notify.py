"""The notifier: every notification lands once in the ``notification`` outbox and in the log,
and, when a webhook is configured, is POSTed to it until it is delivered.

Keyed by the caller's idempotency key, so a retried activity or a replayed workflow never
creates a second notification. Delivery is at least once: a crash after the POST and before
``delivered_at`` is written sends it again, with the same key for the receiver to drop.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.drill import Notification, NotificationResult
from yingji.core.tables import NotificationRow


class NotifierActivities:
    def __init__(
        self, engine: AsyncEngine, webhook_url: str | None = None, webhook_timeout: float = 5.0
    ) -> None:
        self.engine = engine
        self.webhook_url = webhook_url
        self.webhook_timeout = webhook_timeout

    @activity.defn(name="notify")
    async def notify(self, data: Notification) -> NotificationResult:
        row = {**data.model_dump(), "created_at": datetime.now(UTC)}
        stmt = insert(NotificationRow.__table__).values(row).on_conflict_do_nothing()
        async with self.engine.begin() as conn:
            created = (await conn.execute(stmt)).rowcount == 1
            delivered = (
                await conn.execute(
                    text("SELECT delivered_at FROM notification WHERE key = :k"), {"k": data.key}
                )
            ).scalar()
        if created:
            activity.logger.info(
                "notification",
                extra={"key": data.key, "recipient": data.recipient, "subject": data.subject},
            )
        if self.webhook_url and delivered is None:
            await asyncio.to_thread(self._post, data)
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE notification SET delivered_at = now() WHERE key = :k"),
                    {"k": data.key},
                )
        return NotificationResult(key=data.key, created=created)

    def _post(self, data: Notification) -> None:
        assert self.webhook_url is not None
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps(data.model_dump(), ensure_ascii=False).encode(),
            # Header values are latin-1: the key (with its Chinese names) goes percent-encoded.
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": urllib.parse.quote(data.key, safe=""),
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.webhook_timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")
