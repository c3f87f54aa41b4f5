"""The SQL of fanned-out 叫应: a warning's chains and people, its batches, its board.

Every write is idempotent (keyed by warning and chain, person or notification key), so an
activity retried after a crash writes nothing twice.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.fanout import (
    AckResult,
    BatchRef,
    CallChain,
    ChainAck,
    ChainRow,
    ChainStatus,
    QueueCalls,
    TownProgress,
)
from yingji.core.errors import DomainRefusal
from yingji.core.tables import (
    NotificationRow,
    WarningBatchRow,
    WarningChainRow,
    WarningPersonRow,
)


class AckRefused(DomainRefusal):
    """An answer that names nobody this warning called, or several people."""


def batches_of(chains: Sequence[CallChain], size: int) -> dict[str, list[CallChain]]:
    """Chains by batch: by 街镇 (in code order), a 街镇 with more than ``size`` split in parts."""
    by_town: dict[str, list[CallChain]] = defaultdict(list)
    for chain in sorted(chains, key=lambda c: (c.town_code, c.chain_id)):
        by_town[chain.town_code].append(chain)
    out: dict[str, list[CallChain]] = {}
    for town, members in by_town.items():
        parts = [members[i : i + size] for i in range(0, len(members), size)]
        for k, part in enumerate(parts, start=1):
            # ':' never appears in a unit code, so a part never takes another 街镇's id.
            out[town if len(parts) == 1 else f"{town}:{k}"] = part
    return out


async def write_plan(
    engine: AsyncEngine, warning_id: str, chains: Sequence[CallChain], size: int
) -> list[BatchRef]:
    """Write a warning's chains and people down once; answer its batches."""
    batches = batches_of(chains, size)
    chain_rows: list[dict[str, Any]] = []
    person_rows: list[dict[str, Any]] = []
    for batch_id, members in batches.items():
        for c in members:
            chain_rows.append(
                {
                    "warning_id": warning_id,
                    "chain_id": c.chain_id,
                    "batch_id": batch_id,
                    "town_code": c.town_code,
                    "town_name": c.town_name,
                    "unit_code": c.unit_code,
                    "unit_name": c.unit_name,
                    "role": c.role,
                    "persons": [p.model_dump() for p in c.persons],
                    "status": ChainStatus.CALLING.value,
                    "attempt": 0,
                }
            )
            person_rows.extend(
                {
                    "warning_id": warning_id,
                    "person_id": p.person_id,
                    "chain_id": c.chain_id,
                    "batch_id": batch_id,
                    "name": p.name,
                    "phone": p.phone,
                }
                for p in c.persons
            )
    batch_rows = [{"warning_id": warning_id, "batch_id": b} for b in batches]
    async with engine.begin() as conn:
        for table, rows in (
            (WarningChainRow.__table__, chain_rows),
            (WarningPersonRow.__table__, person_rows),
            (WarningBatchRow.__table__, batch_rows),
        ):
            if rows:  # executemany: one prepared statement, not a 1,000-row statement each
                await conn.execute(insert(table).on_conflict_do_nothing(), rows)
    return [
        BatchRef(
            batch_id=batch_id,
            town_code=members[0].town_code,
            town_name=members[0].town_name,
            chains=len(members),
        )
        for batch_id, members in batches.items()
    ]


async def batch_chains(
    engine: AsyncEngine, warning_id: str, batch_id: str
) -> tuple[list[CallChain], list[ChainAck]]:
    """A batch's chains, and the answers already recorded for them."""
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    text(
                        "SELECT chain_id, unit_code, unit_name, town_code, town_name, role, "
                        "persons, status, acked_at, acked_by, response_seconds FROM warning_chain "
                        "WHERE warning_id = :w AND batch_id = :b ORDER BY chain_id"
                    ),
                    {"w": warning_id, "b": batch_id},
                )
            )
            .mappings()
            .all()
        )
    fields = set(CallChain.model_fields)
    chains = [CallChain.model_validate({k: v for k, v in r.items() if k in fields}) for r in rows]
    acks = [_ack(r) for r in rows if r["acked_at"] is not None]
    return chains, acks


