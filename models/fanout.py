"""叫应 at a city's scale: a warning fanned out over batches of call chains.

A **call chain** is one unit's responsible people for one role, in the order they are called (1
first, 2 the backup, …). A warning (``warning:{id}``) resolves its chains from the register,
splits them by 街镇 into batches of at most a few hundred, and runs one child workflow per batch
(``warning:{id}:{batch}``). A call is *placed* when its notification is durably queued; redials
and escalation follow their timers whether or not the phone channel delivers it. Delivery runs
apart, with bounded retries; a notification it cannot deliver is 未送达, with its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

from models.common import ACTOR_MAX, CODE_PATTERN, LabelledEnum, Model, Request, labelled
from models.warning import CallRules

#: Chains in one batch (one child workflow). A batch's history holds about five events an
#: answer and a few per round of calls: 250 chains stay far below 10,240 events.
BATCH_SIZE = 250
#: Chains one warning may call: a city of ~6,000 村居 with two roles each, and room to spare.
CHAINS_MAX = 20_000
#: Response-time buckets (seconds, upper bounds) of the distribution a warning keeps.
BUCKETS = (60, 120, 300, 600, 1800, 3600)

Id = Annotated[str, Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class CallLevel(LabelledEnum):
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"


labelled(CallLevel, {"district": "区级", "town": "街镇", "village": "村居"})


class CallSource(LabelledEnum):
    RESPONSIBLE = "responsible"
    OFFICER = "officer"
    BOTH = "both"


labelled(CallSource, {"responsible": "防汛防台责任人", "officer": "灾害信息员", "both": "两者"})


class ChainStatus(LabelledEnum):
    CALLING = "calling"
    ANSWERED = "answered"
    BACKUP_ANSWERED = "backup_answered"
    NOT_REACHED = "not_reached"


labelled(
    ChainStatus,
    {
        "calling": "叫应中",
        "answered": "已应答",
        "backup_answered": "后续责任人应答",
        "not_reached": "未叫醒",
    },
)


class CallPerson(Model):
    person_id: Id
    name: Name
    phone: str = Field(min_length=1, max_length=32)
    order: int = Field(ge=1, le=9)


class CallChain(Model):
    """One unit's people for one role, in calling order."""

    chain_id: Id
    unit_code: Id
    unit_name: Name
    town_code: Id
    town_name: Name
    role: str = Field(min_length=1, max_length=50)
    persons: list[CallPerson] = Field(min_length=1, max_length=18)


class FanoutIssue(Request):
    """Issue a warning to every chain of ``level`` in ``district`` (``units`` narrows it)."""

    warning_id: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    title: str = Field(min_length=1, max_length=200, description="e.g. 台风红色预警")
    district: Name
    issued_by: Name
    level: CallLevel = CallLevel.TOWN
    who: CallSource = CallSource.RESPONSIBLE
    units: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=10_000, description="units (codes or names) to call"
    )
    #: Set when a typhoon's level change started it: ``typhoon:{year}:{number}``.
    typhoon_event_id: str | None = Field(default=None, max_length=64)


class FanoutInput(Model):
    issue: FanoutIssue
    rules: CallRules
    batch_size: int = Field(default=BATCH_SIZE, ge=1, le=1000)
    #: How often a batch reports its progress to the warning at most (seconds).
    progress_seconds: float = Field(default=2.0, gt=0)
    #: Carried across continue-as-new.
    state: FanoutState | None = None


class BatchRef(Model):
    batch_id: Id
    town_code: Id
    town_name: Name
    chains: int = Field(ge=1)


class WarningPlan(Model):
    """The warning's layout, once its chains are written down (``plan_warning``)."""

    issued_at: datetime
    batches: list[BatchRef]
    chains: int
    #: Units of the level with nobody to call (shown on the warning, not called).
    gaps: list[str] = Field(default_factory=list)


class BatchInput(Model):
    warning_id: str
    parent_id: str
    #: The warning's title, for its calls (added later: a batch started before has none).
    title: str = Field(default="", max_length=200)
    batch: BatchRef
    issued_at: datetime
    rules: CallRules
    progress_seconds: float = 2.0


