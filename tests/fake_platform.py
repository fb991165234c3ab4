"""A fake chat platform over real HTTP on 127.0.0.1 (port 0), and the sender an adapter would give the
core for it: enough to see what a digest posted, and to make the platform answer 500."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from bot.actions import Action, PostToChannel


class FakePlatform:
    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.fail = fail  # answer 500 to this many requests first
        self.delay = delay
        self.requests: list[dict] = []
        self.posts: list[dict] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakePlatform:
        app = web.Application()
        app.router.add_post("/chat.postMessage", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail > 0:
            self.fail -= 1
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        self.posts.append(body)
        return web.json_response({"ok": True, "ts": f"{len(self.posts)}.000"})


class HttpSender:
    """What an adapter's sender does for a PostToChannel, reduced to the HTTP call."""

    def __init__(self, platform: FakePlatform, clock: Callable[[], datetime]) -> None:
        self.platform = platform
        self.clock = clock

    async def send(self, action: Action) -> None:
        assert isinstance(action, PostToChannel)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.platform.url}/chat.postMessage", json={
                "channel": action.channel, "text": action.doc.plain(), "at": self.clock().isoformat(),
                "resources": [r.url for s in action.doc.sections for r in s.resources],
            }) as response:
                response.raise_for_status()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Killed(BaseException):
    """The process killed (a deploy, the OOM killer) where the test says: nothing after it runs, nothing catches it."""


class KilledWhilePosting:
    """The sender of a process killed right after the platform answered 200 to a post (after=True), or right before
    the post left it (after=False)."""

    def __init__(self, sender, *, after: bool) -> None:  # noqa: ANN001
        self.sender, self.after = sender, after

    async def send(self, action: Action) -> None:
        if self.after:
            await self.sender.send(action)
        raise Killed


async def run_killed_while_posting(app, platform: str, digest_id: int, *, after: bool) -> None:  # noqa: ANN001
    """Run a digest's period in a process killed right after the platform took the post (after=True) or right before
    it left (after=False); the platform's sender is back afterwards, as in the process that restarts."""
    sender = app.core.senders[platform]
    app.core.senders[platform] = KilledWhilePosting(sender, after=after)
    try:
        await app.digests.run_due(digest_id)
    except Killed:
        return
    finally:
        app.core.senders[platform] = sender
    raise AssertionError("the process was not killed: nothing was posted")
