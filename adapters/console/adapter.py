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

from adapters.slack.translate import connective_command
from bot import events as ev
from bot.actions import Action, DirectMessage, EditPost, OpenGroup, PostToChannel, Reply, UpdateMessage
from bot.render_text import render_plain, visible

Handler = Callable[[ev.Event], Awaitable[list[Action]]]


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

    def render(self, action: Action) -> str:
        """What the terminal prints: member text with its control characters shown, not obeyed."""
        if isinstance(action, Reply | PostToChannel | UpdateMessage):
            return render_plain(action.doc)
        if isinstance(action, DirectMessage):
            return visible(f"[DM to {action.user}] ") + render_plain(action.doc)
        if isinstance(action, OpenGroup):
            return visible(f"[group with {', '.join(action.members)}] ") + render_plain(action.doc)
        if isinstance(action, EditPost):  # a digest posted earlier, as it reads now
            return visible(f"[{action.key} in {action.channel}, edited] ") + render_plain(action.doc)
        return visible(str(action))

    async def say(self, user: str, line: str, *, user_name: str = "") -> list[str]:
        """One line from `user`; returns what the bot answered, rendered as text."""
        event = self.translate(user, line, user_name=user_name)
        if event is None:
            return []
        actions = await self.handle(event)
        self.sent.extend(actions)
        return [self.render(a) for a in actions]
