"""Command line: `skypost-web init-db | seed | worker | run | db ...` (or `flask --app skypost_web ...`)."""
from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade

from skypost_web.app import create_app
from skypost_web.services.seed import seed
from skypost_web.services.world import WorldFileError


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    upgrade()
    click.echo(f"database ready: {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


@click.command("seed")
@click.option("--password", default=None, help="one password for every new demo account (default: random ones)")
@with_appcontext
def seed_command(password: str | None) -> None:
    """Demo goods, lockers from the world file, demo accounts (passwords printed once)."""
    try:
        report = seed(current_app.config["WORLD_FILE"], password)
    except WorldFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"goods added: {report.goods}, lockers from {current_app.config['WORLD_FILE']}: {report.lockers}")
    for username, secret in report.passwords.items():
        click.echo(f"account {username}: password {secret}")
    if not report.passwords:
        click.echo("demo accounts already exist (passwords unchanged)")


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run the outbox dispatcher, the status subscriber and the pickup-validation service until SIGINT/SIGTERM."""
    from skypost_web.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twisted").setLevel(logging.WARNING)  # connector chatter at every reconnect attempt
    worker = Worker(current_app._get_current_object())  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.run()


def register(group: click.Group) -> None:
    for command in (init_db_command, seed_command, worker_command):
        group.add_command(command)


cli = FlaskGroup(create_app=lambda: create_app(), help="SkyPost web app")
register(cli)


def main() -> None:
    cli()
