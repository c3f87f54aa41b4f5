"""Refusals from the domain layer: their message already names the field and the reason, so
every caller (CLI, loader) shows it as it is."""

from __future__ import annotations

from yingji.roster import RosterError
from yingji.typhoon_store import ReportRejected
from yingji.warnings import NoOneToCall

REFUSALS: tuple[type[Exception], ...] = (ReportRejected, RosterError, NoOneToCall)
