"""Commands as a member types them on their platform, for the help and usage lines.

Slack's app registers /whoknows, /connective, /digest, /save and /mentoring (deploy/slack/manifest.yml): every
other core command is a subcommand of /connective there. Discord's /skills takes named options
(adapters/discord/commands.py) and has no /help. The console types each core command as it is named."""
from __future__ import annotations

SLACK_OWN_COMMANDS = frozenset({"whoknows", "digest", "save", "mentoring"})  # the rest go through /connective
DISCORD_MISSING = frozenset({"help"})
# The commands that delete what is stored about a member (core names). Slack and Discord keep them in the inbox before
# their ack (bot.inbox): one lost with its process after the ack left the data in place, the member told nothing.
ERASURES = frozenset({"optout", "forget-me", "forgetme"})
# Discord's /save and /digest subscribe take named options (adapters/discord/commands_digest.py).
_DISCORD_FORMS = {("save", "<link> [note]"): "/save url:<link> note:[note]",
                  ("save", "https://example.com/article a note for others"):
                      "/save url:https://example.com/article note:a note for others",
                  ("digest", "subscribe #channel"): "/digest subscribe channel:#channel"}


def command(platform: str, name: str, args: str = "") -> str:
    """`/skills add <topic>` as typed on `platform`: `/connective skills add <topic>` on Slack, and
    `/skills action:add topics:<topic>` on Discord."""
    if platform == "discord" and name == "skills":
        return _discord_skills(args)
    if platform == "discord" and (name, args) in _DISCORD_FORMS:
        return _DISCORD_FORMS[name, args]
    prefix = "/connective " if platform == "slack" and name not in SLACK_OWN_COMMANDS else "/"
    return f"{prefix}{name} {args}".strip()


def has_command(platform: str, name: str) -> bool:
    return not (platform == "discord" and name in DISCORD_MISSING)


def _discord_skills(args: str) -> str:
    verb, _, rest = args.partition(" ")
    parts = ["/skills"] + ([f"action:{verb}"] if verb else [])
    if verb == "endorse":
        who, _, rest = rest.partition(" ")
        parts.append(f"member:{who}")
    if rest:
        parts.append(f"topics:{rest}")
    return " ".join(parts)


def help_names(platform: str) -> dict[str, str]:
    """The help template's command names (bot/templates/help.md) for `platform`."""
    names = {
        "whoknows": command(platform, "whoknows", "<topic>"),
        "skills_add": command(platform, "skills", "add <topic>[, <topic>…]"),
        "skills_list": command(platform, "skills"),
        "skills_remove": command(platform, "skills", "remove <topic>[, <topic>…]"),
        "skills_endorse": command(platform, "skills", "endorse @member <topic>"),
        "me": command(platform, "me"),
        "optout": command(platform, "optout"),
        "optin": command(platform, "optin"),
        "forget_me": command(platform, "forget-me"),
        "mentoring": command(platform, "mentoring"),
        "save": command(platform, "save", "<link> [note]"),
        "digest_preview": command(platform, "digest", "preview"),
        "digest_subscribe": command(platform, "digest", "subscribe #channel"),
    }
    names["help_line"] = f"\n• `{command(platform, 'help')}`: this message" if has_command(platform, "help") else ""
    return names
