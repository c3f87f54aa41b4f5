"""What every command shares: running async jobs, turning failures into clear messages."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from pydantic import ValidationError
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

    from models.common import LabelledEnum
    from yingji.core.settings import Settings


#: Every command group: plain help (rich's help renderer costs more than the whole command's
#: start-up) and no locals in a traceback (they can hold a password or a phone number).
TYPER = {"rich_markup_mode": None, "pretty_exceptions_enable": False}

#: ``--district``: every command's default is the configured one.
District = Annotated[
    str | None, typer.Option(help="区 or 市; default: the configured YINGJI_BUREAU_DISTRICT")
]

#: ``--request-id``: every mutation's; generated (and printed) when absent.
RequestId = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        help="makes a repeated command apply once (8-128 printable ASCII); printed when generated",
    ),
]
#: ``--expect-stage``: refuse the step unless the workflow is still in this stage.
ExpectStage = Annotated[
    str | None,
    typer.Option("--expect-stage", help="refuse unless it is still in this stage (e.g. drafting)"),
]

T = TypeVar("T")
E = TypeVar("E", bound="LabelledEnum")
M = TypeVar("M")

#: Piped (or with ``--json``), a table is as wide as its rows: nothing is cut at 80 columns.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 4000)
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width


class CliError(Exception):
    """A message for the user; exits non-zero."""


def fail(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    raise typer.Exit(1)


def request_id(given: str | None) -> str:
    """The command's request id: the one given, or a new one printed to stderr (so that the
    same step can be sent again, and applied once, if the answer is lost)."""
    import re

    from yingji.services.requests import REQUEST_ID_PATTERN, new_request_id

    if given is not None:
        if not re.match(REQUEST_ID_PATTERN, given):
            fail("--request-id: 8 to 128 printable ASCII characters, no blanks")
        return given
    rid = new_request_id()
    err.print(f"request id: {rid}", highlight=False)
    return rid


async def send_once(
    settings: Settings, rid: str, workflow_id: str, action: str, data: Any, call: Awaitable[T]
) -> T:
    """Send ``call`` as the command's request (``--request-id``): refused if the id asked
    something else before, answered within ``YINGJI_REQUEST_WAIT_SECONDS`` (see
    ``yingji.services.requests.once``)."""
    from yingji.services.requests import once

    wait = settings.request_wait_seconds
    return await with_engine(
        settings, lambda engine: once(engine, rid, workflow_id, action, data, call, wait)
    )


def expecting(data: M, stage: str | None) -> M:
    """``data`` with ``--expect-stage`` (checked by the workflow before it applies the step)."""
    if stage is None:
        return data
    return data.model_validate({**data.model_dump(), "expect_stage": stage})  # type: ignore[attr-defined]


def _validation_message(exc: ValidationError) -> str:
    from yingji.core.errors import plain_errors

    return plain_errors(exc.errors())  # type: ignore[arg-type]


def run(
    job: Callable[[Settings], Awaitable[T]],
    subject: str | None = None,
    passing: tuple[type[BaseException], ...] = (),
) -> T:
    """Run an async CLI job, turning every expected failure into a clear message and exit 1.

    ``subject`` names what the job is about ("plan JD-1") for the messages; failures of the
    types in ``passing`` are raised to the command, which shows them itself.
    """
    import asyncio

    from asyncpg import PostgresError
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError
    from temporalio.client import (
        WorkflowUpdateFailedError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
    )
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError, RPCStatusCode

    from yingji.core.errors import REFUSALS
    from yingji.core.temporal import temporal_address
    from yingji.services.requests import StillRunning

    settings = load_settings()
    try:
        return asyncio.run(job(settings))
    except passing:
        raise
    except ValidationError as exc:
        fail(f"invalid input: {_validation_message(exc)}")
    except WorkflowAlreadyStartedError:
        fail(f"{subject} already exists (codes are never reused)")
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        fail(getattr(cause, "message", None) or str(cause or exc))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"{subject} not found, or no longer open" if subject else exc.message)
        if exc.status == RPCStatusCode.UNAVAILABLE:
            fail(f"cannot reach Temporal at {temporal_address(settings)}: is `make run` running?")
        fail(f"Temporal refused the request: {exc.message}")
    except (CliError, *REFUSALS) as exc:
        fail(str(exc))
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        if _cancelled(exc):  # Ctrl-C cancelled the wait: an interrupt, not a timeout
            interrupted()
        fail(
            f"{subject or 'the workflow'} did not answer in time: the step may still be applied; "
            "show it, or send the same command again (a repeated step is applied once)"
        )
    except StillRunning as exc:
        fail(
            f"{subject or exc.workflow_id}: no answer within {exc.waited:g} s (is a worker "
            "running?); the step is kept and applies once a worker takes it — run the same "
            f"command again with --request-id {exc.request_id} to get its outcome"
        )
    except KeyboardInterrupt:
        interrupted()
    except (DBAPIError, PostgresError) as exc:
        fail(f"the database refused or dropped the request ({_first_line(exc)}); {DATABASE_HINT}")
    except (ConnectionError, TimeoutError) as exc:
        fail(
            f"cannot connect ({_first_line(exc)}); check YINGJI_DATABASE_URL and "
            "YINGJI_TEMPORAL_ADDRESS, or that `make run` is running"
        )
    except OSError as exc:  # a file: missing, unreadable, not writable
        where = f" {exc.filename}" if exc.filename else ""
        fail(f"cannot use{where}: {exc.strerror or exc}")
    raise AssertionError("unreachable")


def load_settings() -> Settings:
    """The settings, or one line per bad value naming its environment variable."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from yingji.core.errors import plain_reason
    from yingji.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        fail(
            "invalid settings: "
            + "; ".join(
                f"YINGJI_{'_'.join(str(p) for p in e['loc']).upper()}: {plain_reason(e)}"  # type: ignore[arg-type]
                for e in exc.errors()
            )
        )
    except SettingsError as exc:
        fail(f"invalid settings: {_first_line(exc)}")
    raise AssertionError("unreachable")


