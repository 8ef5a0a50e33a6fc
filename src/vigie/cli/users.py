"""`vigie users …`: users, roles and API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import sqlalchemy as sa
import typer

from vigie.cli.options import DbOption, cli_actor, console, err, migrated_engine

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts).",
    ),
]
ArgvPassword = Annotated[
    str | None,
    typer.Option("--password", hidden=True, help="Refused: a password on the command line leaks."),
]


def _read_password(*, argv: str | None, stdin: bool) -> str:
    """The password from a hidden prompt (asked twice) or from stdin; `--password` is
    refused with what to do instead, as it shows in `ps` and in the shell's history."""
    if argv is not None:
        err.print(
            "[red]--password is no longer accepted:[/red] a password on the command line "
            "shows in `ps` and in your shell history. Leave it out to be asked for it, or "
            "pipe it: printf '%s\\n' \"$PASSWORD\" | vigie users … --password-stdin"
        )
        raise typer.Exit(2)
    if stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            err.print("[red]--password-stdin: standard input held no password[/red]")
            raise typer.Exit(2)
        return line
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


users_app = typer.Typer(
    help="Users, roles and API tokens.\n\n"
    "Example: vigie users create --username alice --role sales",
    no_args_is_help=True,
)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(help="admin, manager, marketing, sales, support, finance or read-only."),
    ],
    staff_id: Annotated[
        str | None, typer.Option(help="The staff member this user is (sales and managers).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the interface.")] = None,
    password_stdin: PasswordStdin = False,
    password: ArgvPassword = None,
    db: DbOption = None,
) -> None:
    """Create a user with a role; the password is asked for (twice, hidden), or read from
    the first line of standard input with --password-stdin; never from the command line.

    Example: vigie users create --username alice --role sales --staff-id st_alice
    """
    from vigie.auth import audit
    from vigie.auth.users import UserError, create_user
    from vigie.clock import SystemClock

    password = _read_password(argv=password, stdin=password_stdin)
    engine = migrated_engine(db)
    now = SystemClock().now()
    try:
        user = create_user(
            engine=engine,
            username=username,
            password=password,
            role=role,
            staff_id=staff_id,
            display_name=display_name,
            now=now,
        )
    except UserError as exc:
        err.print(f"[red]cannot create the user:[/red] {exc}")
        raise typer.Exit(2) from exc
    audit.record(
        engine=engine,
        actor=cli_actor(),
        action="user.create",
        entity="users",
        entity_id=str(user.id),
        at=now,
        details={"username": user.username, "role": user.role.value},
    )
    engine.dispose()
    console.print(f"user [bold]{user.username}[/bold] created with role {user.role.value}")


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    db: DbOption = None,
) -> None:
    """Issue an API token for a user and print it once (send it as `Authorization: Bearer`).

    Example: vigie users token alice --name reporting-script
    """
    from vigie.auth import audit
    from vigie.auth.tokens import issue_token
    from vigie.auth.users import users
    from vigie.clock import SystemClock

    engine = migrated_engine(db)
    with engine.connect() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.username == username, users.c.disabled_at.is_(None))
        ).scalar()
    if user_id is None:
        err.print(f"[red]no active user named {username!r}[/red] (vigie users create …)")
        raise typer.Exit(2)
    now = SystemClock().now()
    issued = issue_token(engine=engine, user_id=int(user_id), name=name, now=now)
    audit.record(
        engine=engine,
        actor=cli_actor(),
        action="token.issue",
        entity="users",
        entity_id=str(user_id),
        at=now,
        details={"token_id": issued.id, "name": name},
    )
    engine.dispose()
    print(issued.token)


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument(help="The user whose password changes.")],
    password_stdin: PasswordStdin = False,
    password: ArgvPassword = None,
    db: DbOption = None,
) -> None:
    """Set a user's password (asked for, or read with --password-stdin) and close every
    browser session they have open.

    Example: vigie users password alice
    """
    from vigie.auth import audit
    from vigie.auth.sessions import revoke_user_sessions
    from vigie.auth.users import UserError, set_password
    from vigie.clock import SystemClock

    secret = _read_password(argv=password, stdin=password_stdin)
    engine = migrated_engine(db)
    now = SystemClock().now()
    try:
        user = set_password(engine=engine, username=username, password=secret)
    except UserError as exc:
        err.print(f"[red]cannot change the password:[/red] {exc}")
        raise typer.Exit(2) from exc
    closed = revoke_user_sessions(engine=engine, user_id=user.id, now=now)
    audit.record(
        engine=engine, actor=cli_actor(), action="user.password", entity="users",
        entity_id=str(user.id), at=now, details={"sessions": closed},
    )  # fmt: skip
    engine.dispose()
    console.print(f"password of [bold]{user.username}[/bold] changed; {closed} session(s) closed")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The user to disable.")],
    db: DbOption = None,
) -> None:
    """Disable a user: their sessions and API tokens stop working at once, and they can no
    longer sign in.

    Example: vigie users disable alice
    """
    from vigie.auth import audit
    from vigie.auth.sessions import revoke_user_sessions
    from vigie.auth.users import UserError, disable_user
    from vigie.clock import SystemClock

    engine = migrated_engine(db)
    now = SystemClock().now()
    try:
        user = disable_user(engine=engine, username=username, now=now)
    except UserError as exc:
        err.print(f"[red]cannot disable:[/red] {exc}")
        raise typer.Exit(2) from exc
    revoke_user_sessions(engine=engine, user_id=user.id, now=now)
    audit.record(
        engine=engine, actor=cli_actor(), action="user.disable", entity="users",
        entity_id=str(user.id), at=now, details={"username": user.username},
    )  # fmt: skip
    engine.dispose()
    console.print(f"user [bold]{user.username}[/bold] disabled")
