"""Synthetic districts and report streams, for the benchmark and the fault tests.

A district of ``towns`` 街镇 with ``villages`` 村居 each; every 村居 reports cumulative figures
that only grow, so the exact expected total is the sum of each unit's last figures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.typhoon import Figures, UnitReport


def district_units(district: str, prefix: str, towns: int, villages: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for t in range(1, towns + 1):
        town = f"{prefix}-T{t:03d}"
        rows.append(
            {
                "code": town,
                "name": f"第{t}街镇",
                "level": "town",
                "parent_code": None,
                "district": district,
            }
        )
        rows += [
            {
                "code": f"{town}-V{v:03d}",
                "name": f"第{t}街镇第{v}村居",
                "level": "village",
                "parent_code": town,
                "district": district,
            }
            for v in range(1, villages + 1)
        ]
    return rows


@dataclass
class ReportStream:
    """Generates rounds of reports; ``expected`` is the truth the totals must equal."""

    event_id: str
    units: list[str]
    start: datetime
    seed: int = 7
    expected: dict[str, Figures] = field(default_factory=dict)
    _round: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def next_round(self, units: list[str] | None = None) -> list[UnitReport]:
        """One report per unit (all, or those given), ten minutes after the previous round."""
        self._round += 1
        as_of = self.start + timedelta(minutes=10 * self._round)
        out = []
        for unit in self.units if units is None else units:
            before = self.expected.get(unit) or Figures()
            centralized = before.centralized + self._random.randint(0, 40)
            dispersed = before.dispersed + self._random.randint(0, 10)
            figures = Figures(
                pre_evacuated=before.pre_evacuated + self._random.randint(0, 30),
                relocated=centralized + dispersed,
                centralized=centralized,
                dispersed=dispersed,
                shelters_open=1 if centralized else 0,
                sheltered_now=centralized,
            )
            self.expected[unit] = figures
            out.append(
                UnitReport(
                    event_id=self.event_id,
                    report_id=f"{unit}@{self._round}",
                    unit=unit,
                    as_of=as_of,
                    figures=figures,
                    reported_by="灾害信息员",
                )
            )
        return out

    def expected_total(self, field_name: str) -> int:
        return sum(getattr(f, field_name) for f in self.expected.values())
