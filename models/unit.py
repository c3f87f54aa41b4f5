"""The unit register (行政区划): the city, its districts, their 街镇 and 村居, as data.

No place is built in: a district's units come from a CSV file (``yingji unit import``), keyed by
code (the national 统计用区划代码 or any code the bureau uses), and a unit may be named by its code
or, where that is unambiguous, by its name.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, field_validator

from models.common import LabelledEnum, Model, labelled

#: Bounds of one unit line.
CODE_MAX = 32
NAME_MAX = 64
DISTRICT_MAX = 64

_CODE = re.compile(r"^[^\s:/\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnitLevel(LabelledEnum):
    """From the top down: a parent's level is always above its child's."""

    CITY = "city"
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"

    @property
    def rank(self) -> int:
        return list(UnitLevel).index(self)


labelled(UnitLevel, {"city": "市", "district": "区", "town": "街镇", "village": "村居"})

LEVEL_CHOICES = ", ".join(m.value for m in UnitLevel)


def parse_level(value: str) -> UnitLevel:
    """``town`` or ``街镇`` (any case of the English); refused naming the choices."""
    text = value.strip()
    for member in UnitLevel:
        if text.lower() == member.value or text == member.label:
            return member
    raise ValueError(f"'{text}' is not one of {LEVEL_CHOICES}")


def _code(value: Any, what: str) -> Any:
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError(f"{what} is required")
    if len(value) > CODE_MAX:
        raise ValueError(f"'{value[:CODE_MAX]}…' is longer than {CODE_MAX} characters")
    if not _CODE.match(value):
        raise ValueError(f"'{value}' must not contain spaces, ':', '/' or control characters")
    return value


def bounded_text(value: Any, what: str, limit: int) -> Any:
    """A CSV field as the registers take it: present, within ``limit``, no control character
    (the unit register and the register of responsible people share it)."""
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError(f"{what} is required")
    if len(value) > limit:
        raise ValueError(f"'{value[:limit]}…' is longer than {limit} characters")
    if _CONTROL.search(value):
        raise ValueError(f"{what} must not contain control characters")
    return value


class UnitRow(Model):
    """One line of the register; the CSV columns are these fields."""

    numbers_from_text: ClassVar[bool] = True  # read from a CSV file

    code: str = Field(description="unique code, e.g. 310114102000 (统计用区划代码) or JD-04")
    name: str = Field(description="e.g. 南翔镇; unique under its parent")
    level: UnitLevel = Field(description="city | district | town | village (市/区/街镇/村居)")
    parent_code: str | None = Field(
        default=None, description="the code of the unit above (in the file or registered)"
    )
    district: str = Field(description="the district (区) the unit belongs to, e.g. 某某区")

    @field_validator("code", mode="before")
    @classmethod
    def _valid_code(cls, value: Any) -> Any:
        return _code(value.strip() if isinstance(value, str) else value, "a code")

    @field_validator("parent_code", mode="before")
    @classmethod
    def _valid_parent(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        return _code(value, "a parent code")

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: Any) -> Any:
        return bounded_text(value.strip() if isinstance(value, str) else value, "a name", NAME_MAX)

    @field_validator("district", mode="before")
    @classmethod
    def _valid_district(cls, value: Any) -> Any:
        return bounded_text(
            value.strip() if isinstance(value, str) else value, "a district", DISTRICT_MAX
        )

    @field_validator("level", mode="before")
    @classmethod
    def _valid_level(cls, value: Any) -> Any:
        if isinstance(value, UnitLevel) or not isinstance(value, str):
            return value
        return parse_level(value)


class UnitView(Model):
    """A registered unit as stored (not re-validated: older registers hold longer codes), with
    the name of the unit above it."""

    code: str
    name: str
    level: str
    level_label: str
    parent_code: str | None = None
    parent_name: str | None = None
    district: str


class UnitImportResult(Model):
    """What an import did; re-importing the same file gives ``created == updated == 0``."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
