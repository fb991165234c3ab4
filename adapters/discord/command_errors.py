"""What a member is told when a slash command cannot run: discord.py hands what fails before the command's callback to
the command tree's on_error (ConnectiveMixin.command_error), whose default only logged it, and the member got "The
application did not respond". Each is one line only they see; the log says why in one line, or, for a failure of
the bot's own, gives its traceback once."""

from __future__ import annotations

from dataclasses import dataclass

from discord import AppCommandOptionType, app_commands

OUTDATED = ("That command has changed since Discord loaded it (connective was updated): reload Discord (Ctrl+R, or "
            "restart the app) and try again.")
UNREADABLE_CHANNEL = "I couldn't use the channel you picked there: pick another one, or try again."
UNREADABLE_OPTION = "I couldn't read one of the options you gave: check it and try again."
NOT_ALLOWED = "You don't have the permission that command needs here."
BOT_NOT_ALLOWED = "I don't have the permission that command needs here: a server admin can give it to me."
COOLDOWN = "That was a lot at once: try again in {seconds} s."
NOT_HERE = "That only works inside a server."


@dataclass(frozen=True)
class Told:
    text: str  # what the member is told
    why: str  # the log line's reason (never the member's words: an option's value is theirs)


def explain(error: app_commands.AppCommandError) -> Told | None:
    """What to tell the member of a command that failed before it ran, and why; None: the bot's own failure."""
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        # Discord offers the commands as they were last registered, and a member's app keeps the list it loaded:
        # after an upgrade (or a replica of another version beside this one) it may name what this one no longer has.
        return Told(OUTDATED, f"{type(error).__name__}: Discord offered the command as another version of connective "
                              "registered it (registered again at the next start where they changed)")
    if isinstance(error, app_commands.TransformerError) and error.__cause__ is None:
        channel = error.type is AppCommandOptionType.channel
        return Told(UNREADABLE_CHANNEL if channel else UNREADABLE_OPTION,
                    f"an option ({error.type.name}) could not be read as {type(error.transformer).__name__}")
    if isinstance(error, app_commands.NoPrivateMessage):
        return Told(NOT_HERE, "used outside a server")
    if isinstance(error, app_commands.BotMissingPermissions):
        return Told(BOT_NOT_ALLOWED, f"the bot lacks {', '.join(error.missing_permissions)}")
    if isinstance(error, app_commands.CommandOnCooldown):
        return Told(COOLDOWN.format(seconds=max(1, round(error.retry_after))), "on cooldown")
    if isinstance(error, app_commands.CheckFailure):
        return Told(NOT_ALLOWED, f"a check failed ({type(error).__name__})")
    return None
