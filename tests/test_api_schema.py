"""Schemathesis over the console's OpenAPI: whatever it sends, no answer is a 5xx.

The console runs in its own thread and event loop with a worker beside it, against the shared
dev server and database, as ``yingji serve`` runs it.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings

TOKEN = "schema-admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console_url(dev_env, engine, database_url: str) -> Iterator[str]:  # engine: migrated
    import uvicorn

    from console.app import create_app
    from worker import build_worker
    from yingji.db import make_engine
    from yingji.temporal import connect

    port = _free_port()
    cfg = make_settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_task_queue=f"schema-{port}",
        console_tokens={TOKEN: "admin"},
    )
    server: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        engine = make_engine(database_url)
        client = await connect(cfg)
        app = create_app(cfg, client=client, engine=engine)
        server["web"] = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        async with build_worker(client, cfg, engine):
            await server["web"].serve()
        await engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.get("web") and server["web"].started):
        assert time.monotonic() < deadline, "console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server["web"].should_exit = True
    thread.join(30)


def test_no_request_gets_a_server_error(console_url: str) -> None:
    """Schemathesis generates requests for every operation, as an admin; none may be a 5xx."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{console_url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            "8",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "operations" in result.stdout.lower() or "passed" in result.stdout.lower()
