"""Shared pieces of the pydantic models that cross workflow boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

# China has kept UTC+8 without daylight saving since 1991; a fixed offset is exact and needs no
# tz database inside the workflow sandbox.
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


#: C0 control characters other than tab, line feed and carriage return, DEL and the C1 controls,
#: and the noncharacters U+FFFE/U+FFFF and U+FDD0–U+FDEF: XML (a .docx) cannot hold some of
#: them, and no bureau text needs any.
_CONTROL = (
    ({chr(c) for c in range(0x20)} - {"\t", "\n", "\r"})
    | {chr(c) for c in range(0x7F, 0xA0)}
    | {"\ufffe", "\uffff"}
    | {chr(c) for c in range(0xFDD0, 0xFDF0)}
)


def _storable(value: Any, field: str) -> None:
    """Text must survive PostgreSQL, JSON and a Word document: no NUL or other C0 control
    character (tab and line breaks are text), no lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{field}: contains a NUL character")
        bad = next((ch for ch in value if ch in _CONTROL), None)
        if bad is not None:
            raise ValueError(
                f"{field}: contains the control character or noncharacter U+{ord(bad):04X}"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{field}: is not valid Unicode (lone surrogate)") from exc
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, field)
            _storable(item, field)


class Model(BaseModel):
    """Base for every model that crosses a workflow, activity, signal or update boundary."""

    # NaN and infinity are not figures (a NaN loss failed deep inside a workflow's decoding).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: Any, info: ValidationInfo) -> Any:
        # Refused here, before anything reaches history: a NUL would make the projection fail
        # for ever (schemathesis found one).
        _storable(value, info.field_name or "value")
        return value


class LabelledEnum(StrEnum):
    """An enum whose values are English identifiers and whose labels are the bureau's Chinese."""

    __labels__: ClassVar[dict[str, str]]

    @property
    def label(self) -> str:
        return type(self).__labels__[self.value]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept the identifier (``special``), the Chinese label (``专项应急预案``) or the
        short forms people write (``专项预案`` or ``专项``; ``二级``, ``Ⅱ级`` and ``II`` alike;
        ``蓝色`` for 蓝色预警; ``桌面演练`` or ``桌面`` for 桌面推演), whatever the case and the
        width of the characters."""
        text = text.strip()
        wanted = _normal(text)
        found = [m for m in cls if wanted in m.forms()]
        if len(found) == 1:
            return found[0]
        choices = ", ".join(f"{m.value} ({m.label})" for m in cls)
        raise ValueError(f"'{text}' is not one of: {choices}")

    def forms(self) -> set[str]:
        """Every way of writing this member that ``parse`` accepts, normalised."""
        label = self.label
        written = {self.value, label, self.value.replace("_", " ")}
        written |= {label.replace("应急预案", "预案"), label.replace("推演", "演练")}
        for suffix in ("预警", "应急预案", "预案", "演练", "推演"):
            if label.endswith(suffix) and len(label) - len(suffix) >= 2:
                written.add(label.removesuffix(suffix))  # 蓝色, 专项, 实战, 桌面
        return {_normal(w) for w in written if w}

    @classmethod
    def choices(cls) -> str:
        """The members for a ``--help``: ``IV (Ⅳ级)|III (Ⅲ级)…``."""
        return "|".join(f"{m.value} ({m.label})" for m in cls)


#: Numerals of levels as people write them: 一级, Ⅰ级, I级 and I are one level.
_NUMERALS = {"一": "i", "二": "ii", "三": "iii", "四": "iv", "1": "i", "2": "ii", "3": "iii"}
_NUMERALS |= {"4": "iv", "Ⅰ": "i", "Ⅱ": "ii", "Ⅲ": "iii", "Ⅳ": "iv"}


def _normal(text: str) -> str:
    """``text`` as ``LabelledEnum.parse`` compares it: full-width folded to ASCII, case
    folded, blanks removed, a level's numeral and its 级 reduced to i/ii/iii/iv."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text.strip()).casefold().replace(" ", "")
    core = text.removesuffix("级")
    if core in _NUMERALS:
        return _NUMERALS[core]
    if core in ("i", "ii", "iii", "iv") and text != core:
        return core
    return text


def labelled(cls: type[LabelledEnum], labels: dict[str, str]) -> None:
    missing = {m.value for m in cls} - labels.keys()
    if missing:
        raise TypeError(f"{cls.__name__} lacks labels for {sorted(missing)}")
    cls.__labels__ = labels


def _plausible_step_time(value: datetime) -> datetime:
    try:
        year = value.astimezone(CHINA_TZ).year
    except OverflowError:
        year = value.year
    if not 1949 <= year <= 2100:
        raise ValueError(f"{value.isoformat()} is not a plausible time (years 1949 to 2100)")
    return value


#: When a step happened (an aware datetime). Given for a past step — a scenario replayed by
#: ``yingji load`` — so the event is recorded at that time and deadlines are judged against it;
#: absent, the step happens when the workflow receives it.
StepTime = Annotated[AwareDatetime, AfterValidator(_plausible_step_time)]


def step_time_field() -> Any:
    return Field(
        default=None,
        description="when the step happened, for a past step (e.g. 2022-09-14T23:00:00+08:00); "
        "default: when it arrives",
    )


class EndHistory(Model):
    """Sent by ``yingji load`` after a historical workflow's last step: the past is loaded,
    deadlines that fell due since the last step are judged against today, the clock runs."""

    by: str = Field(default="load", min_length=1)


#: How long a person's name (an actor) may be.
ACTOR_MAX = 100


class Request(Model):
    """What every update input carries besides its own fields.

    ``actor`` is the person behind the console token that sent the request: the console sets
    it (a value sent by the client is replaced) and every event the update records names that
    person; the input's own free-text name (``by``, ``reviewer`` …) is then kept as 代填, the
    name the person filled in. The CLI, run by whoever has the servers' settings, sets none.

    ``expect_stage`` / ``expect_seq`` make the update conditional: it is refused, before it
    reaches history, unless the workflow is still in that stage / at that event number (the
    view's ``last_seq``, the console's ``ETag``)."""

    actor: SkipJsonSchema[str | None] = Field(default=None, min_length=1, max_length=ACTOR_MAX)
    expect_stage: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the stage it must still be in: its name (drafting) or label (编制)",
    )
    expect_seq: int | None = Field(default=None, ge=0)
