"""The root `sayso` group, with every command group added to it in one place."""

from __future__ import annotations

import logging

import click

from bot.cli import backups, exports, integrity, outbox, purge, records, run, schedule


@click.group(help="Sayso: every client instruction confirmed in Slack, and kept on record.")
@click.version_option(package_name="sayso")
def cli() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


for commands in (run, records, integrity, exports, backups, schedule, outbox, purge):
    commands.register(cli)


def main() -> None:
    cli()
