"""Custom search attributes: what the console filters workflows by (unit, year, stage).

Registered idempotently at worker start and in the test environments; on Temporal Cloud they are
created out of band (the worker logs a warning and goes on).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

UNIT = SearchAttributeKey.for_keyword("YingjiUnit")
YEAR = SearchAttributeKey.for_int("YingjiYear")
STAGE = SearchAttributeKey.for_keyword("YingjiStage")

_TYPES = {
    UNIT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    YEAR.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    STAGE.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the attributes that are missing; returns the names added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        known = set()
    missing = {name: kind for name, kind in _TYPES.items() if name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def attributes(unit: str, year: int, stage: str | None = None) -> TypedSearchAttributes:
    pairs = [SearchAttributePair(UNIT, unit), SearchAttributePair(YEAR, year)]
    if stage is not None:
        pairs.append(SearchAttributePair(STAGE, stage))
    return TypedSearchAttributes(pairs)
