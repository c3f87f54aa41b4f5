"""The notifier: every notification lands once in the ``notification`` outbox and in the log,
and, when a webhook is configured, is POSTed to it until it is delivered or refused.

Keyed by the caller's idempotency key, so a retried activity or a replayed workflow never
creates a second notification. Delivery is at least once: a crash after the POST and before
``delivered_at`` is written sends it again, with the same key for the receiver to drop.

The webhook is one the receiver can trust and that cannot be turned elsewhere:

* the body is signed: ``X-Yingji-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
  body)>`` with the unix seconds in ``X-Yingji-Timestamp`` (fresh on every attempt), so a
  receiver checks the sender and refuses replays (see :func:`signature`);
* redirects are never followed: a 3xx is a configuration error (``WebhookRedirected``), not
  retried, and the ``Location`` is never contacted;
* a 4xx is the receiver refusing this notification (``WebhookRefused``): not retried, except 408
  and 429, which ask to come back later;
* a 5xx, a 408 or 429, a timeout or a network error is ``WebhookUnavailable``: the activity's
  retry policy tries again.

Failures carry the status or the network reason only: never the body, the URL or the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Any, NoReturn

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.drill import Notification, NotificationResult
from yingji.core.tables import NotificationRow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Yingji-Signature"
TIMESTAMP_HEADER = "X-Yingji-Timestamp"

#: ``ApplicationError.type`` of each failure.
REFUSED = "WebhookRefused"  # 4xx: not retried
REDIRECTED = "WebhookRedirected"  # 3xx: not followed, not retried
UNAVAILABLE = "WebhookUnavailable"  # 5xx, 408, 429, network: retried

#: 4xx statuses that mean "later", not "never".
RETRIED_4XX = frozenset({408, 429})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Yingji-Signature`` value: ``sha256=`` and the hex HMAC-SHA256, keyed by the
    secret (UTF-8), of the timestamp header, a ``.``, and the raw body bytes."""
    message = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class _Sockets:
    """The sockets one request opened, so a watchdog can cut a receiver that never finishes."""

    def __init__(self) -> None:
        self.open: list[socket.socket] = []
        self.was_cut = False

    def cut(self) -> None:
        self.was_cut = True
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _watched(base: type[http.client.HTTPConnection], sockets: _Sockets) -> Any:
    class Watched(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            sockets.open.append(self.sock)

    return Watched


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self.sockets = sockets

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_watched(http.client.HTTPConnection, self.sockets), req)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self.sockets = sockets

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            _watched(http.client.HTTPSConnection, self.sockets),
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the 3xx comes back as an ``HTTPError``."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> NoReturn:
        raise urllib.error.HTTPError(req.full_url, code, msg, headers, fp)


def _failed(status: int) -> NoReturn:
    if 300 <= status < 400:
        raise ApplicationError(
            f"webhook answered HTTP {status}, a redirect: not followed and not retried; "
            "set YINGJI_NOTIFY_WEBHOOK_URL to the final address",
            type=REDIRECTED,
            non_retryable=True,
        )
    if 400 <= status < 500 and status not in RETRIED_4XX:
        raise ApplicationError(
            f"webhook refused the notification with HTTP {status}: not retried",
            type=REFUSED,
            non_retryable=True,
        )
    raise ApplicationError(f"webhook answered HTTP {status}: will retry", type=UNAVAILABLE)


class NotifierActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        webhook_url: str | None = None,
        webhook_timeout: float = 5.0,
        webhook_secret: SecretStr | str | None = None,
    ) -> None:
        self.engine = engine
        self.webhook_url = webhook_url
        self.webhook_timeout = webhook_timeout
        if isinstance(webhook_secret, str):
            webhook_secret = SecretStr(webhook_secret)
        self.webhook_secret = webhook_secret
        if webhook_url and webhook_secret is None:
            log.warning(
                "the webhook is not signed: set YINGJI_NOTIFY_WEBHOOK_SECRET "
                "(production refuses to start without it)"
            )

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
        body = json.dumps(data.model_dump(), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            # Header values are latin-1: the key (with its Chinese names) goes percent-encoded.
            "Idempotency-Key": urllib.parse.quote(data.key, safe=""),
            TIMESTAMP_HEADER: timestamp,
        }
        if self.webhook_secret is not None:
            headers[SIGNATURE_HEADER] = signature(
                self.webhook_secret.get_secret_value(), timestamp, body
            )
        request = urllib.request.Request(
            self.webhook_url, data=body, headers=headers, method="POST"
        )
        # The timeout bounds each read; a receiver that sends a byte now and then would keep
        # the request (and the worker's shutdown) waiting for ever: a watchdog cuts it after
        # twice the timeout in all.
        sockets = _Sockets()
        opener = urllib.request.build_opener(
            _RefuseRedirects, _WatchedHTTP(sockets), _WatchedHTTPS(sockets)
        )
        watchdog = threading.Timer(2 * self.webhook_timeout, sockets.cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            with opener.open(request, timeout=self.webhook_timeout) as response:
                status = response.status
                response.read(65536)
        except urllib.error.HTTPError as exc:  # any status but 2xx, 3xx included
            status = exc.code
            exc.close()
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, TLS
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if not isinstance(reason, str):
                reason = f"{type(reason).__name__}: {reason}"
            raise ApplicationError(
                f"webhook unreachable ({reason}): will retry", type=UNAVAILABLE
            ) from None
        finally:
            watchdog.cancel()
        if sockets.was_cut:  # a cut answer reads as one that ended: it did not arrive
            raise ApplicationError(
                f"webhook too slow: no whole answer within {2 * self.webhook_timeout:g} s: "
                "will retry",
                type=UNAVAILABLE,
            )
        if not 200 <= status < 300:
            _failed(status)
