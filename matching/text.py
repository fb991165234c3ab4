"""Text helpers shared by indexing and ranking: tokens, clean text, what carries expertise."""
from __future__ import annotations

import html
import re
import unicodedata

_MENTION = re.compile(r"<[@#!][^>]*>")
_LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]*))?>")
_TOKEN = re.compile(r"[a-z0-9_+#.-]{2,}")
_THANKS = re.compile(r"\b(thanks?|thx|ty|cheers|merci|danke|gracias|appreciated?)\b|🙏|:pray:", re.I)

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours yes ok okay like get got know think
    one use using used want need way thing something anyone someone hi hey hello please thanks thank
    does there's it's i'm don't can't that's what's""".split()
)

MAX_TEXT = 4000  # longer messages are cut: the start carries the topic and encoding cost grows with length


def clean(text: str) -> str:
    """Readable text for embedding: mentions dropped, Slack links reduced to their label or URL."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MENTION.sub(" ", text)
    text = html.unescape(text)  # Slack escapes &, < and > as entities
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
    return " ".join(text.split())[:MAX_TEXT]


def tokens(text: str) -> list[str]:
    out = []
    for tok in _TOKEN.findall(text.lower()):
        tok = tok.strip(".-")
        if len(tok) >= 2 and tok not in STOPWORDS:
            out.append(tok)
    return out


def is_thanks(text: str) -> bool:
    return bool(_THANKS.search(text or ""))


def carries_expertise(text: str) -> bool:
    """False for "thanks!", "+1", "lol", a lone link: nothing in them says what anyone knows."""
    words = tokens(text)
    if len(words) < 2:
        return False
    if len(words) <= 4 and is_thanks(text):
        return False
    return True
