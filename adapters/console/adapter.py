"""The console adapter: a terminal chat with the bot, and the in-memory adapter the tests drive.

Lines become core events exactly as Slack or Discord payloads do; actions come back as text.
"""
from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.discord.translate import CORE_COMMAND_NAMES
from adapters.slack.translate import connective_command
from bot import events as ev
from bot.actions import Action, DirectMessage, EditPost, OpenGroup, PostToChannel, Reply, UpdateMessage
from bot.render_text import render_plain, visible

Handler = Callable[[ev.Event], Awaitable[list[Action]]]
# Names of platform ids, for the terminal: a member's ("Mateus") and a channel's ("#general").
Names = Callable[[set[str]], Awaitable[dict[str, str]]]
_CHANNEL_REF = re.compile(r"<#([A-Za-z0-9]+)(?:\|([^>]*))?>")


_DISCORD_OPTION = re.compile(r"(?:^|\s)(action|topics|member):")
_DIGEST_OPTION = re.compile(r"(?:^|(?<=\s))(?:url|note|channel):")


def typed_command(line: str, platform: str) -> tuple[str, str]:
    """A `/name args` line as the core's command name and arguments. The console stands in for the community's
    platform, and the bot's help and usage lines there name its commands as that platform types them, so those
    forms are read too: Slack's `/connective skills add helm` and Discord's `/skills action:add topics:helm`, beside
    the bare `/skills add helm`."""
    name, _, args = line[1:].partition(" ")
    name, args = name.lower(), args.strip()
    if platform == "slack" and name == "connective":
        name, args = connective_command(args)
    if platform == "discord":  # Discord's admin `/connective show`, `/connective ingest #general off`: the settings
        name = CORE_COMMAND_NAMES.get(name, name)
    if platform == "discord" and name in ("save", "digest"):  # `/save url:<link> note:…`, `… channel:#general`
        args = " ".join(_DIGEST_OPTION.sub(" ", args).split())
    if platform == "discord" and name == "skills" and _DISCORD_OPTION.search(args):
        parts = _DISCORD_OPTION.split(args)  # ["", "action", " add ", "topics", " helm"]
        options = {key: value.strip() for key, value in zip(parts[1::2], parts[2::2], strict=True)}
        action = options.get("action", "list").lower()
        args = " ".join(v for v in ("" if action == "list" else action, options.get("member", ""),
                                    options.get("topics", "")) if v)
    return name, args


@dataclass
class ConsoleAdapter:
    handle: Handler
    community: str
    platform: str = "console"
    channel: str = "console"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sent: list[Action] = field(default_factory=list)
    # Whoever types at the terminal of `connective chat` runs the bot and holds its database: they manage the
    # community (digests, settings), as a Slack or Discord admin does there. The tests' members are not.
    admin: bool = False
    # `connective chat` looks the ids in the bot's answers up in the database: a DM "to U0Y8Q8SGZLM", a group "with
    # UB238F1C74F, UE2FE38893D" and a channel "<#CBF90E2EB4D>" named nobody a person could tell. Without it, ids.
    names: Names | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def translate(self, user: str, line: str, *, user_name: str = "") -> ev.Event | None:
        """A typed line as a core event: `/name args` is a command, anything else a message."""
        line = line.strip()
        if not line:
            return None
        n = next(self._ids)
        base = {"community": self.community, "user": user, "channel": self.channel, "platform": self.platform,
                "time": self.clock(), "event_id": ""}
        if line.startswith("/click "):
            parts = shlex.split(line)[1:] + ["", ""]
            return ev.ActionClicked(**base, action=parts[0], value=parts[1])
        if line.startswith("/"):
            name, args = typed_command(line, self.platform)
            return ev.CommandInvoked(**base, name=name, args=args, user_name=user_name, is_admin=self.admin)
        return ev.MessagePosted(**base, message_id=f"console-{self.clock().timestamp():.6f}-{n}", text=line,
                                user_name=user_name, is_direct=True)

    def render(self, action: Action, names: dict[str, str] | None = None) -> str:
        """What the terminal prints: member text with its control characters shown, not obeyed; ids as `names`
        names them."""
        names = names or {}
        if isinstance(action, Reply | PostToChannel | UpdateMessage):
            text = render_plain(action.doc)
        elif isinstance(action, DirectMessage):
            text = visible(f"[DM to {names.get(action.user, action.user)}] ") + render_plain(action.doc)
        elif isinstance(action, OpenGroup):
            text = visible(f"[group with {', '.join(names.get(m, m) for m in action.members)}] ") \
                + render_plain(action.doc)
        elif isinstance(action, EditPost):  # a digest posted earlier, as it reads now
            text = visible(f"[{action.key} in {action.channel}, edited] ") + render_plain(action.doc)
        else:
            return visible(str(action))
        if self.names is None:
            return text
        return _CHANNEL_REF.sub(lambda m: m.group(2) and f"#{m.group(2)}" or names.get(m.group(1), m.group()), text)

    async def _names(self, actions: list[Action], texts: list[str]) -> dict[str, str]:
        if self.names is None:
            return {}
        ids = {m.group(1) for text in texts for m in _CHANNEL_REF.finditer(text) if not m.group(2)}
        for action in actions:
            if isinstance(action, DirectMessage):
                ids.add(action.user)
            elif isinstance(action, OpenGroup):
                ids.update(action.members)
        return await self.names(ids) if ids else {}

    async def say(self, user: str, line: str, *, user_name: str = "") -> list[str]:
        """One line from `user`; returns what the bot answered, rendered as text."""
        event = self.translate(user, line, user_name=user_name)
        if event is None:
            return []
        actions = await self.handle(event)
        self.sent.extend(actions)
        names = await self._names(actions, [self.render(a) for a in actions])
        return [self.render(a, names) for a in actions]
