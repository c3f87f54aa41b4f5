"""``yingji serve`` (what ``make run`` starts): embedded stack up, state kept, Ctrl-C cleans up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from tests.conftest import console_tokens_for
from tests.helpers import free_port

ROOT = Path(__file__).parent.parent
YINGJI = str(Path(sys.executable).parent / "yingji")
#: A viewer's console token (at least 32 characters).
VIEWER = "serve-test-token-0123456789abcdef01"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Serve:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.banner = ""

    def start(self, within: float = 90) -> None:
        self.process = subprocess.Popen(
            [YINGJI, "serve"],
            cwd=ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + within
        for line in self.process.stdout:
            self.banner += line
            if line.startswith("  Try"):
                return
            assert time.monotonic() < deadline, self.banner
        raise AssertionError(f"serve exited early:\n{self.banner}")

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children(recursive=True)

    def interrupt(self, sig: signal.Signals = signal.SIGINT) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(60)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [YINGJI, *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=60
    )


def test_serve_runs_the_embedded_stack_keeps_state_and_stops_cleanly(tmp_path: Path) -> None:
    port, ui, web = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        "YINGJI_DATA_DIR": str(tmp_path / "data"),
        "YINGJI_EMBEDDED_TEMPORAL_PORT": str(port),
        "YINGJI_EMBEDDED_TEMPORAL_UI_PORT": str(ui),
        "YINGJI_CONSOLE_PORT": str(web),
        "YINGJI_CONSOLE_TOKENS": json.dumps(console_tokens_for({VIEWER: "viewer"})),
        "COLUMNS": "200",
    }
    serve = Serve(env)
    serve.start()
    try:
        assert f"127.0.0.1:{port}" in serve.banner and f"http://127.0.0.1:{ui}" in serve.banner
        assert "PostgreSQL" in serve.banner and "embedded" in serve.banner
        # No bureau is built in: development starts, and says what is missing.
        assert "Bureau       not configured: set YINGJI_BUREAU_NAME" in serve.banner
        started = serve.children()
        assert any("temporal" in p.name() for p in started)

        r = cli(
            env,
            "plan",
            "create",
            "JD-DZ-2026",
            "--name",
            "嘉定区地震应急预案",
            "--kind",
            "special",
            "--level",
            "district",
            "--unit",
            "嘉定区应急管理局",
            "--drafter",
            "张敏",
            "--district",  # no bureau is configured yet: the plan names its own
            "嘉定区",
        )
        assert r.returncode == 0, r.stderr
        assert cli(env, "plan", "submit", "JD-DZ-2026", "--by", "张敏").returncode == 0

        # The plan is visible through the Temporal UI's HTTP API.
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ui}/api/v1/namespaces/default/workflows/plan:JD-DZ-2026"
        ) as response:
            body = json.loads(response.read())
        assert body["workflowExecutionInfo"]["type"]["name"] == "PlanLifecycle"

        # The console serves the same plan to a viewer.
        assert f"http://127.0.0.1:{web}/  (the duty room" in serve.banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{web}/api/plans/JD-DZ-2026",
            headers={"Authorization": f"Bearer {VIEWER}"},
        )
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["stage"] == "consultation"
    finally:
        code = serve.interrupt()
    assert code == 0
    # Ctrl-C stopped what serve started.
    assert not port_open(port) and not port_open(ui) and not port_open(web)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started)

    # Restarted on the same data directory, the plan is still there, in its stage; the banner
    # names the bureau it now serves.
    env |= {
        "YINGJI_BUREAU_NAME": "青禾区应急管理局",
        "YINGJI_BUREAU_DISTRICT": "青禾区",
        "YINGJI_BUREAU_LEVEL": "district",
    }
    serve = Serve(env)
    serve.start()
    try:
        assert "Bureau       青禾区应急管理局 (青禾区, district)" in serve.banner
        r = cli(env, "plan", "show", "JD-DZ-2026")
        assert r.returncode == 0, r.stderr
        assert "征求意见" in r.stdout
        r = cli(env, "plan", "list")
        assert r.returncode == 0 and "JD-DZ-2026" in r.stdout
    finally:
        assert serve.interrupt() == 0


def test_serve_refuses_a_taken_port_by_name_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
            "YINGJI_DATA_DIR": str(tmp_path / "data"),
            "YINGJI_EMBEDDED_TEMPORAL_PORT": str(free_port()),
            "YINGJI_EMBEDDED_TEMPORAL_UI_PORT": str(free_port()),
            "YINGJI_CONSOLE_PORT": str(busy),
        }
        r = cli(env, "serve")
    assert r.returncode == 1
    assert f"127.0.0.1:{busy} is already in use; set YINGJI_CONSOLE_PORT" in r.stderr
    assert not (tmp_path / "data" / "temporal.db").exists()  # nothing was started


def test_production_refuses_to_start_without_the_bureau(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        "YINGJI_DATA_DIR": str(tmp_path / "data"),
        "YINGJI_ENVIRONMENT": "production",
        "YINGJI_BUREAU_NAME": "青禾区应急管理局",
    }
    r = cli(env, "serve")
    assert r.returncode == 1
    assert "set YINGJI_BUREAU_DISTRICT, YINGJI_BUREAU_LEVEL" in r.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
    worker = subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env={**env, "YINGJI_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert worker.returncode == 1
    assert "set YINGJI_BUREAU_DISTRICT, YINGJI_BUREAU_LEVEL" in worker.stderr


def test_a_closed_terminal_stops_serve_and_everything_it_started(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed) used to leave the embedded Temporal and PostgreSQL running,
    and the next ``make run`` found their ports taken."""
    port, ui, web = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        "YINGJI_DATA_DIR": str(tmp_path / "data"),
        "YINGJI_EMBEDDED_TEMPORAL_PORT": str(port),
        "YINGJI_EMBEDDED_TEMPORAL_UI_PORT": str(ui),
        "YINGJI_CONSOLE_PORT": str(web),
    }
    serve = Serve(env)
    serve.start()
    data = str(tmp_path / "data")

    def ours() -> list[psutil.Process]:  # PostgreSQL detaches: found by its data directory
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(data in part for part in p.info["cmdline"] or [])
            and p.status() != psutil.STATUS_ZOMBIE
        ]

    started = ours()
    assert any("temporal" in p.name() for p in started)
    assert any("postgres" in p.name() for p in started)
    assert serve.interrupt(signal.SIGHUP) == 0
    assert not port_open(port) and not port_open(ui) and not port_open(web)
    assert ours() == []


