"""Console tokens: who a token names, and how a token is kept (only its SHA-256, never itself).

A token names a person with a role, and for a reporter the units they may report for. Tokens
come from settings (``YINGJI_CONSOLE_TOKENS``: SHA-256 hex → holder, for bootstrap and tests)
and from the ``console_token`` table (``yingji token add``); both hold only the hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ConsoleRole = Literal["viewer", "reporter", "duty_officer", "approver", "admin"]
CONSOLE_ROLES: tuple[str, ...] = get_args(ConsoleRole)

#: A presented token shorter than this is refused before any lookup.
MIN_TOKEN_LENGTH = 32
#: At most this many units bound one reporter.
MAX_UNITS = 200
PERSON_MAX = 100
UNIT_MAX = 100
#: How many hex characters of a hash ``token list`` shows (and ``token revoke`` needs at least).
PREFIX_LENGTH = 8

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def hash_token(token: str) -> str:
    """The SHA-256 of a token, lowercase hex: what is stored and configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A new random token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def check_hash(value: str) -> str:
    """A SHA-256 hex digest (any case), lowercased; anything else is refused."""
    digest = value.strip().lower()
    if not _HEX64.match(digest):
        raise ValueError(
            "a console token is configured by its SHA-256 (64 hex characters), never the token "
            "itself; `yingji token add --print-setting` prints an entry"
        )
    return digest


class TokenHolder(BaseModel):
    """Who a token names: ``{"person": "张三", "role": "reporter", "units": ["南翔镇"]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str = Field(min_length=1, max_length=PERSON_MAX)
    role: ConsoleRole
    units: tuple[str, ...] = Field(default=(), max_length=MAX_UNITS)

    @field_validator("person")
    @classmethod
    def _person(cls, value: str) -> str:
        value = value.strip()
        if not value or _CONTROL.search(value):
            raise ValueError("a person's name, without control characters")
        return value

    @field_validator("units")
    @classmethod
    def _units(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        units = tuple(dict.fromkeys(u.strip() for u in value))
        for unit in units:
            if not unit or len(unit) > UNIT_MAX or _CONTROL.search(unit):
                raise ValueError(
                    f"a unit is a code or name of 1 to {UNIT_MAX} characters, "
                    "without control characters"
                )
        return units

    @model_validator(mode="after")
    def _units_only_for_reporters(self) -> TokenHolder:
        if self.role == "reporter" and not self.units:
            raise ValueError("a reporter needs the units they may report for (at least one)")
        if self.role != "reporter" and self.units:
            raise ValueError(f"units bound only a reporter; a {self.role} has none")
        return self
