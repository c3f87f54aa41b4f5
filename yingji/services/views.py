"""Views of workflows for the console: live while a workflow runs, kept in PostgreSQL once it
has closed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from yingji.core.logging import get_logger
from yingji.stores import closed as closed_store

log = get_logger(__name__)

V = TypeVar("V", bound=BaseModel)


async def closed_or_live(
    client: Client,
    engine: AsyncEngine | None,
    workflow_id: str,
    model: type[V],
    query: Callable[[WorkflowHandle[Any, Any]], Awaitable[V]] | None = None,
) -> V:
    """A workflow's view: live (``query`` on its handle) while it runs; once it has closed,
    its final view, kept in PostgreSQL (``closed_view``) the first time it is read and served
    from there ever after, with no query (a query of a closed workflow replays its whole
    history on a worker).

    What is kept is keyed by the run: ``describe()`` (answered by the server from the run's
    state, no replay, no worker) names the current run, so a newer run of the same id (a
    reset, a continue-as-new, an id reused once Temporal forgot the old run) is never answered
    with an older run's view. Without ``engine`` the view is always queried, as before.
    ``query`` defaults to the workflow's ``view`` query."""
    if query is None:

        async def query(handle: WorkflowHandle[Any, Any]) -> V:
            return await handle.query("view", result_type=model)

    handle = client.get_workflow_handle(workflow_id)
    if engine is None:
        return await query(handle)
    described = await handle.describe()
    if described.status in (None, WorkflowExecutionStatus.RUNNING):
        return await query(handle)
    run_id = described.run_id
    try:
        kept = await closed_store.final_view(engine, workflow_id, run_id)
    except SQLAlchemyError as exc:  # the live answer still comes, at the query's cost
        log.warning("closed view not read", workflow_id=workflow_id, error=str(exc)[:200])
        kept = None
    if kept is not None:
        return model.model_validate_json(kept)
    # this run, not whatever run holds the id by the time the query is answered
    view = await query(client.get_workflow_handle(workflow_id, run_id=run_id))
    try:
        await closed_store.keep(
            engine,
            workflow_id,
            run_id,
            described.workflow_type or "",
            view.model_dump_json(),
            described.close_time,
        )
    except SQLAlchemyError as exc:
        log.warning("closed view not kept", workflow_id=workflow_id, error=str(exc)[:200])
    return view
