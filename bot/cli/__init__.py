"""The `sayso` command line: `cli`, the root group, and `main`, the console entry point."""

from bot.cli.root import cli, main
from bot.db import make_engine

# `make_engine` is the one every command opens its database with (see `common.make_engine`).
__all__ = ["cli", "main", "make_engine"]
