"""叫应 (call-and-respond) for warnings, DOMAIN.md §4: 谁发布谁叫应、谁主管谁叫应.

Each responsible person is called; a call counts only when acknowledged. No answer: redial up to
N times within M minutes, then mark 未叫醒 and escalate to the backup or superior.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator

from models.common import CODE_PATTERN, Inconsistent, LabelledEnum, Model, Request, labelled


class CallStatus(LabelledEnum):
    CALLING = "calling"
    ANSWERED = "answered"
    NOT_REACHED = "not_reached"
    ANSWERED_AFTER_ESCALATION = "answered_after_escalation"
    BACKUP_ANSWERED = "backup_answered"


labelled(
    CallStatus,
    {
        "calling": "叫应中",
        "answered": "已应答",
        "not_reached": "未叫醒",
        "answered_after_escalation": "升级后应答",
        "backup_answered": "备岗/上级已应答",
    },
)


#: People one warning calls. One workflow holds every call of a warning, and Temporal limits a
#: workflow to 2,000 pending activities: above this a warning is refused with this reason
#: rather than failing half-way ([4/7] splits a city's warning across workflows).
TARGETS_MAX = 400


class Contact(Model):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    email: str | None = Field(default=None, max_length=254)


class CallTarget(Model):
    person: Contact
    unit: str = Field(min_length=1, max_length=100)
    backup: Contact | None = Field(default=None, description="B officer or superior")


class CallRules(Model):
    attempts: int = Field(default=3, ge=1, description="calls before 未叫醒 (redials + 1)")
    window_minutes: float = Field(default=5, gt=0, description="all attempts within this")
    escalation_wait_minutes: float = Field(
        default=60, gt=0, description="how long escalation waits"
    )


class WarningIssue(Model):
    warning_id: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    title: str = Field(min_length=1, max_length=200, description="e.g. 台风红色预警")
    district: str = Field(min_length=1, max_length=100)
    issued_by: str = Field(min_length=1, max_length=100)
    targets: list[CallTarget] = Field(min_length=1, max_length=TARGETS_MAX)
    issued_at: AwareDatetime | None = Field(
        default=None,
        description="set only for a past warning entered after the fact (yingji load): nobody is "
        "called; each acknowledgement gives its time",
    )

    @model_validator(mode="after")
    def _unique_people(self) -> WarningIssue:
        names = [t.person.name for t in self.targets]
        if len(names) != len(set(names)):
            raise Inconsistent("targets: a person is listed twice")
        return self


class WarningPhase(LabelledEnum):
    """Where a warning's 叫应 stands (what ``expect_stage`` names)."""

    CALLING = "calling"
    OVER = "over"


labelled(WarningPhase, {"calling": "叫应中", "over": "已结束"})


class AckInput(Request):
    person: str = Field(
        min_length=1, max_length=100, description="who answers: a called person or a backup"
    )
    via: str = Field(default="phone", min_length=1, max_length=32)
    at: AwareDatetime | None = Field(default=None, description="only for a past warning")


class CallRecord(Model):
    person: str
    phone: str
    unit: str
    backup: str | None
    status: CallStatus = CallStatus.CALLING
    attempts: int = 0
    first_call_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    response_seconds: float | None = None
    escalated_at: datetime | None = None


class ResponseStats(Model):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    buckets: dict[str, int] = Field(description="≤1 min, 1–3 min, 3–5 min, >5 min")


class WarningView(Model):
    warning_id: str
    title: str
    district: str
    issued_by: str
    issued_at: datetime
    finished: bool
    calls: list[CallRecord]
    targets: int
    answered: int
    not_reached: int
    call_response_rate: float = Field(description="叫应率: answered within the call window")
    responses: ResponseStats
    last_seq: int


class WarningEvent(Model):
    seq: int
    at: datetime
    kind: str
    person: str | None = None
    detail: dict = Field(default_factory=dict)


class WarningInput(Model):
    issue: WarningIssue
    rules: CallRules = Field(default_factory=CallRules)


class WarningProjection(Model):
    workflow_id: str
    view: WarningView
    events: list[WarningEvent]