class ChainAck(Model):
    """An answer as its chain's row recorded it: the batch learns it from the ``answered``
    signal, from its chains when it starts, or from a projection."""

    chain_id: str = Field(max_length=200)
    person_id: str = Field(max_length=200)
    status: ChainStatus
    acked_at: datetime
    response_seconds: float | None = None
    via: str = Field(default="phone", max_length=32)
    #: Who sent it (the console token's person or the CLI's user), for the history.
    actor: str | None = Field(default=None, max_length=ACTOR_MAX)


class BatchChains(Model):
    chains: list[CallChain] = Field(max_length=1000)
    #: Answers already recorded (a batch that starts after some of its people answered).
    acks: list[ChainAck] = Field(default_factory=list, max_length=1000)


class BatchProgress(Model):
    batch_id: str
    town_code: str
    town_name: str
    chains: int
    answered: int = 0
    backup_answered: int = 0
    not_reached: int = 0
    undelivered: int = 0
    #: Answers per response-time bucket (``BUCKETS``, then one for longer).
    histogram: list[int] = Field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    done: bool = False
    #: When this count was made (a later count replaces an earlier one).
    at: datetime | None = None


class FanoutState(Model):
    plan: WarningPlan
    progress: dict[str, BatchProgress] = Field(default_factory=dict)
    started: list[str] = Field(default_factory=list)
    finished: bool = False
    #: Grows with every projection of the warning's line (its ``last_seq``).
    seq: int = 0


class ChainState(Model):
    """What a batch knows of one chain."""

    chain: CallChain
    status: ChainStatus = ChainStatus.CALLING
    #: Index into ``chain.persons`` of who is being called now.
    current: int = 0
    attempt: int = 0
    next_at: datetime | None = None
    first_call_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    response_seconds: float | None = None
    undelivered: str | None = None


class QueuedCall(Model):
    chain_id: str
    person: CallPerson
    attempt: int
    key: str


class QueueCalls(Model):
    warning_id: str
    batch_id: str
    title: str
    calls: list[QueuedCall] = Field(max_length=1000)


class QueueResult(Model):
    queued: int


class DeliverCalls(Model):
    keys: list[str] = Field(max_length=1000)


class Undelivered(Model):
    key: str
    reason: str


class DeliverResult(Model):
    delivered: int
    undelivered: list[Undelivered] = Field(default_factory=list)


class ChainRow(Model):
    """A chain's line in ``warning_chain``, as a batch projects it."""

    chain_id: str
    status: ChainStatus
    current_person: str
    attempt: int
    first_call_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    response_seconds: float | None
    undelivered: str | None


class BatchProjection(Model):
    warning_id: str
    batch_id: str
    chains: list[ChainRow]
    #: The batch has ended: its chains take no more answers.
    final: bool = False


class BatchLook(Model):
    """A batch looks at its rows for answers to these chains (before calling them again, and
    now and then while it calls): answers whose signal never came."""

    warning_id: str
    batch_id: str
    chain_ids: list[str] = Field(max_length=1000)


class BatchProjected(Model):
    """Answers the database holds for projected chains that the batch did not know of."""

    acks: list[ChainAck] = Field(default_factory=list, max_length=1000)


class FanoutRow(Model):
    """The warning's line in the ``warning`` table."""

    warning_id: str
    workflow_id: str
    title: str
    district: str
    issued_by: str
    issued_at: datetime
    finished: bool
    targets: int
    answered: int
    not_reached: int
    call_response_rate: float
    last_seq: int


class FanoutAck(Request):
    """An answer: the person by id, by phone, or by name when that is unambiguous."""

    person: str = Field(min_length=1, max_length=200, description="person id, phone or name")
    via: str = Field(default="phone", min_length=1, max_length=32)


class AckRouted(Request):
    """An answer as it reaches its batch: the person resolved to an id."""

    person_id: Id
    via: str = Field(default="phone", min_length=1, max_length=32)
    at: AwareDatetime | None = None


class AckResult(Model):
    chain_id: str
    status: ChainStatus
    response_seconds: float | None


class TownProgress(Model):
    town_code: str
    town_name: str
    chains: int
    answered: int
    not_reached: int
    undelivered: int
    calling: int


class FanoutView(Model):
    warning_id: str
    title: str
    district: str
    level: CallLevel
    who: CallSource
    issued_by: str
    issued_at: datetime | None
    typhoon_event_id: str | None
    chains: int
    answered: int
    not_reached: int
    undelivered: int
    call_response_rate: float
    histogram: list[int]
    towns: list[TownProgress]
    gaps: list[str]
    finished: bool


FanoutInput.model_rebuild()
