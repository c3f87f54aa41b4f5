"""Chinese working days, across the 2024 National Day holiday and its 调休 Saturday."""

from __future__ import annotations

from datetime import date

import pytest
from temporalio.testing import ActivityEnvironment

from activities.calendar import add_working_days as add_working_days_activity
from models.plan import WorkingDaysInput
from yingji.core.workdays import add_working_days, is_workday, working_days_between


def test_national_day_2024_holidays_and_adjusted_workdays() -> None:
    # 2024-09-29 (Sunday) and 2024-10-12 (Saturday) were 调休 workdays; 10-01..10-07 were off.
    assert is_workday(date(2024, 9, 29)).is_workday
    assert is_workday(date(2024, 10, 12)).is_workday
    assert not any(is_workday(date(2024, 10, d)).is_workday for d in range(1, 8))
    assert not is_workday(date(2024, 10, 13)).is_workday  # an ordinary Sunday


def test_twenty_working_days_after_an_issue_just_before_national_day() -> None:
    # Issued Friday 2024-09-27. Counting: 9-29 (调休), 9-30, then 10-08 .. 10-11, 10-12 (调休) …
    due, exact = add_working_days(date(2024, 9, 27), 20)
    assert (due, exact) == (date(2024, 10, 30), True)
    # Plain Monday-Friday counting would have said 2024-10-25: the holiday moves it.
    assert working_days_between(date(2024, 9, 27), date(2024, 10, 30)) == 20


def test_year_outside_the_official_calendar_is_estimated_and_says_so() -> None:
    due, exact = add_working_days(date(2026, 12, 21), 20)
    assert exact is False
    assert due.weekday() < 5 and due.year == 2027


def test_negative_days_rejected() -> None:
    with pytest.raises(ValueError, match="days must be >= 0"):
        add_working_days(date(2024, 1, 1), -1)


async def test_activity_returns_the_same_answer() -> None:
    result = await ActivityEnvironment().run(
        add_working_days_activity, WorkingDaysInput(start=date(2024, 9, 27), days=20)
    )
    assert (result.due, result.exact) == (date(2024, 10, 30), True)
