"""The notifier's webhook: signed, https only (http to loopback), never redirected, a 4xx or a
redirect not retried, a 5xx or a network error retried. Against a receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import REDIRECTED, REFUSED, UNAVAILABLE, NotifierActivities
from models.drill import Notification
from tests.conftest import make_settings
from tests.helpers import ROOT, rows

SECRET = "s3cret-for-the-test-only"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)


Answer = Callable[[Received], tuple[int, dict[str, str]]]


@contextmanager
def receiver(answer: Answer = lambda _: (200, {})) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records each POST and answers with ``answer``."""
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got = Received(
                path=self.path,
                headers=dict(self.headers.items()),
                body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            )
            box["r"].requests.append(got)
            status, headers = answer(got)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # a followed 303 would come back as a GET

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook?t=path-token")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        server.shutdown()
        server.server_close()


def notification() -> Notification:
    wid = f"warning:W{uuid.uuid4().hex[:8]}"
    return Notification(
        key=f"{wid}:甲:call:1",
        recipient="甲",
        address="13912345678",
        subject="【叫应】台风红色预警：请立即回复确认",
        body="嘉定区 台风红色预警，第1次呼叫。",
        source=wid,
    )


async def delivered_at(engine, key: str) -> object:
    found = await rows(engine, "SELECT delivered_at FROM notification WHERE key = :k", k=key)
    assert len(found) == 1, "the notification is in the outbox whatever the webhook said"
    return found[0]["delivered_at"]


async def failure(notifier: NotifierActivities, data: Notification) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(notifier.notify, data)
    message = str(err.value)
    # Never the body, the recipient's number, the secret, nor the URL's path or query.
    for private in (data.body, data.address or "", SECRET, "path-token", "/hook"):
        assert private not in message
    return err.value


