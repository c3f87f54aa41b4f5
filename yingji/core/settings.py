"""Configuration, read from the environment (prefix ``YINGJI_``) and an optional ``.env`` file.

With neither ``YINGJI_TEMPORAL_ADDRESS`` nor ``YINGJI_DATABASE_URL`` set, ``yingji serve`` starts
the embedded Temporal dev server and PostgreSQL under ``data_dir``; set them to point the same
code at a Temporal cluster (or Temporal Cloud) and a PostgreSQL server.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.typhoon import ResponseAction
from yingji.core.errors import DomainRefusal
from yingji.core.tokens import TokenHolder, check_hash


def _actions(*items: dict[str, object]) -> list[ResponseAction]:
    return [ResponseAction.model_validate(i) for i in items]


#: The response table a bureau starts from (防汛防台应急预案: each level's measures); set
#: YINGJI_TYPHOON_RESPONSE_ACTIONS to the bureau's own.
DEFAULT_RESPONSE_ACTIONS: dict[str, list[ResponseAction]] = {
    "IV": _actions(
        {
            "kind": "instruct",
            "text": "启动Ⅳ级响应：加强值班值守，排查危险区域和危险人群，报告排查情况",
            "due_minutes": 120,
        }
    ),
    "III": _actions(
        {"kind": "shelters", "text": "做好避难场所开放准备"},
        {
            "kind": "instruct",
            "text": "启动Ⅲ级响应：做好危险区域人员转移准备，报告准备情况",
            "due_minutes": 60,
        },
    ),
    "II": _actions(
        {"kind": "call", "text": "叫应各街镇防汛防台责任人"},
        {"kind": "shelters", "text": "开放避难场所，集中安置转移人员"},
        {
            "kind": "instruct",
            "text": "启动Ⅱ级响应：组织危险区域人员转移安置，报告转移人数",
            "due_minutes": 60,
        },
    ),
    "I": _actions(
        {"kind": "call", "text": "叫应各街镇防汛防台责任人"},
        {"kind": "shelters", "text": "全面开放避难场所"},
        {
            "kind": "instruct",
            "text": "启动Ⅰ级响应：全力转移危险区域人员，停止户外作业和大型活动",
            "due_minutes": 30,
        },
    ),
}


class BureauNotConfigured(DomainRefusal):
    """A command needs the bureau's district or name, and neither the call nor the settings
    give it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YINGJI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Temporal
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal frontend; unset = embedded dev server"
    )
    temporal_namespace: str = "default"
    temporal_task_queue: str = "yingji"
    temporal_tls: bool = False
    temporal_tls_server_root_ca: Path | None = None
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_api_key: SecretStr | None = None

    # Database
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL; unset = embedded PostgreSQL (pgserver)"
    )
    migrate_on_start: bool = True

    # Embedded services
    data_dir: Path = Path(".yingji")
    embedded_temporal_ip: str = "127.0.0.1"
    embedded_temporal_port: int = 7233
    embedded_temporal_ui_port: int = 8233

    # Logs
    environment: Literal["development", "production"] = "development"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # Requests: a console or CLI mutation waits at most this long for its answer, then says
    # how to get it (console: 202 and a URL to poll; CLI: send it again with --request-id).
    request_wait_seconds: float = Field(default=10.0, gt=0, le=600)

    # Worker
    worker_graceful_shutdown_seconds: float = 30.0
    worker_metrics_address: str | None = Field(
        default=None, description="host:port for the Temporal SDK's Prometheus metrics"
    )

    # Notifier: log + database outbox always; a webhook too when set: https (http only to a
    # loopback host), redirects not followed, the body signed with the secret (HMAC-SHA256).
    notify_webhook_url: str | None = None
    #: Required in production when the URL is set; validated after it (field order matters).
    notify_webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    notify_webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("notify_webhook_url")
    @classmethod
    def _webhook_url_is_https(cls, value: str | None) -> str | None:
        """https, or http to a loopback host (127.0.0.0/8, ::1, localhost) for a local
        receiver; a blank value is unset. The message names the scheme and host, not the
        path or query, which may carry a token."""
        value = value.strip() if value is not None else None
        if not value:
            return None
        what = (
            "YINGJI_NOTIFY_WEBHOOK_URL must be an https URL "
            "(http only to a loopback host: 127.0.0.1, ::1, localhost)"
        )
        parts = urlsplit(value)
        try:
            host, _ = parts.hostname, parts.port
        except ValueError:
            raise ValueError(f"{what}; its port is not a number") from None
        scheme = parts.scheme.lower()
        if not host:
            raise ValueError(f"{what}; it has no host")
        if scheme == "https":
            return value
        if scheme == "http" and _is_loopback(host):
            return value
        raise ValueError(f"{what}, not {scheme or '(no scheme)'}://{host}")

    @field_validator("notify_webhook_secret")
    @classmethod
    def _webhook_secret_in_production(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        """Production signs every webhook body; a blank secret is unset."""
        if value is not None and not value.get_secret_value().strip():
            value = None
        if (
            value is None
            and info.data.get("notify_webhook_url")
            and info.data.get("environment") == "production"
        ):
            raise ValueError(
                "YINGJI_NOTIFY_WEBHOOK_SECRET is required in production when "
                "YINGJI_NOTIFY_WEBHOOK_URL is set: the receiver checks each body's "
                "X-Yingji-Signature with it"
            )
        return value

    # 叫应: redial up to N times within M minutes, then 未叫醒 and escalate (DOMAIN.md §4).
    warning_call_attempts: int = Field(default=3, ge=1)
    warning_call_window_minutes: float = Field(default=5, gt=0)
    warning_escalation_wait_minutes: float = Field(default=60, gt=0)
    #: Call chains one batch (one child workflow) of a warning calls, and how often a batch
    #: reports its progress to the warning at most (seconds).
    warning_batch_size: int = Field(default=250, ge=1, le=1000)
    #: A typhoon's level change at or above this level, or its warning at or above this colour,
    #: starts a 叫应 of the district's responsible people (at ``warning_typhoon_target``
    #: level) once per change; blank either to turn that trigger off.
    warning_typhoon_level: Literal["IV", "III", "II", "I"] | None = "II"
    warning_typhoon_colour: Literal["blue", "yellow", "orange", "red"] | None = "orange"
    warning_typhoon_target: Literal["district", "town", "village"] = "town"
    warning_progress_seconds: float = Field(default=2.0, gt=0, le=60)

    # Disaster reports (应急〔2020〕19号): 初报 in 2 h, 续报 by 09:00, 核报 N working days.
    disaster_initial_hours: float = Field(default=2.0, gt=0)
    disaster_update_hour: int = Field(default=9, ge=0, le=23)
    disaster_final_working_days: int = Field(default=2, ge=1)
    disaster_remind_after_minutes: float = Field(default=15, ge=0)
    disaster_escalate_after_minutes: float = Field(default=60, gt=0)
    disaster_change_ratio: float = Field(default=0.5, gt=0)
    #: A live process may start this far back; an older one is loaded as history.
    disaster_max_backdate_days: int = Field(default=30, ge=1, le=3650)

    # The bureau this deployment serves, and its year-end summary (a Temporal Schedule in
    # Asia/Shanghai). No default names a place: production refuses to start without them.
    bureau_name: str | None = Field(default=None, min_length=1, max_length=64)
    bureau_district: str | None = Field(
        default=None, min_length=1, max_length=32, description="the district or city it serves"
    )
    bureau_level: Literal["district", "city"] | None = None
    summary_schedule_enabled: bool = True
    summary_day_of_month: int = Field(default=5, ge=1, le=28)
    summary_hour: int = Field(default=9, ge=0, le=23)
    summary_catchup_days: int = Field(default=31, ge=1)
    summary_template_path: Path | None = None

    # Console. Tokens: SHA-256 hex of a token → who it names, e.g.
    # {"<64 hex>": {"person": "张三", "role": "reporter", "units": ["南翔镇"]}}; the tokens
    # themselves are never configured, stored nor logged (``yingji token add``; see README).
    console_enabled: bool = True
    console_host: str = "127.0.0.1"
    console_port: int = 8000
    console_tokens: dict[str, TokenHolder] = Field(default_factory=dict, repr=False)
    #: A token found in the database is trusted this long before it is looked up again: a
    #: revoked token stops working within this many seconds.
    console_token_cache_seconds: float = Field(default=10.0, ge=0, le=30)
    #: /docs and /openapi.json, and /metrics: "token" (a viewer token) or "off" (404).
    console_docs: Literal["token", "off"] = "token"
    console_metrics: Literal["token", "off"] = "token"
    #: A request body over this many bytes is refused (413) before auth and parsing; the unit
    #: import (a CSV file) has its own, larger limit.
    console_max_body_bytes: int = Field(default=1_000_000, ge=1024, le=100_000_000)
    #: A request body whose next part does not arrive within this many seconds is refused
    #: (408), so a client that stops sending cannot hold a connection open for ever.
    console_body_read_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("console_tokens", mode="before")
    @classmethod
    def _token_hashes(cls, value: object) -> object:
        """Keys are checked first, so that a token configured by mistake (the old format) is
        refused without being repeated in the message."""
        if isinstance(value, dict):
            return {check_hash(str(digest)): holder for digest, holder in value.items()}
        return value

    # Domain rules marked "(verify)" in DOMAIN.md are settings, never literals.
    plan_filing_working_days: int = Field(default=20, ge=1)
    plan_evaluation_years: int = Field(default=3, ge=1)
    drill_reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    drill_evaluation_due_days: int = Field(default=15, ge=1)
    drill_programme_lead_days: int = Field(default=14, ge=0)
    typhoon_apply_min_seconds: float = Field(default=0.5, gt=0)
    typhoon_apply_max_seconds: float = Field(default=15.0, gt=0)
    #: What a typhoon's (or other event's) response level starts the first time the event
    #: reaches it: level → actions (``call`` 叫应, ``shelters`` to open, ``instruct`` the 街镇
    #: with a feedback deadline). JSON; ``{}`` starts nothing.
    typhoon_response_actions: dict[
        Literal["IV", "III", "II", "I"], Annotated[list[ResponseAction], Field(max_length=10)]
    ] = Field(default_factory=lambda: dict(DEFAULT_RESPONSE_ACTIONS))
    #: Reporting rounds: every N minutes while a response is on (0: only on demand), due M
    #: minutes after they open; a unit missing then is reminded, later escalated.
    typhoon_round_minutes: int = Field(default=120, ge=0, le=24 * 60)
    typhoon_round_due_minutes: int = Field(default=30, ge=1, le=24 * 60)
    typhoon_round_remind_minutes: int = Field(default=15, ge=0, le=24 * 60)
    typhoon_round_escalate_minutes: int = Field(default=60, ge=1, le=24 * 60)
    #: Required drill cadence per plan kind, in months (2013 办法 第二十二条; 应急管理部令第2号).
    drill_cadence_months: dict[str, int] = Field(
        default_factory=lambda: {"special": 36, "departmental": 36, "enterprise": 12, "on_site": 6}
    )

    @field_validator("bureau_name", "bureau_district", "bureau_level", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """A setting of only spaces is not set (it used to pass the production check)."""
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @property
    def missing_bureau(self) -> list[str]:
        """The bureau settings still unset, by their environment names."""
        return [
            f"YINGJI_{name.upper()}"
            for name in ("bureau_name", "bureau_district", "bureau_level")
            if getattr(self, name) is None
        ]

    @property
    def district(self) -> str:
        """The configured district or city: every default ``--district`` comes from here."""
        if self.bureau_district is None:
            raise BureauNotConfigured(
                "district: no district given and YINGJI_BUREAU_DISTRICT is not set; "
                "pass --district where the command has it, or set it"
            )
        return self.bureau_district

    @property
    def bureau(self) -> str:
        missing = [m for m in self.missing_bureau if m != "YINGJI_BUREAU_LEVEL"]
        if missing:
            raise BureauNotConfigured(
                "bureau: the summary speaks for the configured bureau; set " + ", ".join(missing)
            )
        assert self.bureau_name is not None
        return self.bureau_name

    def require_bureau_in_production(self) -> None:
        """``serve`` and the worker start in production only for a configured bureau."""
        if self.environment == "production" and self.missing_bureau:
            raise SystemExit(
                "error: production needs the bureau it serves: set "
                + ", ".join(self.missing_bureau)
            )

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: the only hosts a webhook may use plain http to."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
