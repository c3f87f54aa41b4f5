"""Working-day arithmetic as an activity, so the answer is fixed in workflow history."""

from __future__ import annotations

from temporalio import activity

from models.plan import WorkingDaysInput, WorkingDaysResult
from yingji.core.workdays import add_working_days as _add


@activity.defn(name="add_working_days")
async def add_working_days(data: WorkingDaysInput) -> WorkingDaysResult:
    due, exact = _add(data.start, data.days)
    if not exact:
        activity.logger.warning(
            "working-day calendar estimated (year not covered by chinese-calendar)",
            extra={"start": data.start.isoformat(), "due": due.isoformat()},
        )
    return WorkingDaysResult(due=due, exact=exact)
