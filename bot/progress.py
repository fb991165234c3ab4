"""Progress of a long command: a bar on a terminal, a line now and then in a log (CI, nohup, a pipe).

A command hands its services a ProgressFactory: `with progress(total, label) as advance: advance(n)`.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TextIO

ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


def no_progress(total: int, label: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


class ProgressLines:
    """Progress as lines for a log: none for a phase done within `quiet` seconds; after that, one line at each
    tenth of the work and at least one every `heartbeat` seconds, and a last line when the phase ends."""

    def __init__(self, total: int, label: str, *, write: Callable[[str], None],
                 clock: Callable[[], float] | None = None, quiet: float = 5.0, heartbeat: float = 30.0) -> None:
        self.total, self.label, self.write = total, label, write
        self.clock = clock or time.monotonic
        self.quiet, self.heartbeat = quiet, heartbeat
        self.done = 0
        self.started = self.last = self.clock()
        self.tenths = 0  # the last tenth of the work reported
        self.lines = 0
        self._lock = threading.Lock()

    def advance(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self.started < self.quiet or self.done >= self.total:  # the end has a line of its own
            return
        tenths = self.done * 10 // self.total if self.total else 10
        if tenths > self.tenths or now - self.last >= self.heartbeat:
            self.tenths = tenths
            self._line(now, self._left(now))

    def tick(self) -> None:
        """Called now and then while the work runs (progress_lines does, from a thread): a phase of one long step (a
        fit of a minute) said nothing until it ended, and nothing at its end either, against the heartbeat."""
        now = self.clock()
        if now - self.started >= self.quiet and now - self.last >= self.heartbeat and self.done < self.total:
            self._line(now, self._left(now) or f"{now - self.started:.0f} s so far")

    def finish(self) -> None:
        # A phase that said nothing while it ran, and ran within the quiet time, says nothing at its end either.
        if self.lines or self.clock() - self.started >= self.quiet:
            self._line(self.clock(), f"done in {self.clock() - self.started:.0f} s")

    def _left(self, now: float) -> str:
        if not self.done:
            return ""
        return f"about {(now - self.started) * (self.total - self.done) / self.done:.0f} s left"

    def _line(self, now: float, tail: str) -> None:
        share = f" ({100 * min(self.done, self.total) // self.total}%)" if self.total else ""
        with self._lock:  # the ticking thread and the work may both write
            self.write(f"{self.label}: {self.done}/{self.total}{share}" + (f", {tail}" if tail else ""))
            self.last = now
            self.lines += 1


@contextmanager
def progress_lines(total: int, label: str, stream: TextIO | None = None, *, quiet: float = 5.0,
                   heartbeat: float = 30.0) -> Iterator[Callable[[int], None]]:
    out = stream or sys.stderr

    def write(line: str) -> None:
        print(line, file=out, flush=True)

    lines = ProgressLines(total, label, write=write, quiet=quiet, heartbeat=heartbeat)
    stop = threading.Event()

    def ticking() -> None:  # a step that takes minutes (a fit) still gets its line every heartbeat
        while not stop.wait(min(heartbeat, max(quiet, 0.01))):
            lines.tick()

    ticker = threading.Thread(target=ticking, name=f"progress {label}", daemon=True)
    ticker.start()
    try:
        yield lines.advance
    finally:
        stop.set()
        ticker.join()
    lines.finish()


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A bar on stderr when it is a terminal, otherwise progress_lines on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        with progress_lines(total, label) as advance:
            yield advance
        return
    # The time elapsed moves where the bar cannot: a phase of one long step (a fit) showed a still "0/1 -:--:--".
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
