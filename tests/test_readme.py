"""The README's walkthroughs run as written: every ``$Y`` line of its set-up, plan, drill,
typhoon, 叫应/disaster and summary sections, in order, on the example files. (A newcomer found
three of them failing: a drill dated next month, a typhoon only a later section opens, files
that were not in the repository.)"""

from __future__ import annotations

import re
import shlex
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import bureau_env
from tests.stack import fresh_stack
from tests.test_cli import yingji

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = (
    "## Set up your bureau",
    "## A plan from draft to in force",
    "## A drill, and a year's programme",
    "## A typhoon, as the district runs it",
    "## Officers, 叫应 and disaster reports",
    "## The year-end summary",
)


def commands(tmp: Path) -> list[tuple[str, list[str]]]:
    """(section, arguments) of each ``$Y`` line of the sections, continuation lines joined,
    comments dropped, ``$(date +%F)`` as the shell gives it, outputs under ``tmp``."""
    found, section, block, pending = [], "", False, ""
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line
        if line.startswith("```"):
            block = line.startswith("```sh") and not block
            continue
        if not block or section not in SECTIONS:
            continue
        text = pending + line
        if text.rstrip().endswith("\\"):
            pending = text.rstrip()[:-1] + " "
            continue
        pending = ""
        if not text.startswith("$Y "):
            continue
        text = re.sub(r"\s#\s.*$", "", text).replace("$(date +%F)", date.today().isoformat())
        args = shlex.split(text)[1:]
        args = [str(tmp / a) if a.endswith(".docx") else a for a in args]
        found.append((section, args))
    return found


async def test_the_readme_walkthroughs_run_as_written(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a stack of its own (the walkthrough registers 村居 under 马陆镇, which would change
    how other tests' 马陆镇 reports), as the README's bureau, 嘉定区."""
    from typer.testing import CliRunner

    from worker import build_worker
    from yingji.core.settings import get_settings

    steps = commands(tmp_path)
    assert len(steps) > 60 and {s for s, _ in steps} == set(SECTIONS)
    async with fresh_stack(database_url) as stack:
        env = {
            "YINGJI_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "YINGJI_DATABASE_URL": stack.database_url,
            "YINGJI_TEMPORAL_TASK_QUEUE": stack.task_queue,
            "YINGJI_DATA_DIR": str(tmp_path),
            "COLUMNS": "200",
            **bureau_env(),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        cli = CliRunner()
        async with build_worker(stack.client, settings, stack.engine, stack.task_queue):
            for section, args in steps:
                r = await yingji(cli, *args)
                assert r.exit_code == 0, (section, args, r.output)
        get_settings.cache_clear()
