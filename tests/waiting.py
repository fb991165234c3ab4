"""Waiting for a condition, not for a time: a fixed sleep that orders two tasks is too short on a busy CI machine
(the test fails, or passes without testing what it says) and too long everywhere else."""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import event, text

from bot.db.engine import Database


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 60.0, what: str = "condition") -> None:
    """Until `check()` (a function or a coroutine function) is true; an AssertionError naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:g} s")
        await asyncio.sleep(0.02)


async def waits_on_a_lock(db: Database) -> bool:
    """Whether a transaction on this PostgreSQL database waits on a lock another holds (a row's, a table's, an
    advisory lock)."""
    async with db.engine.connect() as conn:
        return bool(await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")))


def sent(db: Database, *words: str) -> asyncio.Event:
    """An event set once a statement holding all these words (any case) is sent to the database: on SQLite, a
    write waiting for another's transaction waits inside the driver, where nothing else can see it."""
    seen = asyncio.Event()

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if all(word.lower() in statement.lower() for word in words):
            seen.set()

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    return seen
