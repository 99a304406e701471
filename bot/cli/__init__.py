"""The `sayso` command line: `cli`, the root group, and `main`, the console entry point."""

from bot.cli.root import cli, main

__all__ = ["cli", "main"]