def _cancelled(exc: BaseException) -> bool:
    import asyncio

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncio.CancelledError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def interrupted() -> None:
    err.print(
        "interrupted: what was already sent is kept; run the same command again to carry on",
        highlight=False,
    )
    raise typer.Exit(130)


#: Where a database problem is fixed; the URL itself is never printed (it holds the password).
DATABASE_HINT = "check YINGJI_DATABASE_URL, or that `make run` is running"


def _first_line(exc: BaseException) -> str:
    """The reason in one line, without the SQL or the connection string."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


async def with_engine(settings: Settings, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``use`` with a database engine for the duration of one command."""
    from yingji.core.db import make_engine

    engine = make_engine(database_url(settings))
    try:
        return await use(engine)
    finally:
        await engine.dispose()


async def client_for(settings: Settings) -> Client:
    from yingji.core.temporal import connect, temporal_address

    try:
        return await connect(settings)
    except RuntimeError as exc:
        raise CliError(
            f"cannot reach Temporal at {temporal_address(settings)}: {exc}. Is `make run` running?"
        ) from exc


def database_url(settings: Settings) -> str:
    from yingji.core.embedded import read_info

    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    info = read_info(settings)
    if info is None or not info.database_url:
        raise CliError(
            "no database: set YINGJI_DATABASE_URL, or start the embedded stack with `make run`"
        )
    return info.database_url


def parse(enum: type[E], text: str, field: str) -> E:
    try:
        return enum.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{field}") from exc


def read_text(path: Path, option: str) -> str:
    """A file as text: UTF-8 (with or without BOM) or GBK, as Excel and Notepad write them."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror or exc}", param_hint=option
        ) from exc
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise typer.BadParameter(f"{path} is neither UTF-8 nor GBK text", param_hint=option)


def read_json_object(path: Path, option: str) -> dict[str, Any]:
    """A JSON file that must hold an object (``{...}``)."""
    import json

    try:
        value = json.loads(read_text(path, option))
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path} is not JSON: {exc}", param_hint=option) from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object {{...}}", param_hint=option)
    return value


def write_file(path: Path, data: bytes, option: str = "--output") -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint=option
        ) from exc


def parse_date(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"'{text}' is not a date (YYYY-MM-DD)", param_hint=f"--{field}"
        ) from exc


#: ``--json``: every command's; the same data as the table, times in Asia/Shanghai.
Json = Annotated[bool, typer.Option("--json", help="print JSON (times in Asia/Shanghai, +08:00)")]


def when(value: Any) -> str:
    """A time as people here read it: Asia/Shanghai, with its offset (``2022-09-14 23:00+08:00``);
    a date as it is; nothing as nothing."""
    from datetime import datetime

    from models.common import CHINA_TZ

    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(CHINA_TZ) if value.tzinfo else value.replace(tzinfo=CHINA_TZ)
        return local.isoformat(sep=" ", timespec="minutes" if local.second == 0 else "seconds")
    return str(value)


def local_times(value: Any) -> Any:
    """``value`` (a model, a dataclass, a list, a dict) as JSON-ready data with every time in
    Asia/Shanghai."""
    import dataclasses
    from datetime import date, datetime
    from enum import Enum

    from pydantic import BaseModel

    from models.common import CHINA_TZ

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): local_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [local_times(v) for v in value]
    if isinstance(value, datetime):
        return (value.astimezone(CHINA_TZ) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def emit(value: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print ``value``: as JSON with ``--json`` (one document on stdout), else with ``render``."""
    import json

    if as_json or render is None:
        sys.stdout.write(json.dumps(local_times(value), ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()
        return
    render(value)
