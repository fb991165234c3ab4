"""`connective chat` / `connective demo`: a read-eval-print loop over the console adapter."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import TextIO

from adapters.console.adapter import ConsoleAdapter

PROMPT = "you> "


async def _lines(stream: TextIO, interactive: bool) -> Iterable[str]:
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            sys.stdout.write(PROMPT)
            sys.stdout.flush()
        line = await loop.run_in_executor(None, stream.readline)
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
