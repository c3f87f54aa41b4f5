"""Emergency shelters (应急避难场所): the register, DOMAIN.md §3.

A district's shelters are data (``yingji shelter import FILE.csv``): each belongs to a 街镇 or
村居 of the unit register and has a capacity. A typhoon (or other event) opens and closes them;
their occupancy is reported per shelter during the event (see ``models.typhoon``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from models.common import Model
from models.unit import _code, bounded_text

#: Bounds of one shelter line.
SHELTER_CODE_MAX = 32
SHELTER_NAME_MAX = 100
SHELTER_TYPE_MAX = 50
ADDRESS_MAX = 200
#: The largest capacity one shelter may declare (a stadium holds tens of thousands).
CAPACITY_MAX = 1_000_000
#: At most this many shelters in one file, and this many bytes.
SHELTERS_MAX = 20_000
SHELTER_FILE_MAX = 8 * 1024 * 1024


class ShelterRow(Model):
    """One line of the register; the CSV columns are these fields:
    ``code,name,unit,type,capacity,address``."""

    numbers_from_text: ClassVar[bool] = True  # read from a CSV file

    code: str = Field(description="the shelter's code, e.g. JD-BN-001")
    name: str = Field(description="e.g. 南翔镇文体中心避难点")
    unit: str = Field(description="the 街镇 or 村居 it belongs to: a code, or an unambiguous name")
    type: str = Field(description="e.g. 室内, 室外, 学校, 体育场馆")
    capacity: int = Field(ge=1, le=CAPACITY_MAX, description="people it can hold")
    address: str = Field(description="where it is")

    @field_validator("code", mode="before")
    @classmethod
    def _valid_code(cls, value: Any) -> Any:
        return _code(value.strip() if isinstance(value, str) else value, "a code")

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: Any) -> Any:
        return bounded_text(
            value.strip() if isinstance(value, str) else value, "a name", SHELTER_NAME_MAX
        )

    @field_validator("unit", mode="before")
    @classmethod
    def _valid_unit(cls, value: Any) -> Any:
        return bounded_text(value.strip() if isinstance(value, str) else value, "a unit", 100)

    @field_validator("type", mode="before")
    @classmethod
    def _valid_type(cls, value: Any) -> Any:
        return bounded_text(
            value.strip() if isinstance(value, str) else value, "a type", SHELTER_TYPE_MAX
        )

    @field_validator("address", mode="before")
    @classmethod
    def _valid_address(cls, value: Any) -> Any:
        return bounded_text(
            value.strip() if isinstance(value, str) else value, "an address", ADDRESS_MAX
        )


class ShelterView(Model):
    """A registered shelter as stored, with its unit's and 街镇's names."""

    code: str
    name: str
    unit_code: str
    unit_name: str = ""
    town_code: str
    town_name: str = ""
    district: str
    type: str
    capacity: int
    address: str


class ShelterImportResult(Model):
    """What an import did; re-importing the same file gives ``created == updated == 0``."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
