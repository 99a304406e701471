"""The progress bar of a long command (`verify`, `export --all`, `import`, `purge`): on
standard error, and only when that is a terminal, so that pipes and logs stay quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO

from tqdm import tqdm


class ProgressBar:
    """A `bot.ledger.progress.Progress` drawn with tqdm, one bar per phase."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._shown = self._stream.isatty()
        self._bar: tqdm[None] | None = None

    def begin(self, what: str, total: int | None, unit: str) -> None:
        self.close()
        if self._shown:
            # Cleared when done (leave=False): what stays on the screen is the command's answer.
            self._bar = tqdm(
                total=total,
                desc=what,
                unit=f" {unit}" if unit != "B" else unit,
                unit_scale=unit == "B",
                file=self._stream,
                leave=False,
                mininterval=0.2,
                dynamic_ncols=True,
            )

    def advance(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)

    def reading(self, what: str, lines: Iterable[bytes], size: int | None) -> Iterator[bytes]:
        """`lines` as read, the bar counting their bytes out of `size`."""
        self.begin(what, size, "B")
        for line in lines:
            self.advance(len(line))
            yield line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
