"""The bot never pings: anything it echoes has broadcast mentions neutralised."""
from __future__ import annotations

import re

from matching.text import clean

_SLACK_BROADCAST = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>", re.I)
_AT_BROADCAST = re.compile(r"@(everyone|here|channel)\b", re.I)
_DISCORD_ROLE = re.compile(r"<@&(\d+)>")
ZWSP = "\u200b"


def neutralise(text: str) -> str:
    text = _SLACK_BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text or "")
    text = _AT_BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    return _DISCORD_ROLE.sub(lambda m: f"@{ZWSP}role", text)


def echoed(text: str, limit: int) -> str:
    """Member text the bot repeats (a question's topic), at most `limit` characters, readable and unable to ping.
    Read as `clean` reads it: Slack's `&lt;` is `<` again (its renderer escapes it once, not twice) and control
    characters are gone, among them the right-to-left override that would turn the words after it around. A
    Discord [masked](link) is broken apart: in the bot's reply it would be a link whose target nobody sees."""
    text = unlinked(clean(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_topic(text: str, limit: int) -> str:
    """A topic the bot repeats (what a mentor teaches, what a mentee wants to learn), as `echoed` shows it, but with a
    broadcast in it readable: "@channel macros" typed in Slack's `/connective` arrives as `<!channel> macros`, which
    `clean` drops as a mention of nobody, so the pair read "macros", and a topic "@here" nothing at all, "()". It
    reads "@channel macros" (neutralised: it pings nobody), as `/skills` and the enrolment show it."""
    return echoed(_SLACK_BROADCAST.sub(lambda m: f"@{m.group(1)}", text or ""), limit)


def unlinked(text: str) -> str:
    """Member text in the bot's own sentence, as it was stored (a skill in "Added: …"): unable to ping, and a
    Discord [masked](link) broken apart, so that no link of the bot's hides its target."""
    return neutralise(text).replace("](", f"]{ZWSP}(")


def storable(text: str | None) -> str:
    """Text any database keeps: no NUL characters (PostgreSQL refuses them), no lone surrogates."""
    text = (text or "").replace("\x00", "")
    return text.encode("utf-8", errors="replace").decode("utf-8")


# A terminal's escape sequences as a whole (CSI "\x1b[31m", also as the one character \x9b; OSC "\x1b]0;title\x07";
# ESC and one character, "\x1bc"): with only the ESC dropped, "[31m" stayed in the words.
_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-~]?")


def plain(text: str) -> str:
    """One line of a member's words as stored (a mentoring topic): whitespace of any kind one space, terminal escape
    sequences and every other character that is no printable one gone (control characters, zero-width and bidi
    controls, which reorder the words after them wherever they are shown). As `clean` reads a message."""
    text = _ESCAPE.sub("", text or "")
    return " ".join("".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in text).split())


ID_CHARS = 64  # the external_id columns
ROW_ID_MAX = 2**31 - 1  # the INTEGER primary keys


def row_id(value: str) -> int | None:
    """The row id a button carries ("42"), or None for any other value: digits of other scripts ("²", "٤٢", which
    isdigit() takes and int() refuses), a number past an INTEGER key (PostgreSQL and SQLite refused it), thousands of
    digits (past int()'s limit). A forged one raised there: a traceback, and "something went wrong" to the member."""
    if not (isinstance(value, str) and 0 < len(value) <= 10 and value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= ROW_ID_MAX else None


def usable_id(value: object) -> bool:
    """A platform id any database keeps as it is: printable text of at most ID_CHARS characters. An export
    holding another (a NUL, a 3,000-character "id") is damaged there: PostgreSQL refused the whole import."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return 0 < len(text) <= ID_CHARS and text.isprintable() and storable(text) == text


_TOKEN = re.compile(r"[\w.:+-]*")  # an id, a time, a type: what a log line may quote (never a member's words)


def loggable(value: object) -> str:
    """A malformed field's value as a log line may show it: an id, a time or a type (its first 40 characters), or
    else only its type ("(str)"): a sentence or an object in that place may be a member's words."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return repr(value[:40] + ("…" if len(value) > 40 else ""))
    return f"({type(value).__name__})"
