"""Progress of long work, on standard error (standard output stays the command's result).

On a terminal a stage is a rich progress bar, removed when the stage ends. Elsewhere (a
pipe, a log file, a CI job) each stage that ends writes one status line instead, so that a
log shows what took how long without a bar's control characters:

    rareflow: reading: 17 tables in 0.8 s
    rareflow: verifying: 100,000 certificates in 19.6 s (5,102/s)

A stage that ends with an error writes nothing: the error's own line says what happened.

    with stage("verifying", total=len(files), unit="certificates") as s:
        for ...:
            s.advance(1)          # or s("name"): one step, named in the bar
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rareflow.cli import console as cli_console

PREFIX = "rareflow: "
MIN_RATE_SECONDS = 0.5  # a rate (items/s) is shown for stages at least this long
MIN_RATE_COUNT = 1_000  # ... and of at least this many items


class Stage:
    """One stage of work. Call it with a name (`stage("rules")`: one step done, named in
    the bar, as the library's `progress` callbacks do) or `advance(n)` for counts."""

    def __init__(self, what: str, total: int | None, unit: str, bar: Progress | None) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.started = time.perf_counter()
        self._bar = bar
        self._task = bar.add_task(escape(what), total=total) if bar is not None else None

    def __call__(self, name: str) -> None:
        self.done += 1
        if self._bar is not None and self._task is not None:
            # the bar's description is markup: a name from the data is escaped
            self._bar.update(self._task, advance=1,
                             description=f"{escape(self.what)}: {escape(name)}")

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=n)

    def status_line(self) -> str:
        """The stage's one line: what, how many, how long (and the rate, when long)."""
        took = time.perf_counter() - self.started
        unit = self.unit[:-1] if self.done == 1 and self.unit.endswith("s") else self.unit
        unit = f" {unit}" if unit else ""
        rate = (f" ({self.done / took:,.0f}/s)"
                if took >= MIN_RATE_SECONDS and self.done >= MIN_RATE_COUNT else "")
        return f"{PREFIX}{self.what}: {self.done:,}{unit} in {took:.1f} s{rate}"


@contextmanager
def stage(what: str, total: int | None = None, unit: str = "", *,
          status: bool = True, console: Console | None = None) -> Iterator[Stage]:
    """A stage of work (see the module). `status=False`: no status line off a terminal
    (for callers whose standard error is read by something else)."""
    con = console or cli_console.err
    if con.is_terminal:
        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn()]
        if total is not None:
            columns += [MofNCompleteColumn(), TimeRemainingColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=con, transient=True) as bar:
            yield Stage(what, total, unit, bar)
        return
    s = Stage(what, total, unit, None)
    yield s  # an exception propagates from here: no status line
    if status:
        con.print(s.status_line(), soft_wrap=True, highlight=False)
