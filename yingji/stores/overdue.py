"""Every deadline that has passed, across the projections (for the duty room), every
叫应 call of a live warning that could not be delivered (未送达), and every 街镇 that has not
answered an open event's instruction by its deadline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_SQL = text(
    """
    SELECT 'plan_filing' AS kind, code AS ref, name, filing_due AS due FROM plan
    WHERE filing_overdue AND stage = 'issued'
    UNION ALL
    SELECT 'plan_evaluation', code, name, evaluation_due FROM plan
    WHERE evaluation_overdue AND stage = 'under_evaluation'
    UNION ALL
    SELECT 'drill_evaluation', code, name, evaluation_due FROM drill
    WHERE evaluation_overdue AND stage = 'conducted'
    UNION ALL
    SELECT 'corrective_action', a.drill_code || '#' || a.number, a.description, a.due_on
    FROM corrective_action a WHERE a.overdue AND a.done_on IS NULL
    UNION ALL
    SELECT 'disaster_report', d.code || ':' || slot, d.name, NULL
    FROM disaster d, jsonb_array_elements_text(d.overdue_slots) AS slot
    WHERE NOT d.closed
    UNION ALL
    SELECT 'call_undelivered', c.warning_id || ':' || c.unit_code,
           c.unit_name || ' ' || c.role || '：' || c.undelivered, NULL
    FROM warning_chain c JOIN warning w USING (warning_id)
    WHERE c.undelivered IS NOT NULL AND c.acked_at IS NULL AND NOT w.finished
    UNION ALL
    SELECT 'typhoon_instruction', i.event_id || ':' || i.instruction_id || ':' || town,
           town || '：' || i.text, CAST(i.due_at AT TIME ZONE 'Asia/Shanghai' AS date)
    FROM typhoon_instruction i JOIN typhoon_event e USING (event_id),
         jsonb_array_elements_text(i.overdue) AS town
    WHERE e.status = 'open'
    ORDER BY due NULLS LAST, kind, ref
    """
)


async def overdue(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [
            {**dict(r), "due": r["due"].isoformat() if r["due"] else None}
            for r in (await conn.execute(_SQL)).mappings()
        ]
