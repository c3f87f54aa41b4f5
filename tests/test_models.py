"""What every boundary model refuses before anything reaches history."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.drill import ConductInput
from models.plan import PlanCreate


def test_text_that_postgresql_cannot_store_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="name: contains a NUL character"):
        PlanCreate(
            code="C1", name="预案\x00", kind="special", level="district", unit="u", drafter="d"
        )
    with pytest.raises(ValidationError, match="segments: contains a NUL character"):
        ConductInput(participant_count=1, by="b", segments=["ok", "bad\x00"])
    with pytest.raises(ValidationError, match="unicode"):
        PlanCreate(
            code="C1", name="x\ud800", kind="special", level="district", unit="u", drafter="d"
        )
    assert (
        PlanCreate(
            code="C1",
            name="嘉定区地震应急预案",
            kind="special",
            level="district",
            unit="u",
            drafter="d",
        ).name
        == "嘉定区地震应急预案"
    )


def test_numbers_are_bounded_before_they_reach_integer_columns() -> None:
    """Schemathesis sent 652,405,726,240 people; the database's integer column overflowed."""
    from datetime import date

    from models.drill import DrillCreate, DrillType
    from models.typhoon import Figures

    with pytest.raises(ValidationError, match="pre_evacuated"):
        Figures(pre_evacuated=652_405_726_240)
    with pytest.raises(ValidationError, match="participant_count"):
        ConductInput(participant_count=10**12, by="b")
    with pytest.raises(ValidationError, match="linked_plans: a plan is listed twice"):
        DrillCreate(
            code="D1",
            name="n",
            drill_type=DrillType.LIVE,
            scenario="s",
            organiser="o",
            site="x",
            scheduled_on=date(2024, 6, 18),
            linked_plans=["P1", "P1"],
        )