def _ack(row: Any) -> ChainAck:
    return ChainAck(
        chain_id=row["chain_id"],
        person_id=row["acked_by"],
        status=row["status"],
        acked_at=row["acked_at"],
        response_seconds=row["response_seconds"],
    )


async def queue_calls(engine: AsyncEngine, data: QueueCalls, source: str) -> int:
    """Put each call's notification in the outbox (once per key); delivery is apart."""
    now = datetime.now(UTC)
    rows = [
        {
            "key": c.key,
            "recipient": c.person.name,
            "address": c.person.phone,
            "subject": f"【叫应】{data.title}：请立即回复确认",
            "body": f"第{c.attempt}次呼叫。回复“收到”即应答。",
            "source": source,
            "created_at": now,
        }
        for c in data.calls
    ]
    if not rows:
        return 0
    keys = [r["key"] for r in rows]
    async with engine.begin() as conn:
        before = (
            await conn.execute(
                text("SELECT count(*) FROM notification WHERE key = ANY(:k)"), {"k": keys}
            )
        ).scalar_one()
        await conn.execute(insert(NotificationRow.__table__).on_conflict_do_nothing(), rows)
    return len(rows) - before


async def project_chains(
    engine: AsyncEngine,
    warning_id: str,
    chains: Sequence[ChainRow],
    batch_id: str | None = None,
    final: bool = False,
) -> list[ChainAck]:
    """Put what a batch knows of its chains in their rows. An answer already in a row stays:
    answers are written there first (:func:`answer`), and a batch that has not yet heard of
    one never clears it; those answers are returned so that it hears of them now. ``final``
    closes every chain of ``batch_id``: an answer after that is too late."""
    learnt: list[ChainAck] = []
    async with engine.begin() as conn:
        if chains:
            rows = await conn.execute(
                text(
                    """
                    UPDATE warning_chain AS w SET
                        status = CASE WHEN w.acked_at IS NULL THEN c.status ELSE w.status END,
                        current_person = c.current_person, attempt = c.attempt,
                        first_call_at = c.first_call_at,
                        acked_at = COALESCE(w.acked_at, c.acked_at),
                        acked_by = CASE WHEN w.acked_at IS NULL THEN c.acked_by
                                        ELSE w.acked_by END,
                        response_seconds = CASE WHEN w.acked_at IS NULL THEN c.response_seconds
                                                ELSE w.response_seconds END,
                        undelivered = c.undelivered
                    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS c(
                        chain_id text, status text, current_person text, attempt int,
                        first_call_at timestamptz, acked_at timestamptz, acked_by text,
                        response_seconds float8, undelivered text)
                    WHERE w.warning_id = :w AND w.chain_id = c.chain_id
                    RETURNING w.chain_id, w.status, w.acked_at, w.acked_by, w.response_seconds,
                              c.acked_at IS NULL AS unheard
                    """
                ),
                {
                    "w": warning_id,
                    "rows": "[" + ",".join(c.model_dump_json() for c in chains) + "]",
                },
            )
            learnt = [
                _ack(r) for r in rows.mappings() if r["unheard"] and r["acked_at"] is not None
            ]
        if final and batch_id is not None:
            await conn.execute(
                text(
                    "UPDATE warning_chain SET closed_at = now() "
                    "WHERE warning_id = :w AND batch_id = :b AND closed_at IS NULL"
                ),
                {"w": warning_id, "b": batch_id},
            )
    return learnt


@dataclass(frozen=True)
class Answer:
    """An answer as its chain's row took it."""

    person_id: str
    batch_id: str
    chain_id: str
    result: AckResult
    #: This answer is the chain's (False: the chain had one already, which ``result`` is).
    first: bool
    #: When it was recorded (when ``first``).
    at: datetime
    #: The batch is to be told now (it was not told within ``SIGNAL_EVERY``).
    tell: bool = False


async def answer(engine: AsyncEngine, warning_id: str, who: str, at: datetime) -> Answer:
    """Route the answer of ``who`` to its chain and record it there: one transaction."""
    async with engine.begin() as conn:
        person_id, batch_id, chain_id = await _route(conn, warning_id, who)
        result, first = await _record(conn, warning_id, chain_id, person_id, at)
        tell = first and await _due_signal(conn, warning_id, batch_id, at)
    return Answer(person_id, batch_id, chain_id, result, first, at, tell)


