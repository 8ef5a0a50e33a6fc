"""`vigie users …`: users, roles and API tokens."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer

from vigie.cli.options import DbOption, cli_actor, console, err, migrated_engine

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
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password."),
    ],
    staff_id: Annotated[
        str | None, typer.Option(help="The staff member this user is (sales and managers).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the interface.")] = None,
    db: DbOption = None,
) -> None:
    """Create a user with a role; the password is asked for when not given.

    Example: vigie users create --username alice --role sales --staff-id st_alice
    """
    from vigie.auth import audit
    from vigie.auth.users import UserError, create_user
    from vigie.clock import SystemClock

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
