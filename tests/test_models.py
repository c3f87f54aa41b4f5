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
