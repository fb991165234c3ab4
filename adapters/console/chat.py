"""`connective chat` / `connective demo`: a read-eval-print loop over the console adapter."""
from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from typing import TextIO

from adapters.console.adapter import ConsoleAdapter

PROMPT = "you> "


async def _lines(stream: TextIO, interactive: bool) -> AsyncIterator[str]:
    # A daemon thread reads: a blocked readline must not keep the process alive after a stop signal
    # (the default executor's threads are joined at exit).
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    wanted = threading.Semaphore(0)

    def read() -> None:
        while True:
            wanted.acquire()
            line = stream.readline()
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if not line:
                return

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    while True:
        if interactive:
            sys.stdout.write(PROMPT)
            sys.stdout.flush()
        wanted.release()
        line = await lines.get()
        if not line:  # end of input: Ctrl-D or a closed stdin
            return
        yield line


async def chat(adapter: ConsoleAdapter, user: str, *, user_name: str = "", stream: TextIO | None = None,
               out: TextIO | None = None) -> None:
    stream = stream or sys.stdin
    out = out or sys.stdout
    interactive = stream.isatty()
    async for line in _lines(stream, interactive):
        if line.strip() in ("/quit", "/exit"):
            break
        for text in await adapter.say(user, line, user_name=user_name):
            out.write(f"connective> {text}\n\n")
            out.flush()
    if interactive:
        out.write("\n")
