"""``yingji token``: who may use the console (访问令牌): add, list, revoke.

A token is shown once, when it is added; only its SHA-256 is kept. ``list`` never shows a
token, only the first characters of its hash (what ``revoke --prefix`` takes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import TYPER, Json, emit, fail, out, run, when, with_engine

if TYPE_CHECKING:
    from yingji.core.settings import Settings
    from yingji.stores.token import IssuedToken, StoredToken

token_app = typer.Typer(**TYPER, no_args_is_help=True)

ROLES = "viewer | reporter | duty_officer | approver | admin"


@token_app.command("add")
def token_add(
    person: Annotated[str, typer.Option(help="who holds it (a name, at most 100 characters)")],
    role: Annotated[str, typer.Option(help=ROLES)],
    unit: Annotated[
        list[str] | None,
        typer.Option(help="a reporter's unit (code or name; repeat); only for reporter"),
    ] = None,
    print_setting: Annotated[
        bool,
        typer.Option(
            "--print-setting",
            help="store nothing: print the token and its YINGJI_CONSOLE_TOKENS entry",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """A new token for a person; it is printed once and never shown again."""
    from yingji.core.tokens import hash_token, new_token
    from yingji.stores import token as tokens

    units = unit or []
    if print_setting:
        try:
            who = tokens.holder(person, role, units)
        except tokens.TokenError as exc:
            fail(str(exc))
            return
        token = new_token()
        entry = {hash_token(token): who.model_dump(mode="json", exclude_defaults=True)}
        if as_json:
            emit({"token": token, "setting_entry": entry}, True)
            return
        _show_once(token)
        out.print("YINGJI_CONSOLE_TOKENS entry (the hash only; merge it into the JSON object):")
        out.print(json.dumps(entry, ensure_ascii=False), highlight=False, soft_wrap=True)
        return

    async def job(settings: Settings) -> IssuedToken:
        return await with_engine(settings, lambda engine: tokens.issue(engine, person, role, units))

    issued = run(job, f"token for {person}")
    if as_json:  # the token itself, once, as the table would show it
        emit({"token": issued.token, "sha256": issued.sha256, "holder": issued.holder}, True)
        return
    bound = f" for {', '.join(issued.holder.units)}" if issued.holder.units else ""
    out.print(
        f"token added: {issued.holder.person} ({issued.holder.role}{bound}), "
        f"hash {issued.sha256[:8]}…",
        highlight=False,
    )
    _show_once(issued.token)


def _show_once(token: str) -> None:
    out.print(token, highlight=False, soft_wrap=True)
    out.print(
        "This token is shown only once: give it to its holder now (it is not stored, only its "
        "SHA-256). A lost token cannot be shown again: revoke it and add another.",
        highlight=False,
    )


@token_app.command("list")
def token_list(
    active: Annotated[bool, typer.Option("--active", help="only tokens not revoked")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The stored tokens: person, role, units, created, revoked; never a token itself.

    Tokens configured in YINGJI_CONSOLE_TOKENS are not listed (they live in the settings)."""
    from rich.table import Table

    from yingji.stores import token as tokens

    async def job(settings: Settings) -> list[StoredToken]:
        return await with_engine(
            settings, lambda engine: tokens.list_tokens(engine, include_revoked=not active)
        )

    found = run(job)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "hash_prefix": t.prefix,
                        **t.holder.model_dump(mode="json"),
                        "created_at": t.created_at.isoformat(),
                        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                    }
                    for t in found
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"console tokens ({len(found)})", title_justify="left")
    for col in ("hash", "person", "role", "units", "created", "revoked"):
        table.add_column(col)
    for t in found:
        table.add_row(
            t.prefix,
            t.holder.person,
            t.holder.role,
            ", ".join(t.holder.units),
            when(t.created_at),
            when(t.revoked_at),
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    person: Annotated[
        str | None, typer.Option(help="revoke every active token of this person")
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="revoke the one token whose hash starts so (`token list`; 8+ hex)"),
    ] = None,
    as_json: Json = False,
) -> None:
    """Revoke tokens: the console refuses them within YINGJI_CONSOLE_TOKEN_CACHE_SECONDS."""
    from yingji.stores import token as tokens

    if (person is None) == (prefix is None):
        raise typer.BadParameter("give --person or --prefix (one of them)")

    async def job(settings: Settings) -> list[StoredToken]:
        return await with_engine(
            settings, lambda engine: tokens.revoke(engine, person=person, prefix=prefix)
        )

    revoked = run(job)
    if as_json:
        emit([{"prefix": t.prefix, "holder": t.holder} for t in revoked], True)
        return
    for t in revoked:
        out.print(f"revoked: {t.prefix} {t.holder.person} ({t.holder.role})", highlight=False)
