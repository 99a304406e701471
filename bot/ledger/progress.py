"""How a long pass over the ledger says how far it has got, to whoever shows it (the command
line's progress bar): a phase begins with what it does and how much there is, then advances."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, what: str, total: int | None, unit: str) -> None:
        """A new phase: `total` units of `unit` (None: unknown)."""
        ...

    def advance(self, done: int) -> None:
        """`done` more units of the phase are done."""
        ...


# Units are reported in steps this big: a call per event would slow `sayso verify`.
STEP = 1000
