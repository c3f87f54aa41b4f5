"""Disaster information officers (灾害信息员): the roster, DOMAIN.md §4."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field, model_validator

from models.common import Inconsistent, LabelledEnum, Model, labelled


class OfficerRole(LabelledEnum):
    A = "A"
    B = "B"


labelled(OfficerRole, {"A": "A岗（主）", "B": "B岗（备）"})


class OfficerRow(Model):
    """One roster line; the CSV columns are these fields.

    ``valid_from`` / ``valid_to`` (optional, for loading the past): when this line held; the
    officer no longer serves on ``valid_to`` (the interval is half-open). Without them the line
    holds from the import's date, and for as long as later imports keep it."""

    numbers_from_text: ClassVar[bool] = True  # read from a CSV file

    unit: str = Field(min_length=1, description="街镇 or 村居 code")
    role: OfficerRole
    name: str = Field(min_length=1)
    phone: str = Field(pattern=r"^\+?\d[\d-]{5,19}$", description="digits, dashes, optional +")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    active: bool = True
    valid_from: date | None = Field(default=None, description="serving from (default: import)")
    valid_to: date | None = Field(default=None, description="no longer serving on this day")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> OfficerRow:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise Inconsistent(
                f"valid_to: {self.valid_to} is not after valid_from {self.valid_from}"
            )
        return self
