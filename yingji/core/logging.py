"""structlog set-up: JSON in production and off a terminal, readable lines on a terminal.

Everything logged through the standard library (Temporal's workflow and activity loggers
included) is rendered by structlog. The ``temporal_workflow`` / ``temporal_activity`` extras that
the SDK attaches are flattened into ``workflow_id``, ``run_id``, ``workflow_type`` and
``activity_type`` keys.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow

from yingji.core.settings import Settings

_SECRET_KEYS = ("password", "api_key", "token", "secret", "database_url")


def _temporal_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    wf = event.pop("temporal_workflow", None)
    if isinstance(wf, dict):
        event.setdefault("workflow_id", wf.get("workflow_id"))
        event.setdefault("run_id", wf.get("run_id"))
        event.setdefault("workflow_type", wf.get("workflow_type"))
        if wf.get("update_name"):
            event.setdefault("update_name", wf.get("update_name"))
    act = event.pop("temporal_activity", None)
    if isinstance(act, dict):
        event.setdefault("workflow_id", act.get("workflow_id"))
        event.setdefault("run_id", act.get("workflow_run_id"))
        event.setdefault("activity_type", act.get("activity_type"))
        event.setdefault("activity_attempt", act.get("attempt"))
    return event


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "***"
    return event


def log_format(settings: Settings, stream: TextIO) -> str:
    """``auto``: readable lines on a terminal in development; JSON everywhere else (production,
    or output going to a file, a pipe or a log collector)."""
    if settings.log_format != "auto":
        return settings.log_format
    if settings.environment == "production" or not getattr(stream, "isatty", lambda: False)():
        return "json"
    return "console"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route stdlib logging and structlog through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _temporal_context,
        _redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    out = stream or sys.stderr
    renderer: Any
    if log_format(settings, out) == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        shared.append(structlog.processors.format_exc_info)
    else:
        # A plain traceback: the default (rich) one prints every frame's local variables, and
        # those held phone numbers and passwords.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Chatty libraries: their INFO lines are about their own internals.
    for name in ("pgserver", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # The workflow/activity context travels as structured keys, not glued onto the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
