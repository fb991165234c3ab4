"""A fake Slack on 127.0.0.1 (port 0): the Web API and response_url webhooks, recording every call,
and able to answer 429 with Retry-After. Modelled on bolt-python's tests/mock_web_api_server."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" for webhook replies
    body: dict[str, Any]
    token: str = ""
    answer: dict[str, Any] | None = None  # what the fake answered (a posted message's ts)


@dataclass
class FakeSlack:
    team_id: str
    bot_user_id: str = "UBOT"
    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> users.info "user"
    channels: dict[str, str] = field(default_factory=dict)  # channel id -> name
    calls: list[Call] = field(default_factory=list)
    rate_limited: dict[str, int] = field(default_factory=dict)  # method -> how many 429s before success
    retry_after: int = 1
    unavailable: dict[str, int] = field(default_factory=dict)  # method -> how many 503s (Slack down a moment) first
    refused: dict[str, str] = field(default_factory=dict)  # method -> the error Slack answers it with
    # method -> how many calls Slack takes (a post is made) and whose answer is lost: the connection drops first
    answers_lost: dict[str, int] = field(default_factory=dict)
    refused_channels: dict[str, str] = field(default_factory=dict)  # channel -> the error a post there gets
    refused_users: dict[str, str] = field(default_factory=dict)  # user -> the error conversations.open gets for them
    # What conversations.history and conversations.replies list: channel id -> every message said there (replies
    # with their thread_ts); users.conversations lists `member_of` (the channels the bot is in); `unreadable`:
    # channel -> the error Slack answers a read of it with.
    member_of: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    # What conversations.list lists (the workspace's public channels, archived ones too); None: no channels at all.
    listed_channels: list[dict[str, Any]] | None = None
    archived: set[str] = field(default_factory=set)  # channels conversations.info says are archived
    # As Slack: what the bot posts in a channel is in its history after (with the message's metadata, which
    # conversations.history shows only when asked with include_all_metadata). Off unless a test reads it back.
    keeps_posts: bool = False
    org_wide: bool = False  # auth.test says the token is an org-wide install (Enterprise Grid)
    url: str = ""
    _runner: web.AppRunner | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    # Socket Mode: envelopes to push to the connected client, and the acks it sent back.
    envelopes: asyncio.Queue = field(default_factory=asyncio.Queue)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def close_sockets(self) -> None:
        """Slack drops the Socket Mode connections (a deploy of theirs, a network cut)."""
        for ws in self.sockets:
            await ws.close()

    # -- what the tests read -------------------------------------------------------------------------
    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} call(s); got {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)
        return self.of(method)

    def response_url(self) -> str:
        return f"{self.url}/response/{next(self._ts)}"

    # -- handlers ------------------------------------------------------------------------------------
    async def _payload(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                body.update(json.loads(raw))
            else:
                body.update(dict(urllib.parse.parse_qsl(raw.decode())))
        for key in ("blocks", "view"):
            if isinstance(body.get(key), str):
                body[key] = json.loads(body[key])
        return body

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await self._payload(request)
        if self.rate_limited.get("response_url", 0) > 0:
            self.rate_limited["response_url"] -= 1
            self.calls.append(Call("429:response_url", body))
            return web.Response(text="rate_limited", status=429, headers={"Retry-After": str(self.retry_after)})
        self.calls.append(Call("response_url", body))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await self._payload(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            self.calls.append(Call(f"429:{method}", body, token))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self.retry_after)})
        if self.unavailable.get(method, 0) > 0:
            self.unavailable[method] -= 1
            self.calls.append(Call(f"503:{method}", body, token))
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        answer = self._answer(method, body)
        self.calls.append(Call(method, body, token, answer))
        if self.answers_lost.get(method, 0) > 0:
            self.answers_lost[method] -= 1
            assert request.transport is not None
            request.transport.close()  # the client sees the server disconnect, with no answer
            return web.Response()
        return web.json_response(answer)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A0CONNECT"}})

        async def push() -> None:
            while True:
                await ws.send_json(await self.envelopes.get())

        pusher = asyncio.ensure_future(push())
        try:
            async for msg in ws:
                if msg.type == web.WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
        finally:
            pusher.cancel()
        return ws

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method in self.refused:
            return {"ok": False, "error": self.refused[method]}
        if method == "chat.postMessage" and body.get("channel") in self.refused_channels:
            return {"ok": False, "error": self.refused_channels[body["channel"]]}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}
        if method == "auth.test":
            return {"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "connective",
                    "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "BBOT",
                    **({"is_enterprise_install": True, "enterprise_id": "E0ORG0001"} if self.org_wide else {})}
        if method == "users.info":
            user = self.people.get(body.get("user", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.info":
            name = self.channels.get(body.get("channel", ""))
            return {"ok": True, "channel": {"id": body["channel"], "name": name,
                                            "is_archived": body["channel"] in self.archived}} if name else \
                {"ok": False, "error": "channel_not_found"}
        if method == "conversations.open":
            users = body.get("users", "").split(",")
            if refused := [self.refused_users[u] for u in users if u in self.refused_users]:
                return {"ok": False, "error": refused[0]}
            prefix = "D" if len(users) == 1 else "G"
            return {"ok": True, "channel": {"id": prefix + "-".join(users)}}
        if method == "users.conversations":
            return self._page(self.member_of, body, "channels")
        if method == "conversations.list" and self.listed_channels is not None:
            return self._page(self.listed_channels, body, "channels")
        if method in ("conversations.history", "conversations.replies"):
            return self._read(method, body)
        if method == "chat.postMessage" and self.keeps_posts:
            return self._keep(body)
        if method in ("chat.postMessage", "chat.update"):
            return {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{time.time():.6f}"}
        return {"ok": True}

    def _keep(self, body: dict[str, Any]) -> dict[str, Any]:
        said = {"type": "message", "ts": f"{time.time():.6f}", "user": self.bot_user_id, "bot_id": "BBOT",
                "app_id": "A0CONNECT", "text": body.get("text", "")}
        if body.get("thread_ts"):
            said["thread_ts"] = body["thread_ts"]
        if body.get("metadata"):
            metadata = body["metadata"]
            said["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        self.history.setdefault(body.get("channel", ""), []).append(said)
        return {"ok": True, "channel": body.get("channel"), "ts": said["ts"], "message": said}

    @staticmethod
    def _page(items: list[dict[str, Any]], body: dict[str, Any], key: str) -> dict[str, Any]:
        """Cursor pagination: the cursor is where the next page starts."""
        start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 100)
        rest = items[start + limit:]
        return {"ok": True, key: items[start:start + limit], "has_more": bool(rest),
                "response_metadata": {"next_cursor": str(start + limit) if rest else ""}}

    def _read(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if channel in self.unreadable:
            return {"ok": False, "error": self.unreadable[channel]}
        if channel not in self.history:
            return {"ok": False, "error": "channel_not_found"}
        oldest, latest = float(body.get("oldest") or 0), float(body.get("latest") or time.time() + 3600)
        inclusive = str(body.get("inclusive", "")).lower() in ("1", "true")  # the bounds' own messages too

        def between(m: dict[str, Any]) -> bool:
            ts = float(m["ts"])
            return oldest <= ts <= latest if inclusive else oldest < ts < latest
        said = sorted(self.history[channel], key=lambda m: float(m["ts"]))
        replies: dict[str, list[dict[str, Any]]] = {}
        for m in said:
            if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
                replies.setdefault(m["thread_ts"], []).append(m)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")

        def listed(m: dict[str, Any]) -> dict[str, Any]:
            if not with_metadata:
                m = {k: v for k, v in m.items() if k != "metadata"}
            if m["ts"] not in replies:
                return m
            return {**m, "thread_ts": m["ts"], "reply_count": len(replies[m["ts"]]),
                    "latest_reply": replies[m["ts"]][-1]["ts"]}
        if method == "conversations.history":  # the channel's own messages (and replies sent to it), newest first
            shown = [listed(m) for m in reversed(said) if between(m) and (
                m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")]
            return self._page(shown, body, "messages")
        parent = [listed(m) for m in said if m["ts"] == body.get("ts")]  # the parent first, then replies, oldest first
        if not parent:
            return {"ok": False, "error": "thread_not_found"}
        shown = parent + [m for m in replies.get(body["ts"], []) if between(m)]
        return self._page(shown, body, "messages")


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: X-Slack-Request-Timestamp and X-Slack-Signature (v0)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
