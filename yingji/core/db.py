"""Database engine and migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as pgserver and most tools print them)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"database URL must be a PostgreSQL URL, got scheme of {url.split(':')[0]!r}")


def make_engine(url: str, **kwargs: object) -> AsyncEngine:
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url(url), **kwargs)  # type: ignore[arg-type]


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def migrate(url: str) -> None:
    """Run Alembic to head; env.py drives its own event loop, so it runs in a thread."""
    await asyncio.to_thread(upgrade, url)
