"""Every deadline that has passed, across the projections (for the duty room), every
叫应 call of a live warning that could not be delivered (未送达), every 街镇 that has not
answered an open event's instruction by its deadline, and each open event's reporting round
with units that have not reported (未报).

``round_missing``: one row per open event, for its latest round whose deadline the workflow
has checked (``due_arrival`` fixed at its ``due`` check: the deadline passed by the workflow's
clock, as an instruction's ``overdue``), while any unit has no report in the round's window
(from its opening to the next round's), live from the intake as ``round_units`` finds them:
named ``第1轮：安亭镇、南翔镇、外冈镇 等 10 个未报`` (the first three, by 街镇 and code), ref
``{event_id}:{round}`` (e.g. ``2024:13:1``; the event is the ref's first two parts), due the
round's deadline's date in Asia/Shanghai. A unit that reported late is no longer listed."""

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
    UNION ALL
    SELECT 'round_missing', r.event_id || ':' || r.round_no,
           '第' || r.round_no || '轮：' || m.names || ' 等 ' || m.missing || ' 个未报',
           CAST(r.due_at AT TIME ZONE 'Asia/Shanghai' AS date)
    FROM typhoon_event e
    CROSS JOIN LATERAL (
        SELECT k.event_id, k.round_no, k.due_at, k.open_arrival, (
            SELECT min(n.open_arrival) FROM typhoon_round n
            WHERE n.event_id = k.event_id AND n.round_no > k.round_no) AS next_arrival
        FROM typhoon_round k
        WHERE k.event_id = e.event_id AND k.due_arrival IS NOT NULL
        ORDER BY k.round_no DESC LIMIT 1
    ) r
    CROSS JOIN LATERAL (
        SELECT count(*) AS missing,
               string_agg(x.name, '、' ORDER BY x.place) FILTER (WHERE x.place <= 3) AS names
        FROM (
            SELECT CASE WHEN coalesce(tw.name, u.town_code) IN (coalesce(a.name, u.unit_code), '')
                        THEN coalesce(a.name, u.unit_code)
                        ELSE coalesce(tw.name, u.town_code) || coalesce(a.name, u.unit_code)
                   END AS name,
                   row_number() OVER (ORDER BY u.town_code, u.unit_code) AS place
            FROM typhoon_unit u
            LEFT JOIN admin_unit a ON a.code = u.unit_code
            LEFT JOIN admin_unit tw ON tw.code = u.town_code
            WHERE u.event_id = e.event_id AND NOT EXISTS (
                SELECT 1 FROM typhoon_report t
                WHERE t.event_id = e.event_id AND t.unit_code = u.unit_code
                  AND t.arrival > r.open_arrival
                  AND (r.next_arrival IS NULL OR t.arrival <= r.next_arrival))
        ) x
    ) m
    WHERE e.status = 'open' AND m.missing > 0
    ORDER BY due NULLS LAST, kind, ref
    """
)


async def overdue(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [
            {**dict(r), "due": r["due"].isoformat() if r["due"] else None}
            for r in (await conn.execute(_SQL)).mappings()
        ]
