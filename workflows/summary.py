"""Year-end summary (年度总结): figures from the year's records, rendered and stored as a version.

Started by the ``year-end-summary`` schedule every January (for the previous year), or on
demand and for backfill with an explicit year.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.base import today_in_china

with workflow.unsafe.imports_passed_through():
    from activities.summary import SummaryActivities
    from models.summary import StoreInput, SummaryDocument, SummaryInput, SummaryRequest

RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
#: A worker killed mid-activity is noticed this soon (the activities heartbeat every 2 s).
HEARTBEAT = timedelta(seconds=10)


@workflow.defn(name="YearEndSummary")
class SummaryWorkflow:
    @workflow.run
    async def run(self, data: SummaryInput) -> SummaryDocument:
        year = data.year or today_in_china().year - 1
        info = workflow.info()
        request = SummaryRequest(
            year=year,
            district=data.district,
            bureau=data.bureau,
            run_key=f"{info.workflow_id}/{info.run_id}",
            level=data.level,
            as_of=data.as_of,
        )
        figures = await workflow.execute_activity_method(
            SummaryActivities.figures,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return await workflow.execute_activity_method(
            SummaryActivities.store,
            StoreInput(request=request, figures=figures),
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
