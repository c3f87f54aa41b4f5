"""Settings from the environment and .env; logs through structlog with Temporal context."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog
from temporalio.testing import WorkflowEnvironment

from models.plan import CloseInput
from tests.conftest import make_settings
from tests.helpers import flood_plan
from worker import build_worker
from workflows.plan import PlanWorkflow
from yingji.core.logging import configure_logging, get_logger, log_format
from yingji.core.settings import Settings
from yingji.core.temporal import temporal_address
from yingji.services.plan import create_plan, plan_handle


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_defaults_mean_the_embedded_stack() -> None:
    s = make_settings()
    assert s.embedded_temporal and s.embedded_database
    assert temporal_address(s) == "127.0.0.1:7233"
    assert (s.plan_filing_working_days, s.plan_evaluation_years) == (20, 3)
    assert log_format(s, Tty()) == "console"  # on a terminal, in development


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "YINGJI_TEMPORAL_ADDRESS=temporal.example:7233\n"
        "YINGJI_DATABASE_URL=postgresql://yingji:pw@db/yingji\n"
        "YINGJI_PLAN_EVALUATION_YEARS=5\n"
    )
    monkeypatch.setenv("YINGJI_ENVIRONMENT", "production")
    monkeypatch.setenv("YINGJI_TEMPORAL_API_KEY", "k-123")
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert not s.embedded_temporal and not s.embedded_database
    assert temporal_address(s) == "temporal.example:7233"
    assert s.plan_evaluation_years == 5
    assert log_format(s, Tty()) == "json"  # production, even on a terminal
    # Secrets do not show in a repr (and so not in a log line that prints settings).
    assert "k-123" not in repr(s) and "pw@" not in repr(s)


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINGJI_PLAN_FILING_WORKING_DAYS", "0")
    with pytest.raises(ValueError, match="plan_filing_working_days"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def json_logs():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(make_settings(environment="production"), stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        structlog.reset_defaults()


async def test_workflow_and_activity_logs_carry_temporal_context(
    json_logs: io.StringIO, ts_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    client = ts_env.client
    settings = make_settings()
    async with build_worker(client, settings, engine, task_queue):
        await create_plan(client, settings, flood_plan(code), task_queue=task_queue)
        h = plan_handle(client, code)
        await h.execute_update(PlanWorkflow.withdraw, CloseInput(by="张敏", reason="合并"))
        await h.result()
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    stage = next(x for x in lines if x["event"] == "plan stage changed")
    assert stage["workflow_id"] == f"plan:{code}"
    assert stage["run_id"] and stage["workflow_type"] == "PlanLifecycle"
    assert stage["to"] == "withdrawn" and stage["level"] == "info"
    projected = next(x for x in lines if x["event"] == "plan projected")
    assert projected["activity_type"] == "project_plan"
    assert projected["workflow_id"] == f"plan:{code}"


def test_tls_and_api_key_wiring(tmp_path: Path) -> None:
    from temporalio.client import TLSConfig

    from yingji.core.temporal import tls_config

    assert tls_config(make_settings()) is False
    assert tls_config(make_settings(temporal_api_key="k")) is True  # Temporal Cloud
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    tls = tls_config(
        make_settings(
            temporal_tls_server_root_ca=tmp_path / "ca.pem",
            temporal_tls_client_cert=tmp_path / "cert.pem",
            temporal_tls_client_key=tmp_path / "key.pem",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (
        b"-----ca.pem-----",
        b"-----cert.pem-----",
        b"-----key.pem-----",
    )


def test_logs_are_json_off_a_terminal_and_tracebacks_show_no_locals() -> None:
    """A failed notification printed a 60-line traceback with the phone number in it (the dev
    renderer showed every frame's locals). Off a terminal the logs are JSON; on one, the
    traceback is plain."""

    saved = (list(logging.getLogger().handlers), logging.getLogger().level)
    try:
        for stream, expected in ((io.StringIO(), "json"), (Tty(), "console")):
            settings = make_settings()
            assert log_format(settings, stream) == expected
            configure_logging(settings, stream)

            def notify(phone: str) -> None:
                secret_phone = phone  # a local that must not be printed
                raise RuntimeError(f"webhook refused {len(secret_phone)} digits")

            number = "139" + "12345678"  # the source shows the name, never the value
            try:
                notify(number)
            except RuntimeError:
                get_logger("test").exception("notification failed")
            output = stream.getvalue()
            assert "notification failed" in output and "13912345678" not in output
            if expected == "json":
                assert json.loads(output.splitlines()[-1])["event"] == "notification failed"
        assert log_format(make_settings(environment="production"), Tty()) == "json"
    finally:
        root = logging.getLogger()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()
