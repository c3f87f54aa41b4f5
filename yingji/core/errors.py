"""Refusals from the domain: their message already names the field and the reason, so every
caller (CLI, console, loader) shows it as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class DomainRefusal(ValueError):
    """Input refused by a store or a service for a domain reason; nothing was written."""


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
