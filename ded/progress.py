"""Progress bars with rate and ETA (rich), quiet when not on a terminal unless asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    def __init__(self, unit: str = "it"):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.1f} {self.unit}/s", style="progress.data.speed")


def _enabled() -> bool:
    if os.environ.get("DED_PROGRESS") == "0":
        return False
    return os.environ.get("DED_PROGRESS") == "1" or sys.stderr.isatty()


class progress:
    """`with progress(total=n, desc="verify", unit="items") as p: p.advance(k)`, or wrap an iterable.

    Shows count, percentage, rate and ETA on a terminal; silent otherwise (DED_PROGRESS=1 forces it).
    """

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None,
                 desc: str = "", unit: str = "it"):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self._p: Progress | None = None
        self._task = None
        self.n = 0

    def __enter__(self) -> "progress":
        if _enabled():
            self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TaskProgressColumn(), RateColumn(self.unit), TimeElapsedColumn(),
                               TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)
            self._p.start()
            self._task = self._p.add_task(self.desc, total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.stop()

    def advance(self, n: int = 1) -> None:
        self.n += n
        if self._p is not None:
            self._p.advance(self._task, n)

    def set_total(self, total: int) -> None:
        self.total = total
        if self._p is not None:
            self._p.update(self._task, total=total)

    def __iter__(self) -> Iterator[Any]:
        with self:
            for x in self.iterable or ():
                yield x
                self.advance(1)