def test_serve_clears_what_a_killed_serve_left_and_never_doubles_temporal(tmp_path: Path) -> None:
    """A serve killed without its clean-up (SIGKILL) left Temporal and PostgreSQL running; the
    next run said the port was taken, and another port started a second Temporal on the same
    temporal.db. Now the next serve stops its own leftovers, reuses the data, and at the end
    stops everything; a second serve on a directory in use is refused."""
    port, ui, web = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YINGJI_")},
        "YINGJI_DATA_DIR": str(data),
        "YINGJI_EMBEDDED_TEMPORAL_PORT": str(port),
        "YINGJI_EMBEDDED_TEMPORAL_UI_PORT": str(ui),
        "YINGJI_CONSOLE_PORT": str(web),
    }

    def ours() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(str(data.resolve()) in part for part in p.info["cmdline"] or [])
            and p.status() != psutil.STATUS_ZOMBIE
        ]

    first = Serve(env)
    first.start()
    r = cli(
        env,
        "plan",
        "create",
        "LEFT-1",
        "--name",
        "遗留测试预案",
        "--kind",
        "special",
        "--level",
        "district",
        "--unit",
        "区应急管理局",
        "--drafter",
        "张敏",
        "--district",
        "某区",
    )
    assert r.returncode == 0, r.stderr

    # a second serve on the same directory is refused while the first runs
    r = cli({**env, "YINGJI_CONSOLE_PORT": str(free_port())}, "serve")
    assert r.returncode == 1 and "already uses" in r.stderr, r.stderr

    assert first.process is not None
    first.process.kill()  # no clean-up at all
    first.process.wait(30)
    assert any("temporal" in p.name() for p in ours())  # the leftovers run on

    second = Serve(env)
    second.start()  # same ports: the leftovers were cleared, not dodged
    try:
        temporals = [p for p in ours() if "temporal" in p.name()]
        assert len(temporals) == 1  # never two on one temporal.db
        r = cli(env, "plan", "show", "LEFT-1")
        assert r.returncode == 0 and "遗留测试预案" in r.stdout, r.stderr
    finally:
        assert second.interrupt() == 0
    assert ours() == []  # PostgreSQL too: the dead serve's handle no longer holds it
