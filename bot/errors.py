from bot.safety import loggable


class UserError(Exception):
    """A mistake a user can fix (bad setting, missing file); shown as one line, no traceback."""


class Unavailable(UserError):
    """Something a command needs did not answer or would not serve it (a platform unreachable or failing, a port
    taken): one line as a UserError, but exit 1 as for an unreachable database: no mistake in what was typed or set,
    and trying again later may do."""


class Undelivered(Exception):
    """The platform refused an action for good, as it does a direct message to a member who takes none: an ordinary
    event, logged in one line (no traceback) and not retried."""


class ChannelRefused(Exception):
    """The platform refused a post in a channel the bot cannot post to (not in it, archived, gone): nothing a retry
    alone fixes, but an admin can. Logged in one line; what it says (the reason, in the platform's terms) is told to
    whoever set the channel up."""


class AccessEnded(Exception):
    """The platform ended the bot's access while it ran (the app uninstalled, its token revoked): nothing can be sent
    until it is installed again, and the running bot stops with one line saying so. Where it meets a job or an action
    under way, one log line each, no traceback: retried after the restart as any failure."""


def briefly(exc: BaseException, limit: int = 200) -> str:
    """An unexpected failure in one line for a log or a report: its type and the first line of what it says (a
    database error goes on with the statement and its parameters, which belong in no log)."""
    first = (str(exc).splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def error_kind(exc: BaseException) -> str:
    """A payload's error for a log line: its type, and for a missing field the field's name ("KeyError 'author'"). What
    else it says may quote the payload (ValueError: "Invalid isoformat string: '…'"): a member's words, possibly."""
    if isinstance(exc, KeyError) and exc.args:
        return f"KeyError {loggable(exc.args[0])}"
    return type(exc).__name__
