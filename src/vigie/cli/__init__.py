"""The `vigie` command: the command tree, one module per command group.

Heavy modules are imported inside each command, so that `vigie --help` starts quickly.
"""

from __future__ import annotations

import typer

from vigie.cli import backtest, crm, serve, simulate
from vigie.cli.alerts import alerts_app
from vigie.cli.bench import bench_app
from vigie.cli.config import config_app
from vigie.cli.db import db_app
from vigie.cli.deadletters import dead_letters_app
from vigie.cli.experiments import experiments_app
from vigie.cli.leads import leads_app
from vigie.cli.playbooks import playbook_app
from vigie.cli.privacy import privacy_app
from vigie.cli.prospects import prospects_app
from vigie.cli.report import report_app
from vigie.cli.rules import rules_app
from vigie.cli.schedule import schedule_app
from vigie.cli.sensors import sensors_app
from vigie.cli.users import users_app

app = typer.Typer(
    name="vigie",
    help="Vigie: a CRM that works as a real-time internal audit of a company.\n\n"
    "Example: vigie demo",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve.serve)
app.command()(serve.worker)
app.command()(serve.demo)
app.command()(simulate.simulate)
app.command()(backtest.backtest)
app.command("import")(crm.import_csv)
app.command("export")(crm.export_csv)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(users_app, name="users")
app.add_typer(playbook_app, name="playbook")
app.add_typer(alerts_app, name="alerts")
app.add_typer(rules_app, name="rules")
app.add_typer(bench_app, name="bench")
app.add_typer(prospects_app, name="prospects")
app.add_typer(leads_app, name="leads")
app.add_typer(experiments_app, name="experiments")
app.add_typer(schedule_app, name="schedule")
app.add_typer(privacy_app, name="privacy")
app.add_typer(report_app, name="report")
app.add_typer(sensors_app, name="sensors")


def main() -> None:
    """Entry point for `python -m vigie`."""
    app()
