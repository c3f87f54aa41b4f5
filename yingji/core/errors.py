"""Refusals from the domain: their message already names the field and the reason, so every
caller (CLI, console, loader) shows it as it is."""

from __future__ import annotations


class DomainRefusal(ValueError):
    """Input refused by a store or a service for a domain reason; nothing was written."""


#: What an interface shows to the user as it is (a one-line message, no traceback).
REFUSALS: tuple[type[Exception], ...] = (DomainRefusal,)
