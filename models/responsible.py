"""The register of responsible people (防汛防台责任人), apart from the officer roster (灾害信息员).

Under 国家防总's 2023 mechanism a warning's 叫应 calls the district lead (区级责任人), each 街镇's
党政主要负责人 and each 村(社区)'s responsible person. This register says who they are: for each
unit and role, the people to call in ``order`` (1 first, 2 the backup, then 3 …). A person is
``{unit_code}:{role}:{phone}``: the same name in two 街镇 is two people, and so is one person
registered for two units or two roles.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from models.common import Model
from models.unit import bounded_text

#: Bounds of one line (and of the stored columns).
UNIT_MAX = 100
ROLE_MAX = 50
NAME_MAX = 100
PHONE_MAX = 32
ORDER_MIN, ORDER_MAX = 1, 9
PERSON_ID_MAX = UNIT_MAX + ROLE_MAX + PHONE_MAX + 2

#: The role under which the officer roster's A and B officers join a call chain.
OFFICER_ROLE = "灾害信息员"

#: Where the people of a call chain come from: this register, the officer roster, or both.
Who = Literal["responsible", "officer", "both"]
WHO_CHOICES: tuple[str, ...] = ("responsible", "officer", "both")

_PHONE = re.compile(r"^\+?[0-9]{5,20}$")


def normalize_phone(value: str) -> str:
    """A phone as stored: full-width characters made ASCII (NFKC), spaces and hyphens removed;
    what is left must be 5 to 20 digits with an optional leading ``+``."""
    text = unicodedata.normalize("NFKC", value).strip()
    compact = re.sub(r"[\s\-]", "", text)
    if not compact:
        raise ValueError("a phone is required")
    if not _PHONE.match(compact):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValueError(
            f"'{shown}' is not a phone number: 5 to 20 digits, an optional leading + "
            "(spaces and hyphens are ignored)"
        )
    return compact


def _text(value: Any, what: str, limit: int) -> Any:
    return bounded_text(value.strip() if isinstance(value, str) else value, what, limit)


class ResponsibleRow(Model):
    """One line of the register's CSV file: ``unit,role,name,phone,order``."""

    numbers_from_text: ClassVar[bool] = True  # read from a CSV file

    unit: str = Field(description="the unit's code, or its name where that names one unit")
    role: str = Field(description="free text, e.g. 党政主要负责人, 分管负责人, 村(社区)负责人")
    name: str = Field(description="the person's name")
    phone: str = Field(description="digits, optional leading +; spaces and hyphens are dropped")
    order: int = Field(ge=ORDER_MIN, le=ORDER_MAX, description="1 is called first, 2 the backup…")

    @field_validator("unit", mode="before")
    @classmethod
    def _valid_unit(cls, value: Any) -> Any:
        return _text(value, "a unit", UNIT_MAX)

    @field_validator("role", mode="before")
    @classmethod
    def _valid_role(cls, value: Any) -> Any:
        value = _text(value, "a role", ROLE_MAX)
        if isinstance(value, str) and ":" in value:
            raise ValueError(f"'{value}' must not contain ':' (it separates a person's id)")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: Any) -> Any:
        return _text(value, "a name", NAME_MAX)

    @field_validator("phone", mode="before")
    @classmethod
    def _valid_phone(cls, value: Any) -> Any:
        return normalize_phone(value) if isinstance(value, str) else value

    @field_validator("order", mode="before")
    @classmethod
    def _valid_order(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = unicodedata.normalize("NFKC", value).strip()
            if not text:
                raise ValueError(f"an order is required: {ORDER_MIN} to {ORDER_MAX}")
            if not text.isdigit():
                raise ValueError(f"'{text}' is not a whole number {ORDER_MIN} to {ORDER_MAX}")
            return int(text)
        return value


def person_id(unit_code: str, role: str, phone: str) -> str:
    """A person's key: ``{unit_code}:{role}:{phone}`` (phone as stored)."""
    return f"{unit_code}:{role}:{phone}"


class ResponsiblePerson(Model):
    """A person as stored, with their unit (its name, level and district) and the unit's 街镇:
    for a 村居 the 街镇 above it, for a 街镇 itself, for a district none. People of the officer
    roster joined to a call chain (``source = "officer"``) have no ``updated_at``."""

    person_id: str = Field(max_length=PERSON_ID_MAX)
    unit_code: str = Field(max_length=UNIT_MAX)
    unit_name: str = Field(max_length=UNIT_MAX)
    level: str = Field(max_length=16, description="city | district | town | village")
    district: str = Field(max_length=UNIT_MAX)
    town_code: str | None = Field(default=None, max_length=UNIT_MAX)
    town_name: str | None = Field(default=None, max_length=UNIT_MAX)
    role: str = Field(max_length=ROLE_MAX)
    name: str = Field(max_length=NAME_MAX)
    phone: str = Field(max_length=PHONE_MAX)
    order: int = Field(ge=ORDER_MIN, le=ORDER_MAX)
    source: Literal["responsible", "officer"] = "responsible"
    updated_at: datetime | None = None


class ImportResult(Model):
    """What an import did: re-importing the same file gives ``created == updated == deleted ==
    0``; ``deleted`` counts the people dropped by ``replace``."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class Gap(Model):
    """A unit with nobody to call first (no person of order 1, in any role). ``people``: how
    many it has at all (backups only)."""

    unit_code: str = Field(max_length=UNIT_MAX)
    unit_name: str = Field(max_length=UNIT_MAX)
    level: str = Field(max_length=16)
    district: str = Field(max_length=UNIT_MAX)
    town_code: str | None = Field(default=None, max_length=UNIT_MAX)
    town_name: str | None = Field(default=None, max_length=UNIT_MAX)
    people: int = Field(default=0, ge=0)


class CallChain(Model):
    """Whom to call for one unit and role, in order: ``persons[0]`` first, then the next when
    they do not answer. For a 村居, ``town_code``/``town_name`` are its 街镇; for a 街镇, itself."""

    unit_code: str = Field(max_length=UNIT_MAX)
    unit_name: str = Field(max_length=UNIT_MAX)
    level: str = Field(max_length=16)
    town_code: str | None = Field(default=None, max_length=UNIT_MAX)
    town_name: str | None = Field(default=None, max_length=UNIT_MAX)
    role: str = Field(max_length=ROLE_MAX)
    #: At most 9 of the register per role; with ``who="both"`` a register role named like the
    #: roster's adds its A and B officers.
    persons: list[ResponsiblePerson] = Field(min_length=1, max_length=2 * ORDER_MAX)
