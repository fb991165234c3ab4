"""Progress of long commands when nobody watches a terminal: lines in the log, now and then."""
from __future__ import annotations

import itertools

import bot.progress
from bot.progress import ProgressLines, progress_bar, progress_lines


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_long_phase_logs_each_tenth_and_a_line_at_least_every_heartbeat():
    clock, lines = Clock(), []
    progress = ProgressLines(1000, "asking", write=lines.append, clock=clock, quiet=5, heartbeat=30)
    for _ in range(1000):
        clock.now += 0.1  # 100 s in all
        progress.advance(1)
    progress.finish()
    assert lines[0] == "asking: 100/1000 (10%), about 90 s left"  # the first tenth after the quiet 5 s
    assert [line.split(":")[1].split()[0] for line in lines[:-1]] == [f"{n}/1000" for n in range(100, 1000, 100)]
    assert lines[-1] == "asking: 1000/1000 (100%), done in 100 s"

    clock, lines = Clock(), []
    slow = ProgressLines(1000, "asking", write=lines.append, clock=clock, quiet=5, heartbeat=30)
    for _ in range(50):  # a tenth takes longer than the heartbeat: a line anyway
        clock.now += 1
        slow.advance(1)
    assert lines == ["asking: 30/1000 (3%), about 970 s left"]


def test_a_short_phase_logs_nothing():
    clock, lines = Clock(), []
    progress = ProgressLines(50, "importing", write=lines.append, clock=clock, quiet=5)
    for _ in range(50):
        clock.now += 0.05
        progress.advance(1)
    progress.finish()
    assert lines == []


def test_the_bar_is_lines_on_stderr_when_it_is_not_a_terminal(capsys, monkeypatch):
    """The rich bar was disabled off a terminal: a 30-minute eval in CI or under nohup said nothing."""
    ticks = itertools.count(step=2.0)
    monkeypatch.setattr(bot.progress.time, "monotonic", lambda: next(ticks))
    with progress_bar(20, "asking the later questions") as advance:
        for _ in range(20):
            advance(1)
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert lines and all(line.startswith("asking the later questions: ") for line in lines)
    assert lines[-1].startswith("asking the later questions: 20/20 (100%), done in")


def test_a_phase_of_one_long_step_logs_while_it_runs_and_at_its_end():
    """A fit is one step of a minute or more (16,000 messages): it logged nothing while it ran, nor at its end, so a
    CI log or nohup.out stood still after "importing … done" for as long as it took."""
    clock, lines = Clock(), []
    fit = ProgressLines(1, "fitting", write=lines.append, clock=clock, quiet=5, heartbeat=30)
    for _ in range(8):
        clock.now += 10
        fit.tick()
    fit.advance(1)
    fit.finish()
    assert lines == ["fitting: 0/1 (0%), 30 s so far", "fitting: 0/1 (0%), 60 s so far",
                     "fitting: 1/1 (100%), done in 80 s"]
    clock, lines = Clock(), []
    quick = ProgressLines(1, "fitting", write=lines.append, clock=clock, quiet=5, heartbeat=30)
    clock.now += 2
    quick.tick()
    quick.advance(1)
    quick.finish()
    assert lines == []


def test_progress_lines_tick_from_a_thread_while_the_step_runs():
    import io
    import time

    out = io.StringIO()
    with progress_lines(1, "fitting", out, quiet=0.05, heartbeat=0.05) as advance:
        time.sleep(0.5)  # one step, no advance meanwhile
        advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("fitting: 0/1 (0%), ") for line in lines[:-1]), lines
    assert lines[-1].startswith("fitting: 1/1 (100%), done in"), lines
