"""The dates of a drill programme's year, moved to the next working day when they fall off one.

An activity, so the calendar's answer is fixed in the programme's history.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import activity

from models.drill import Frequency, ProgrammeDates, ProgrammeDrill, ProgrammeInput
from yingji.core.workdays import is_workday

_QUARTERS = ("第一季度", "第二季度", "第三季度", "第四季度")
_HALVES = ("上半年", "下半年")


def next_working_day(day: date) -> tuple[date, bool]:
    exact = True
    while True:
        answer = is_workday(day)
        exact = exact and answer.exact
        if answer.is_workday:
            return day, exact
        day += timedelta(days=1)


def programme_drills(data: ProgrammeInput) -> ProgrammeDates:
    drills: list[ProgrammeDrill] = []
    exact = True
    for item in data.items:
        if item.frequency is Frequency.MONTHLY:
            periods = [(m, f"{m:02d}", f"{m}月") for m in range(1, 13)]
        elif item.frequency is Frequency.QUARTERLY:
            periods = [(q * 3 + item.month, str(q + 1), _QUARTERS[q]) for q in range(4)]
        elif item.frequency is Frequency.SEMIANNUAL:
            periods = [(h * 6 + item.month, str(h + 1), _HALVES[h]) for h in range(2)]
        else:
            periods = [(item.month, "", "年度")]
        for month, suffix, label in periods:
            day, day_exact = next_working_day(date(data.year, month, item.day))
            exact = exact and day_exact
            drills.append(
                ProgrammeDrill(
                    code=f"{data.unit_code}-{data.year}-{item.key}{suffix}",
                    name=item.name or f"{data.unit}{data.year}年{label}{item.title}",
                    scheduled_on=day,
                    item=item.key,
                )
            )
    drills.sort(key=lambda d: (d.scheduled_on, d.code))
    return ProgrammeDates(drills=drills, exact=exact)


@activity.defn(name="programme_dates")
async def programme_dates(data: ProgrammeInput) -> ProgrammeDates:
    return programme_drills(data)
