"""A fake Discord on 127.0.0.1 (port 0): the REST API (recording every call) and the gateway websocket (HELLO,
READY, GUILD_CREATE, then whatever a test dispatches; heartbeats answered; RESUME replays from the sequence
the client names). The real discord.py client talks to it over real HTTP and websockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.discord_fixtures import BOT, GUILD, load

API = "/api/v10"
HELLO, IDENTIFY, RESUME, HEARTBEAT, HEARTBEAT_ACK, DISPATCH = 10, 2, 6, 1, 11, 0
PRIVATE_THREAD = 12  # a thread's type


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    json: Any
    query: dict[str, str]
    answer: Any = None  # what the fake answered (a posted message, with its id)


@dataclass
class FakeDiscord:
    calls: list[Call] = field(default_factory=list)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # dispatches sent, by sequence
    replayed: list[dict[str, Any]] = field(default_factory=list)  # dispatches sent again after a RESUME
    # On RESUME, replay from the client's last sequence itself (Discord may redeliver what was already seen).
    replay_last_seen_on_resume: bool = True
    refused: list[tuple[str, str]] = field(default_factory=list)  # (method, path regex) answered 403
    # Privileged intents the application has not turned on: an IDENTIFY asking for one is closed with 4014.
    refused_intents: int = 0
    # The bot's token reset (or the bot deleted): IDENTIFY and RESUME are closed with 4004, REST answers 401.
    token_reset: bool = False
    members: dict[str, set[str]] = field(default_factory=dict)  # server -> user ids GET .../members/{user} finds
    # (method, path regex, status, times): answered with that status that many times (Discord's 5xx, ...)
    failing: list[tuple[str, str, int, int]] = field(default_factory=list)
    # Each channel's history (GET /channels/{id}/messages), by channel id: what was dispatched, and what a test says
    # was said while the bot was away (said_while_away).
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The server as GUILD_CREATE sends it (its channels' last_message_id from `messages`); a test may add threads.
    guild: dict[str, Any] = field(default_factory=lambda: load("guild_create"))
    # Archived public threads (GET /channels/{id}/threads/archived/public), with thread_metadata.archive_timestamp.
    archived_threads: list[dict[str, Any]] = field(default_factory=list)
    # As Discord: what the bot posts is in its channel's history after (a forum post's first message in its thread,
    # the thread among the server's active threads), and a message with a nonce and enforce_nonce whose nonce an
    # earlier one has is that earlier one. Off unless a test reads them back.
    keeps_posts: bool = False
    made_threads: list[dict[str, Any]] = field(default_factory=list)
    # Channels and threads deleted (GET /channels/{id} answers Unknown Channel); see channel_deleted_while_away.
    deleted_channels: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1200000000000000001))
    _ws: web.WebSocketResponse | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self.api_url = self.base + API
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await self._runner.cleanup()

    # -- what tests use ----------------------------------------------------------------------------
    async def connected(self) -> None:
        await asyncio.wait_for(self._connected.wait(), 20)

    def deleted_while_away(self, channel_id: str, message_id: str) -> None:
        """A message deleted while no bot was connected: gone from its channel's history, no MESSAGE_DELETE."""
        self.messages[channel_id] = [m for m in self.messages.get(channel_id, []) if m["id"] != message_id]

    def channel_deleted_while_away(self, channel_id: str) -> None:
        """A channel (or thread) deleted while no bot was connected, its threads with it: no longer in GUILD_CREATE,
        its history gone, Unknown Channel to GET /channels/{id}; no CHANNEL_DELETE."""
        gone = {channel_id} | {t["id"] for t in self.guild["threads"] + self.archived_threads
                               if t.get("parent_id") == channel_id}
        self.guild["channels"] = [c for c in self.guild["channels"] if c["id"] not in gone]
        self.guild["threads"] = [t for t in self.guild["threads"] if t["id"] not in gone]
        self.archived_threads = [t for t in self.archived_threads if t["id"] not in gone]
        for channel in gone:
            self.messages.pop(channel, None)
        self.deleted_channels |= gone

    def said_while_away(self, *messages: dict[str, Any]) -> None:
        """Messages posted while no bot was connected: in their channels' history, never dispatched."""
        for message in messages:
            self.messages.setdefault(message["channel_id"], []).append(message)

    async def dispatch(self, event_type: str, data: dict[str, Any]) -> int:
        """Send one gateway event; returns its sequence number."""
        if event_type == "MESSAGE_CREATE" and str(data.get("id", "")).isdigit() and "channel_id" in data:
            self.said_while_away(data)
        payload = {"op": DISPATCH, "t": event_type, "s": len(self.history) + 1, "d": data}
        self.history.append(payload)
        await self.connected()
        assert self._ws is not None
        await self._ws.send_str(json.dumps(payload))
        return payload["s"]

    async def drop_connection(self) -> None:
        """Close the gateway socket as Discord does on a hiccup (4000: the client may RESUME)."""
        ws, self._ws = self._ws, None
        self._connected.clear()
        if ws is not None:
            await ws.close(code=4000, message=b"fake hiccup")

    def find(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    async def wait_for(self, method: str, pattern: str, count: int = 1) -> list[Call]:
        async def enough() -> list[Call]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.find(method, pattern)) >= count)
            return self.find(method, pattern)

        return await asyncio.wait_for(enough(), 30)

    # -- gateway -----------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": HELLO, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                break
            payload = json.loads(message.data)
            op, data = payload.get("op"), payload.get("d")
            if op == HEARTBEAT:
                await ws.send_json({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            elif op in (IDENTIFY, RESUME) and self.token_reset:
                await ws.close(code=4004, message=b"Authentication failed.")
                break
            elif op == IDENTIFY:
                self.identifies.append(data)
                if data["intents"] & self.refused_intents:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                self.history.clear()
                self._ws = ws
                ready = load("ready")
                ready["resume_gateway_url"] = self.gateway_url
                await self._send_new(ws, "READY", ready)
                await self._send_new(ws, "GUILD_CREATE", self._guild_create())
                self._connected.set()
            elif op == RESUME:
                self.resumes.append(data)
                self._ws = ws
                first = data["seq"] if self.replay_last_seen_on_resume else data["seq"] + 1
                for old in self.history[max(first - 1, 0) :]:
                    self.replayed.append(old)
                    await ws.send_str(json.dumps(old))
                await self._send_new(ws, "RESUMED", {})
                self._connected.set()
        return ws

    def _guild_create(self) -> dict[str, Any]:
        guild = json.loads(json.dumps(self.guild))
        for channel in guild["channels"] + guild["threads"]:
            self._last_message(channel)
        return guild

    def _last_message(self, channel: dict[str, Any]) -> dict[str, Any]:
        ids = [int(m["id"]) for m in self.messages.get(channel["id"], [])]
        channel["last_message_id"] = str(max(ids)) if ids else None
        return channel

    async def _send_new(self, ws: web.WebSocketResponse, event_type: str, data: Any) -> None:
        payload = {"op": DISPATCH, "t": event_type, "s": len(self.history) + 1, "d": data}
        self.history.append(payload)
        await ws.send_str(json.dumps(payload))

    # -- REST --------------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                body = json.loads(raw)
            elif request.content_type.startswith("multipart/"):
                body = {"multipart": raw.decode("utf-8", "replace")}
        call = Call(request.method, path, body, dict(request.query))
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        status, answer = self._answer(call)
        call.answer = answer
        if status == 204:
            return web.Response(status=204)
        # discord.py reads JSON only under exactly this content type (no charset).
        return web.Response(
            body=json.dumps(answer).encode(), status=status, headers={"Content-Type": "application/json"}
        )

    def _answer(self, call: Call) -> tuple[int, Any]:
        method, path, body = call.method, call.path, call.json or {}
        if self.token_reset:
            return 401, {"message": "401: Unauthorized", "code": 0}
        if any(method == m and re.fullmatch(p, path) for m, p in self.refused):
            return 403, {"message": "Missing Permissions", "code": 50013}
        for i, (m, p, status, times) in enumerate(self.failing):
            if method == m and re.fullmatch(p, path) and times > 0:
                self.failing[i] = (m, p, status, times - 1)
                if status == 404:  # deleted meanwhile: a channel (its messages read), or a message
                    if path.endswith("/messages"):
                        return status, {"message": "Unknown Channel", "code": 10003}
                    return status, {"message": "Unknown Message", "code": 10008}
                return status, {"message": "Discord is having a moment", "code": 0}
        user = load("ready")["user"]
        if path == "/users/@me" and method == "GET":
            return 200, user
        if path == "/oauth2/applications/@me":
            return 200, {
                "id": BOT,
                "name": "connective",
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 8953856,
                "owner": {**user, "bot": False},
                "team": None,
                "bot": user,
                "interactions_endpoint_url": None,
                "summary": "",
            }
        match = re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path)
        if match and method == "GET":
            if match.group(2) not in self.members.get(match.group(1), set()):
                return 404, {"message": "Unknown Member", "code": 10007}
            return 200, {"user": {**user, "id": match.group(2), "bot": False, "username": f"user{match.group(2)}"},
                         "roles": [], "joined_at": "2024-01-10T09:00:00.000000+00:00", "deaf": False, "mute": False,
                         "flags": 0}
        if path == "/gateway/bot":
            return 200, {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        if re.fullmatch(r"/applications/\d+/commands", path) and method == "PUT":
            return 200, [
                {**c, "id": str(next(self._ids)), "application_id": BOT, "version": "1"} for c in body
            ]
        if re.fullmatch(r"/interactions/\d+/[^/]+/callback", path):
            interaction_id = path.split("/")[2]
            return 200, {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": bool((body.get("data") or {}).get("flags")),
                }
            }
        if re.fullmatch(r"/webhooks/\d+/[^/]+(/messages/@original)?", path):
            return 200, self._message(body, channel_id="0", webhook=True)
        if path == "/users/@me/channels" and method == "POST":
            recipient_id = str(body["recipient_id"])
            recipient = {**user, "id": recipient_id, "bot": False, "username": f"user{recipient_id}"}
            return 200, {
                "id": f"9{recipient_id[1:]}",
                "type": 1,
                "last_message_id": None,
                "recipients": [recipient],
                "flags": 0,
            }
        match = re.fullmatch(r"/channels/(\d+)/threads", path)
        if match and method == "POST":
            thread_id = str(next(self._ids))
            # A forum post comes with its first message, whose id is the post's.
            first = (
                {"message": self._message(body["message"], channel_id=thread_id, message_id=thread_id)}
                if "message" in body else {}
            )
            if self.keeps_posts and first:
                self.messages.setdefault(thread_id, []).append(first["message"])
            return self._made({
                **first,
                "id": thread_id,
                "type": body.get("type", 12),
                "guild_id": GUILD,
                "parent_id": match.group(1),
                "owner_id": BOT,
                "name": body.get("name", ""),
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "message_count": 0,
                "member_count": 1,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "locked": False,
                    "invitable": False,
                    "auto_archive_duration": body.get("auto_archive_duration", 1440),
                    "archive_timestamp": "2024-05-02T12:00:00+00:00",
                },
            })
        match = re.fullmatch(r"/guilds/(\d+)", path)
        if match and method == "GET":  # as Discord: the server the bot is in; another's is Missing Access
            if match.group(1) != self.guild["id"]:
                return 403, {"message": "Missing Access", "code": 50001}
            return 200, {k: v for k, v in self.guild.items() if k not in ("channels", "threads", "members")}
        match = re.fullmatch(r"/guilds/(\d+)/threads/active", path)
        if match and method == "GET":
            threads = self.guild["threads"] + self.made_threads
            return 200, {"threads": [t for t in threads if t.get("guild_id", GUILD) == match.group(1)], "members": []}
        match = re.fullmatch(r"/channels/(\d+)/threads/archived/public", path)
        if match and method == "GET":
            return 200, self._archived(match.group(1), call.query)
        match = re.fullmatch(r"/channels/(\d+)/users/@me/threads/archived/private", path)
        if match and method == "GET":
            return 200, self._joined_private(match.group(1), call.query)
        if re.fullmatch(r"/channels/\d+/thread-members/\d+", path):
            return 204, None
        match = re.fullmatch(r"/channels/(\d+)(?:/.*)?", path)
        if match and match.group(1) in self.deleted_channels:
            return 404, {"message": "Unknown Channel", "code": 10003}
        match = re.fullmatch(r"/channels/(\d+)", path)
        if match and method == "GET":  # as Discord: a thread archived (not in any GUILD_CREATE) is found by its id
            found = [t for t in self.archived_threads if t["id"] == match.group(1)]
            if found:
                return 200, found[0]
        match = re.fullmatch(r"/channels/(\d+)/messages", path)
        if match and method == "GET":
            return 200, self._history(match.group(1), call.query)
        match = re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)
        if match and method == "GET":  # as Discord: one message of the channel's history, or 404
            kept = [m for m in self.messages.get(match.group(1), []) if m["id"] == match.group(2)]
            if not kept:
                return 404, {"message": "Unknown Message", "code": 10008}
            return 200, {k: v for k, v in kept[0].items() if k not in ("guild_id", "member")}
        match = re.fullmatch(r"/channels/(\d+)/messages(?:/(\d+))?", path)
        if match and method in ("POST", "PATCH"):
            if method == "POST" and self.keeps_posts:
                return 200, self._kept(match.group(1), body)
            return 200, self._message(body, channel_id=match.group(1), message_id=match.group(2))
        return 200, {}

    def _made(self, thread: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.keeps_posts:
            self.made_threads.append({k: v for k, v in thread.items() if k != "message"})
        return 201, thread

    def _kept(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for said in self.messages.get(channel_id, []):
                if said.get("nonce") == nonce and said["author"]["id"] == BOT:
                    return said
        message = {**self._message(body, channel_id=channel_id), **({"nonce": nonce} if nonce is not None else {})}
        self.messages.setdefault(channel_id, []).append(message)
        return message

    def _archived(self, channel_id: str, query: dict[str, str]) -> dict[str, Any]:
        """As Discord: the channel's public threads archived before `before`, the latest archived first."""
        def archived_at(thread: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(thread["thread_metadata"]["archive_timestamp"])

        before = datetime.fromisoformat(query["before"]) if "before" in query else datetime.max.replace(tzinfo=UTC)
        limit = int(query.get("limit", 50))
        listed = sorted((t for t in self.archived_threads if t["parent_id"] == channel_id and archived_at(t) < before
                         and t["type"] != PRIVATE_THREAD), key=archived_at, reverse=True)
        return {"threads": [self._last_message(json.loads(json.dumps(t))) for t in listed[:limit]], "members": [],
                "has_more": len(listed) > limit}

    def _joined_private(self, channel_id: str, query: dict[str, str]) -> dict[str, Any]:
        """As Discord: the channel's archived private threads (all of them here have the bot in), by id, the newest
        first, before the id `before`."""
        before = int(query.get("before", 1 << 63))
        limit = int(query.get("limit", 50))
        listed = sorted((t for t in self.archived_threads if t["parent_id"] == channel_id and int(t["id"]) < before
                         and t["type"] == PRIVATE_THREAD), key=lambda t: int(t["id"]), reverse=True)
        return {"threads": [self._last_message(json.loads(json.dumps(t))) for t in listed[:limit]], "members": [],
                "has_more": len(listed) > limit}

    def _history(self, channel_id: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """As Discord: with `after`, the `limit` oldest messages after it; else the newest; newest first either way.
        A message's guild_id is not in it (the gateway adds it)."""
        limit = min(int(query.get("limit", 50)), 100)
        kept = sorted(self.messages.get(channel_id, []), key=lambda m: int(m["id"]))
        if "after" in query:
            page = [m for m in kept if int(m["id"]) > int(query["after"])][:limit]
        else:
            page = [m for m in kept if int(m["id"]) < int(query.get("before", 1 << 63))][-limit:]
        return [{k: v for k, v in m.items() if k not in ("guild_id", "member")} for m in reversed(page)]

    def _message(
        self, body: dict[str, Any], *, channel_id: str, message_id: str | None = None, webhook: bool = False
    ) -> dict[str, Any]:
        return {
            "id": message_id or str(next(self._ids)),
            "channel_id": channel_id,
            "type": 0,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "author": load("ready")["user"],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2024-05-02T12:00:00.000000+00:00",
            "edited_timestamp": None,
            "flags": body.get("flags", 0),
            **({"webhook_id": BOT} if webhook else {}),
        }
