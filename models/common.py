"""Shared pieces of the pydantic models that cross workflow boundaries."""

from __future__ import annotations

import functools
import typing
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import (
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


def _char_class(chars: set[str]) -> str:
    """``chars`` as the body of a regex character class, in ranges of ``\\uXXXX`` escapes (which
    Python, the Rust regex crate of pydantic and ECMA-262 all read alike)."""
    codes = sorted(ord(c) for c in chars)
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


#: The characters that :func:`_storable` refuses, as a regex character class body.
CONTROL_CLASS = _char_class(_CONTROL)
#: What pydantic strips from the ends of text (``str_strip_whitespace``: Unicode White_Space).
BLANK_CLASS = _char_class(
    {" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x85", "\xa0", "\u1680", "\u2028", "\u2029"}
    | {chr(c) for c in range(0x2000, 0x200B)}
    | {"\u202f", "\u205f", "\u3000"}
)
#: Any text a model accepts, as the OpenAPI document states it.
TEXT_PATTERN = f"^[^{CONTROL_CLASS}]*$"
#: Text that is not empty once its ends are stripped.
FILLED_TEXT_PATTERN = f"^[^{CONTROL_CLASS}]*[^{CONTROL_CLASS}{BLANK_CLASS}][^{CONTROL_CLASS}]*$"
#: A business code (a plan's, a drill's, a warning's): no blanks, ':' or '/', no control
#: character.
CODE_PATTERN = f"^[^{CONTROL_CLASS}{BLANK_CLASS}:/]+$"


#: The years any date or time a model holds may fall in, as written (its own offset): a
#: date beyond them overflowed a workflow's date arithmetic, or PostgreSQL's dates.
FIRST_YEAR, LAST_YEAR = 1949, 2100


def _years_pattern(first: int, last: int) -> str:
    """A regex prefix matching exactly the four-digit years ``first``..``last``."""
    return "^(" + "|".join(str(y) for y in range(first, last + 1)) + ")-"


#: The schema's statement of those years, for a date or a time.
YEARS_PATTERN = _years_pattern(FIRST_YEAR, LAST_YEAR)


class Inconsistent(ValueError):
    """Fields that each fit the schema but break a rule together (集中 + 分散 ≠ 转移安置, a
    typhoon without its number): the console answers 409, not 422, since no schema can state
    it; the message names the fields and the rule."""


def _storable(value: Any, field: str, dates: bool = True) -> None:
    """Text must survive PostgreSQL, JSON and a Word document: no NUL or other C0 control
    character (tab and line breaks are text), no lone surrogate; a date or a time falls in
    the years :data:`FIRST_YEAR` to :data:`LAST_YEAR`."""
    if isinstance(value, (date, datetime)):
        if dates and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValueError(
                f"{field}: {value.isoformat()} is not a plausible date "
                f"(years {FIRST_YEAR} to {LAST_YEAR})"
            )
    elif isinstance(value, str):
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
            _storable(item, field, dates)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, field, dates)
            _storable(item, field, dates)


class Model(BaseModel):
    """Base for every model that crosses a workflow, activity, signal or update boundary."""

    # NaN and infinity are not figures (a NaN loss failed deep inside a workflow's decoding).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
    #: A row of a CSV file, whose numbers arrive as text.
    numbers_from_text: ClassVar[bool] = False
    #: What a client sends (a start, an update, a report): its dates and times must fall in
    #: the plausible years (a view computed from them may go beyond, a deadline after 2100).
    is_input: ClassVar[bool] = False

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """A number field takes a JSON number, as the schema says: not true/false, not "12"
        (pydantic's lax mode would read both)."""
        if cls.numbers_from_text and isinstance(value, str):
            return value
        if isinstance(value, (bool, str)) and info.field_name in _numeric_fields(cls):
            kind = "true/false" if isinstance(value, bool) else "text"
            raise ValueError(f"{info.field_name}: must be a number, not {kind}")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: Any, info: ValidationInfo) -> Any:
        # Refused here, before anything reaches history: a NUL would make the projection fail
        # for ever (schemathesis found one).
        _storable(value, info.field_name or "value", dates=cls.is_input)
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """The schema states what ``_text_is_storable`` enforces: a pattern on every text."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for prop in target.get("properties", {}).values():
            _document_text(prop, dates=cls.is_input)
        return schema


def _document_text(schema: dict[str, Any], dates: bool = False) -> None:
    """Give every text in ``schema`` (a property's JSON schema) the pattern :func:`_storable`
    enforces, unless it states a pattern of its own (which must exclude the same characters:
    see ``tests/test_api_contract.py``). Dates, times and enums are not free text."""
    if schema.get("type") == "string":
        if dates and schema.get("format") in ("date", "date-time") and "pattern" not in schema:
            schema["pattern"] = YEARS_PATTERN
        if "pattern" not in schema and "format" not in schema and "enum" not in schema:
            filled = schema.get("minLength", 0) >= 1
            schema["pattern"] = FILLED_TEXT_PATTERN if filled else TEXT_PATTERN
        return
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, ()):
            _document_text(sub, dates)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _document_text(schema[key], dates)
    if schema.get("type") == "object" and "additionalProperties" in schema:
        names = schema.setdefault("propertyNames", {})  # a key is text too
        if "pattern" not in names:
            names["pattern"] = FILLED_TEXT_PATTERN if names.get("minLength", 0) else TEXT_PATTERN


@functools.cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that hold only numbers (int or float, maybe None)."""
    numeric = set()
    for name, info in model.model_fields.items():
        args = typing.get_args(info.annotation) or (info.annotation,)
        kinds = {a for a in args if a is not type(None)}
        if kinds and all(k in (int, float) for k in kinds):
            numeric.add(name)
    return frozenset(numeric)


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


#: When a step happened (an aware datetime). Given for a past step — a scenario replayed by
#: ``yingji load`` — so the event is recorded at that time and deadlines are judged against it;
#: absent, the step happens when the workflow receives it. Only inputs hold one, so it falls in
#: the plausible years as every date and time of an input does (``Model.is_input``), in the
#: validator and in the schema alike.
StepTime = AwareDatetime


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

    is_input: ClassVar[bool] = True

    actor: SkipJsonSchema[str | None] = Field(default=None, min_length=1, max_length=ACTOR_MAX)
    expect_stage: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the stage it must still be in: its name (drafting) or label (编制)",
    )
    expect_seq: int | None = Field(default=None, ge=0)