#: While answers flow, a batch is signalled at most this often; each signal makes it read its
#: rows a moment later, so the answers between two signals are read all at once.
SIGNAL_EVERY_SECONDS = 1.0


async def _due_signal(conn: AsyncConnection, warning_id: str, batch_id: str, at: datetime) -> bool:
    """Whether this answer's batch is to be signalled: not signalled within the last second
    (one transaction wins; the row of a batch laid out before 0016 is made here)."""
    row = await conn.execute(
        text(
            """
            INSERT INTO warning_batch AS b (warning_id, batch_id, signalled_at)
            VALUES (:w, :b, CAST(:at AS timestamptz))
            ON CONFLICT (warning_id, batch_id) DO UPDATE SET signalled_at = EXCLUDED.signalled_at
            WHERE b.signalled_at IS NULL
               OR b.signalled_at < EXCLUDED.signalled_at - make_interval(secs => :every)
            RETURNING 1
            """
        ),
        {"w": warning_id, "b": batch_id, "at": at, "every": SIGNAL_EVERY_SECONDS},
    )
    return row.first() is not None


async def laid_out(engine: AsyncEngine, warning_id: str) -> bool:
    """Whether the warning has written its people down (``plan_warning``)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM warning_person WHERE warning_id = :w LIMIT 1"), {"w": warning_id}
        )
        return found.first() is not None


async def known(engine: AsyncEngine, warning_id: str) -> bool:
    """Whether a warning of this id was ever issued (its register line or its people)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT 1 FROM warning WHERE warning_id = :w "
                "UNION ALL SELECT 1 FROM warning_person WHERE warning_id = :w LIMIT 1"
            ),
            {"w": warning_id},
        )
        return found.first() is not None


async def answers_of(
    engine: AsyncEngine, warning_id: str, chain_ids: Sequence[str]
) -> list[ChainAck]:
    """The answers recorded in the rows of ``chain_ids``."""
    if not chain_ids:
        return []
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT chain_id, status, acked_at, acked_by, response_seconds FROM warning_chain "
                "WHERE warning_id = :w AND chain_id = ANY(:c) AND acked_at IS NOT NULL "
                "ORDER BY chain_id"
            ),
            {"w": warning_id, "c": list(chain_ids)},
        )
        return [_ack(r) for r in rows.mappings()]


async def _record(
    conn: AsyncConnection, warning_id: str, chain_id: str, person_id: str, at: datetime
) -> tuple[AckResult, bool]:
    """Record ``person_id``'s answer in its chain's row, once: (the chain's answer, whether
    this one is it). A chain already answered answers as it was (whoever asks); a chain
    whose batch has ended refuses it as too late. The response time runs from the chain's
    first call (or the warning's issue, before that is known)."""
    row = (
        (
            await conn.execute(
                text(
                    """
                    UPDATE warning_chain AS w SET
                        acked_at = CAST(:at AS timestamptz), acked_by = CAST(:p AS text),
                        status = CASE WHEN w.persons -> 0 ->> 'person_id' = CAST(:p AS text)
                                      THEN 'answered' ELSE 'backup_answered' END,
                        response_seconds = GREATEST(EXTRACT(EPOCH FROM (
                            CAST(:at AS timestamptz) - COALESCE(
                                w.first_call_at,
                                (SELECT issued_at FROM warning WHERE warning_id = :w),
                                CAST(:at AS timestamptz)))), 0)
                    WHERE w.warning_id = :w AND w.chain_id = :c
                      AND w.acked_at IS NULL AND w.closed_at IS NULL
                    RETURNING chain_id, status, response_seconds
                    """
                ),
                {"w": warning_id, "c": chain_id, "p": person_id, "at": at},
            )
        )
        .mappings()
        .first()
    )
    if row is not None:
        return AckResult.model_validate(dict(row)), True
    known = (
        (
            await conn.execute(
                text(
                    "SELECT chain_id, status, response_seconds FROM warning_chain "
                    "WHERE warning_id = :w AND chain_id = :c AND acked_at IS NOT NULL"
                ),
                {"w": warning_id, "c": chain_id},
            )
        )
        .mappings()
        .first()
    )
    if known is None:
        raise AckRefused(f"person: the 叫应 of warning {warning_id} that called them is over")
    return AckResult.model_validate(dict(known)), False


