"""Chinese working days: statutory holidays are off, adjusted weekend workdays (调休) are on.

``chinese-calendar`` ships the State Council's announced calendar for a range of years (1.11
knows 2004-2026). Beyond its range we fall back to Monday-Friday and say so (``exact=False``),
because the holidays of a year are announced only late in the previous one. Workflows never call
this directly: they call it through an activity, so the answer is recorded in history and a
package upgrade cannot change a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar


@dataclass(frozen=True)
class WorkdayAnswer:
    is_workday: bool
    exact: bool


def is_workday(day: date) -> WorkdayAnswer:
    try:
        return WorkdayAnswer(chinese_calendar.is_workday(day), True)
    except NotImplementedError:
        return WorkdayAnswer(day.weekday() < 5, False)


def add_working_days(start: date, days: int) -> tuple[date, bool]:
    """The date that is ``days`` working days after ``start`` (``start`` itself not counted).

    Returns the date and whether every day crossed was covered by the official calendar.
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    exact = True
    current = start
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        answer = is_workday(current)
        exact = exact and answer.exact
        if answer.is_workday:
            counted += 1
    return current, exact


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_workday(current).is_workday:
            count += 1
    return count
