"""Workers and consoles as separate processes, as production runs them ([3/7] finding 9).

Two ``yingji worker`` and one ``yingji console`` share a Temporal server and a database: a plan
created through the console is driven by whichever worker takes it, and SIGTERM, SIGINT and
SIGHUP each stop a process gracefully (exit 0), leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import bureau_env, console_tokens_for
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
YINGJI = str(Path(sys.executable).parent / "yingji")
DUTY = "processes-duty-token-0123456789abcdef"


def start(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [YINGJI, command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a signal to the test's group must not reach it
    )


def call(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {DUTY}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_for(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token)
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def test_workers_and_a_console_run_apart_and_each_signal_stops_them(
    dev_env: WorkflowEnvironment, database_url: str, engine
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        **bureau_env(),
        "YINGJI_ENVIRONMENT": "production",
        "YINGJI_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "YINGJI_DATABASE_URL": database_url,
        "YINGJI_TEMPORAL_TASK_QUEUE": f"processes-{uuid.uuid4().hex[:8]}",
        "YINGJI_SUMMARY_SCHEDULE_ENABLED": "false",
        "YINGJI_CONSOLE_PORT": str(port),
        "YINGJI_CONSOLE_TOKENS": json.dumps(console_tokens_for({DUTY: "duty_officer"})),
    }
    processes = {
        "worker-1": start("worker", env),
        "worker-2": start("worker", env),
        "console": start("console", env),
    }
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/plans")
        code = f"PROC-{uuid.uuid4().hex[:6]}"
        plan = {
            "code": code,
            "name": "进程测试专项应急预案",
            "kind": "special",
            "level": "district",
            "unit": "区应急管理局",
            "drafter": "张敏",
        }
        status, body = call(f"{base}/api/plans", plan)
        assert status == 201, body
        status, body = call(f"{base}/api/plans/{code}/submit", {"by": "张敏"})
        assert status == 200 and body["stage"] == "consultation", body
    finally:
        for name, sig in (
            ("console", signal.SIGHUP),
            ("worker-1", signal.SIGTERM),
            ("worker-2", signal.SIGINT),
        ):
            processes[name].send_signal(sig)
        codes = {}
        for name, process in processes.items():
            try:
                codes[name] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = "hung"
    errors = {n: p.stderr.read().decode()[-600:] for n, p in processes.items() if p.stderr}
    assert codes == {"worker-1": 0, "worker-2": 0, "console": 0}, errors


def test_ctrl_c_during_a_load_is_a_message_not_a_traceback(
    dev_env: WorkflowEnvironment, database_url: str, engine
) -> None:
    """Ctrl-C in the middle of `yingji load` printed forty lines ending in
    WorkflowUpdateRPCTimeoutOrCancelledError. Nothing works the task queue here, so the load
    waits on its first step when the interrupt comes."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        **bureau_env(),
        "YINGJI_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "YINGJI_DATABASE_URL": database_url,
        "YINGJI_TEMPORAL_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
    }
    scenario = ROOT / "examples" / "jiading-2022-meihua.yaml"
    load = subprocess.Popen(
        [YINGJI, "load", str(scenario)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(6)
    load.send_signal(signal.SIGINT)
    _, stderr = load.communicate(timeout=60)
    assert load.returncode == 130, stderr
    assert "interrupted: what was already sent is kept" in stderr and "Traceback" not in stderr
