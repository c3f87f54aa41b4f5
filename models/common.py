"""Shared pieces of the pydantic models that cross workflow boundaries."""

from __future__ import annotations

from datetime import timedelta, timezone
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict

# China has kept UTC+8 without daylight saving since 1991; a fixed offset is exact and needs no
# tz database inside the workflow sandbox.
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


class Model(BaseModel):
    """Base for every model that crosses a workflow, activity, signal or update boundary."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LabelledEnum(StrEnum):
    """An enum whose values are English identifiers and whose labels are the bureau's Chinese."""

    __labels__: ClassVar[dict[str, str]]

    @property
    def label(self) -> str:
        return type(self).__labels__[self.value]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept the identifier (``special``) or the Chinese label (``专项应急预案``)."""
        text = text.strip()
        for member in cls:
            if text in (member.value, member.label):
                return member
        choices = ", ".join(f"{m.value} ({m.label})" for m in cls)
        raise ValueError(f"'{text}' is not one of: {choices}")


def labelled(cls: type[LabelledEnum], labels: dict[str, str]) -> None:
    missing = {m.value for m in cls} - labels.keys()
    if missing:
        raise TypeError(f"{cls.__name__} lacks labels for {sorted(missing)}")
    cls.__labels__ = labels