async def _route(conn: AsyncConnection, warning_id: str, who: str) -> tuple[str, str, str]:
    """(person id, batch id, chain id) of the person ``who`` names: an id, a phone, or a name
    that only one person of this warning has."""
    who = unicodedata.normalize("NFKC", who).strip()  # full-width digits are digits
    phone = "".join(ch for ch in who if ch.isdigit() or ch == "+")
    for country in ("+86", "0086"):  # the register keeps national numbers
        if phone.startswith(country) and len(phone) > len(country) + 5:
            phone = phone.removeprefix(country)
    rows = (
        (
            await conn.execute(
                text(
                    "SELECT person_id, batch_id, name, phone, chain_id FROM warning_person "
                    "WHERE warning_id = :w AND (person_id = :who OR name = :who "
                    "OR (CAST(:phone AS text) <> '' AND phone = :phone))"
                ),
                {"w": warning_id, "who": who, "phone": phone if len(phone) >= 5 else ""},
            )
        )
        .mappings()
        .all()
    )
    by_id = [r for r in rows if r["person_id"] == who]
    by_phone = [r for r in rows if phone and r["phone"] == phone]
    found = by_id or by_phone or [r for r in rows if r["name"] == who]
    if not found:
        unknown = AckRefused(f"person: nobody called for warning {warning_id} is '{who}'")
        unknown.status = 404
        raise unknown
    if len({r["person_id"] for r in found}) > 1:
        listed = ", ".join(f"{r['name']} ({r['person_id']})" for r in found[:10])
        how = "person id" if by_id or by_phone else "person id or phone"
        raise AckRefused(
            f"person: '{who}' names several people of warning {warning_id}: {listed}; "
            f"answer by {how}"
        )
    return found[0]["person_id"], found[0]["batch_id"], found[0]["chain_id"]


async def list_warnings(
    engine: AsyncEngine, district: str, live: bool, limit: int
) -> list[dict[str, Any]]:
    """Warnings of ``district`` from their register line (``warning``), newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT warning_id, title, district, issued_by, issued_at, finished, targets, "
                "answered, not_reached, call_response_rate FROM warning "
                "WHERE district = :d AND (NOT CAST(:live AS boolean) OR NOT finished) "
                "ORDER BY issued_at DESC, warning_id LIMIT :n"
            ),
            {"d": district, "live": live, "n": limit},
        )
        return [dict(r) for r in rows.mappings()]


async def towns(engine: AsyncEngine, warning_id: str) -> list[TownProgress]:
    """Each 街镇's progress, from the chains its batches keep current."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT town_code, min(town_name) AS town_name, count(*) AS chains,
                       count(*) FILTER (WHERE status IN ('answered', 'backup_answered'))
                           AS answered,
                       count(*) FILTER (WHERE status = 'not_reached') AS not_reached,
                       count(*) FILTER (WHERE undelivered IS NOT NULL) AS undelivered,
                       count(*) FILTER (WHERE status = 'calling') AS calling
                FROM warning_chain WHERE warning_id = :w
                GROUP BY town_code ORDER BY town_code
                """
            ),
            {"w": warning_id},
        )
        return [TownProgress.model_validate(dict(r)) for r in rows.mappings()]


async def mark_delivery(
    engine: AsyncEngine, delivered: Sequence[str], failed: dict[str, str]
) -> None:
    """Record what the webhook took, and what it could not take (未送达) with why."""
    async with engine.begin() as conn:
        if delivered:
            await conn.execute(
                text("UPDATE notification SET delivered_at = now() WHERE key = ANY(:k)"),
                {"k": list(delivered)},
            )
        for key, reason in failed.items():
            await conn.execute(
                text("UPDATE notification SET failed_at = now(), failure = :r WHERE key = :k"),
                {"k": key, "r": reason[:500]},
            )


async def pending_delivery(engine: AsyncEngine, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The notifications of ``keys`` not yet delivered nor failed."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT key, recipient, address, subject, body, source FROM notification "
                "WHERE key = ANY(:k) AND delivered_at IS NULL AND failed_at IS NULL"
            ),
            {"k": list(keys)},
        )
        return [dict(r) for r in rows.mappings()]
