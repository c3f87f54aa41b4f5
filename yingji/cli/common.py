"""What every command shares: running async jobs, turning failures into clear messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.common import LabelledEnum
from yingji.db import make_engine
from yingji.embedded import read_info
from yingji.refusals import REFUSALS as DOMAIN_REFUSALS
from yingji.scenario import ScenarioError
from yingji.settings import Settings, get_settings
from yingji.temporal import connect, temporal_address

T = TypeVar("T")
E = TypeVar("E", bound=LabelledEnum)

out = Console(soft_wrap=True)
err = Console(stderr=True)


#: Refusals whose message already names the field (or the place in a file) and the reason.
REFUSALS = (*DOMAIN_REFUSALS, ScenarioError)


class CliError(Exception):
    """A message for the user; exits non-zero."""


def fail(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    raise typer.Exit(1)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"]) or "input"
        parts.append(f"{field}: {e['msg']}")
    return "; ".join(parts)


def run(job: Callable[[Settings], Awaitable[T]], subject: str | None = None) -> T:
    """Run an async CLI job, turning every expected failure into a clear message and exit 1.

    ``subject`` names what the job is about ("plan JD-1") for the messages.
    """
    settings = get_settings()
    try:
        return asyncio.run(job(settings))
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
    except ConnectionError as exc:
        fail(f"cannot connect: {exc}")
    raise AssertionError("unreachable")


async def with_engine(settings: Settings, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``use`` with a database engine for the duration of one command."""
    engine = make_engine(database_url(settings))
    try:
        return await use(engine)
    finally:
        await engine.dispose()


async def client_for(settings: Settings) -> Client:
    try:
        return await connect(settings)
    except RuntimeError as exc:
        raise CliError(
            f"cannot reach Temporal at {temporal_address(settings)}: {exc}. Is `make run` running?"
        ) from exc


def database_url(settings: Settings) -> str:
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


def parse_date(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"'{text}' is not a date (YYYY-MM-DD)", param_hint=f"--{field}"
        ) from exc