def readme_verify() -> Callable[[bytes, str, bytes, str], bool]:
    """The README's verification example, run as a receiver would."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    code = next(b for b in blocks if "def verify(" in b)
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return namespace["verify"]  # type: ignore[return-value]


async def test_body_is_signed_with_the_secret_and_timestamp(engine) -> None:
    data = notification()
    with receiver() as hook:
        notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
        result = await ActivityEnvironment().run(notifier.notify, data)
    assert result.created
    [got] = hook.requests
    timestamp, signed = got.headers["X-Yingji-Timestamp"], got.headers["X-Yingji-Signature"]
    assert abs(time.time() - int(timestamp)) < 60
    message = timestamp.encode() + b"." + got.body
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert signed == f"sha256={expected}"
    # The README's recipe accepts it; a wrong secret, another body or timestamp, does not.
    verify = readme_verify()
    assert verify(SECRET.encode(), timestamp, got.body, signed)
    assert not verify(b"another secret", timestamp, got.body, signed)
    assert not verify(SECRET.encode(), timestamp, got.body + b" ", signed)
    assert not verify(SECRET.encode(), str(int(timestamp) - 1), got.body, signed)
    # The key still travels, percent-encoded, and the outbox row is delivered.
    assert urllib.parse.unquote(got.headers["Idempotency-Key"]) == data.key
    assert await delivered_at(engine, data.key) is not None


async def test_delivered_notification_is_not_posted_again(engine) -> None:
    data = notification()
    with receiver() as hook:
        notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
        await ActivityEnvironment().run(notifier.notify, data)
        again = await ActivityEnvironment().run(notifier.notify, data)
    assert not again.created and len(hook.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_4xx_is_refused_not_retried_and_stays_undelivered(engine, status: int) -> None:
    data = notification()
    with receiver(lambda _: (status, {})) as hook:
        notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
        err = await failure(notifier, data)
    assert err.type == REFUSED and err.non_retryable
    assert f"HTTP {status}" in err.message
    assert len(hook.requests) == 1
    assert await delivered_at(engine, data.key) is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_not_followed_nor_retried(engine, status: int) -> None:
    data = notification()
    with receiver() as elsewhere:
        with receiver(lambda _: (status, {"Location": elsewhere.url})) as hook:
            notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
            err = await failure(notifier, data)
    assert err.type == REDIRECTED and err.non_retryable
    assert f"HTTP {status}" in err.message and "YINGJI_NOTIFY_WEBHOOK_URL" in err.message
    assert len(hook.requests) == 1
    assert elsewhere.requests == [], "the Location was contacted"
    assert await delivered_at(engine, data.key) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_5xx_408_and_429_are_retryable(engine, status: int) -> None:
    data = notification()
    with receiver(lambda _: (status, {})) as hook:
        notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
        err = await failure(notifier, data)
    assert err.type == UNAVAILABLE and not err.non_retryable
    assert f"HTTP {status}" in err.message
    assert await delivered_at(engine, data.key) is None


async def test_retry_after_5xx_delivers_once(engine) -> None:
    data = notification()
    answers = iter([(500, {}), (200, {})])
    with receiver(lambda _: next(answers)) as hook:
        notifier = NotifierActivities(engine, hook.url, 5.0, webhook_secret=SECRET)
        await failure(notifier, data)
        await ActivityEnvironment().run(notifier.notify, data)
    assert len(hook.requests) == 2
    assert (
        hook.requests[0].headers["Idempotency-Key"] == hook.requests[1].headers["Idempotency-Key"]
    )
    assert await delivered_at(engine, data.key) is not None


async def test_network_error_is_retryable(engine) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = notification()
    notifier = NotifierActivities(
        engine, f"http://127.0.0.1:{port}/hook?t=path-token", 2.0, webhook_secret=SECRET
    )
    err = await failure(notifier, data)
    assert err.type == UNAVAILABLE and not err.non_retryable
    assert "unreachable" in err.message
    assert await delivered_at(engine, data.key) is None


async def test_timeout_is_retryable(engine) -> None:
    def slow(_: Received) -> tuple[int, dict[str, str]]:
        time.sleep(1.0)
        return 200, {}

    data = notification()
    with receiver(slow) as hook:
        notifier = NotifierActivities(engine, hook.url, 0.2, webhook_secret=SECRET)
        err = await failure(notifier, data)
    assert err.type == UNAVAILABLE and not err.non_retryable
    assert await delivered_at(engine, data.key) is None


async def test_a_receiver_that_drips_its_answer_is_cut_off(engine) -> None:
    """Attacker: a receiver sending one header every few seconds kept each read inside the
    timeout, so the request — and the worker's shutdown — waited for ever. A watchdog now cuts
    it after twice the timeout in all."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.1):  # a header every 0.1 s, each read well inside the timeout
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    notifier = NotifierActivities(
        engine, f"http://127.0.0.1:{port}/hook", 0.5, webhook_secret=SECRET
    )
    started = time.monotonic()
    err = await failure(notifier, notification())
    assert err.type == UNAVAILABLE and time.monotonic() - started < 3
    stop.set()
    listener.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/hook",
        "HTTPS://example.org:8443/hook?x=1",
        "http://127.0.0.1:8080/hook",
        "http://127.0.0.2/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert make_settings(notify_webhook_url=url).notify_webhook_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",
        "http://10.0.0.5/hook",
        "http://localhost.example.org/hook",
        "http://127.0.0.1.nip.io/hook",
        "ftp://example.org/hook",
        "example.org/hook",
        "https:///hook",
        "https://example.org:port/hook",
    ],
)
def test_other_urls_are_refused_by_the_settings(url: str) -> None:
    with pytest.raises(ValidationError) as err:
        make_settings(notify_webhook_url=url)
    assert "YINGJI_NOTIFY_WEBHOOK_URL must be an https URL" in str(err.value)


def test_blank_url_is_unset() -> None:
    assert make_settings(notify_webhook_url="  ").notify_webhook_url is None


def test_production_requires_the_secret_with_a_url() -> None:
    url = "https://example.org/hook"
    for secret in (None, "", "   "):
        with pytest.raises(ValidationError) as err:
            make_settings(
                environment="production", notify_webhook_url=url, notify_webhook_secret=secret
            )
        assert "YINGJI_NOTIFY_WEBHOOK_SECRET is required in production" in str(err.value)
    settings = make_settings(
        environment="production", notify_webhook_url=url, notify_webhook_secret=SECRET
    )
    assert settings.notify_webhook_secret is not None
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    # Without a URL there is nothing to sign; development may post unsigned to a local receiver.
    assert make_settings(environment="production").notify_webhook_secret is None
    assert make_settings(notify_webhook_url=url).notify_webhook_secret is None


async def test_worker_passes_the_secret_to_the_notifier(engine) -> None:
    from worker import activities

    settings = make_settings(
        notify_webhook_url="https://example.org/hook", notify_webhook_secret=SECRET
    )
    [notify] = [a for a in activities(engine, settings) if a.__name__ == "notify"]
    notifier = notify.__self__
    assert notifier.webhook_url == "https://example.org/hook"
    assert notifier.webhook_secret.get_secret_value() == SECRET
    assert SECRET not in repr(vars(notifier))
