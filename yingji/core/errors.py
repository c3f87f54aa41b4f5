"""Refusals from the domain: their message already names the field and the reason, so every
caller (CLI, console, loader) shows it as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.common import CODE_PATTERN, FILLED_TEXT_PATTERN, TEXT_PATTERN


class DomainRefusal(ValueError):
    """Input refused by a store or a service for a domain reason; nothing was written.

    ``status`` is how the console answers it: 409 (a rule refuses it), or 404 for a subclass
    that says what the input names does not exist (:class:`Unknown`)."""

    status: int = 409


class Unknown(DomainRefusal):
    """What the input names (a unit, an open typhoon, a plan) does not exist."""

    status = 404


#: What an interface shows to the user as it is (a one-line message, no traceback).
REFUSALS: tuple[type[Exception], ...] = (DomainRefusal,)


def refuse_future_start(at: datetime | None, field: str = "at") -> None:
    """A workflow cannot refuse its own start: a start time in the future is refused here."""
    if at is None:
        return
    now = datetime.now(UTC)
    if at > now + timedelta(minutes=10):
        raise DomainRefusal(
            f"{field}: {at.isoformat()} is in the future (now is {now.isoformat()})"
        )


#: Patterns of the models, in words.
PATTERN_WORDS = {
    CODE_PATTERN: "may not contain blanks, control characters, ':' or '/'",
    TEXT_PATTERN: "may not contain control characters",
    FILLED_TEXT_PATTERN: "must not be blank, and may not contain control characters",
    r"^[A-Za-z0-9_-]+$": "may contain only letters A-Z, digits, '-' and '_'",
    r"^\+?\d[\d-]{5,19}$": "must be a phone number: 6 to 20 digits and dashes, maybe a leading +",
    r"^[^@\s]+@[^@\s]+$": "must be an e-mail address (name@domain)",
    r"^[0-9]{4}:[0-9]{1,2}$": "must be a typhoon as YEAR:NUMBER, e.g. 2024:13",
}


def plain_reason(error: dict) -> str:  # type: ignore[type-arg]
    """One validation error of pydantic (an item of ``ValidationError.errors()``) in plain
    words: what the field must be, not the validator's wording."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    simple = {
        "missing": "is required",
        "extra_forbidden": "is not a field of this request",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "must be true or false",
        "string_type": "must be text",
        "date_parsing": "must be a date, e.g. 2024-09-16",
        "date_from_datetime_parsing": "must be a date, e.g. 2024-09-16",
        "datetime_parsing": "must be a date and time, e.g. 2024-09-16T08:00+08:00",
        "datetime_from_date_parsing": "must be a date and time, e.g. 2024-09-16T08:00+08:00",
        "timezone_aware": "needs its time zone, e.g. 2024-09-16T08:00+08:00",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_attributes_type": "must be a JSON object (sent as Content-Type: application/json)",
        "string_unicode": "must be valid Unicode text",
        "json_invalid": "is not valid JSON",
    }
    if kind in simple:
        return simple[kind]
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return "must not be empty" if least == 1 else f"at least {least} characters"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} items"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        return f"must be {words[0]} {ctx.get(words[1])}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return PATTERN_WORDS.get(pattern, f"must match the pattern {pattern}")
    if kind == "enum":
        return f"must be {ctx.get('expected')}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def plain_errors(errors: list[dict]) -> str:  # type: ignore[type-arg]
    """Each error as ``field: reason``, joined by '; '."""
    parts = []
    for e in errors:
        field = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",)) or "input"
        parts.append(f"{field}: {plain_reason(e)}")
    return "; ".join(parts)
