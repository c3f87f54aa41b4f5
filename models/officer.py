"""Disaster information officers (灾害信息员): the roster, DOMAIN.md §4."""

from __future__ import annotations

from pydantic import Field

from models.common import LabelledEnum, Model, labelled


class OfficerRole(LabelledEnum):
    A = "A"
    B = "B"


labelled(OfficerRole, {"A": "A岗（主）", "B": "B岗（备）"})


class OfficerRow(Model):
    """One roster line; the CSV columns are these fields."""

    unit: str = Field(min_length=1, description="街镇 or 村居 code")
    role: OfficerRole
    name: str = Field(min_length=1)
    phone: str = Field(pattern=r"^\+?\d[\d-]{5,19}$", description="digits, dashes, optional +")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    active: bool = True
