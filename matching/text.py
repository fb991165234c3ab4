"""Text helpers shared by indexing and ranking: tokens, clean text, what carries expertise."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime

import regex

_MENTION = re.compile(r"<[@#!][^>]*>")
_LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]*))?>")
# Scripts written without spaces between words: a run of them is read as overlapping character pairs (as search
# engines index Chinese and Japanese), every other script as words of letters, marks and digits. An ASCII-only
# pattern read nothing of a Russian or Japanese message ("Как настроить nginx?" was one word, and carried no
# expertise), and cut French and German words at every accent ("réseau" was "seau").
# By script extension, so that the marks these scripts share with none are theirs: the long vowel of "サーバー"
# (a script of its own, "Common", left it out and read "サーバー" as nothing), the repeat of "人々". Punctuation
# ("、", "・") ends a run. Korean is written with spaces, but its words carry their particles and endings ("인덱스가",
# "인덱스를": the index, as subject and as object), so that as words no two forms of it matched: Hangul is read in
# pairs too, as Lucene's CJK analyzer reads it: its syllables, not the lone letters of "ㅋㅋㅋ" (a laugh).
_UNSPACED = (r"[[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\uAC00-\uD7A3\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}"
             r"\p{scx=Myanmar}]--[\p{P}\p{S}\p{Z}]]")
_TOKEN = regex.compile(rf"(?V1)(?P<run>{_UNSPACED}+)"  # a word starts with no accent of its own ("I ́ve")
                      rf"|(?P<word>[[\p{{L}}\p{{N}}_+#.-]--{_UNSPACED}][[\p{{L}}\p{{M}}\p{{N}}_+#.-]--{_UNSPACED}]+)")
_IS_UNSPACED = regex.compile(rf"(?V1){_UNSPACED}")
_ASCII_WORD = re.compile(r"[a-z0-9_+#.-]{2,}")  # the same words, in a text of ASCII only: 3x as fast
# The text rules' version: what tokens() and carries_expertise() read changed (a community's messages that carry
# expertise only by the new rules get their vectors then; see ExpertiseService.ensure_model).
TEXT_RULES = 4
_THANKS = re.compile(r"\b(thanks?|thx|ty|cheers|merci|danke|gracias|grazie|obrigad[oa]|dzięki|kiitos|спасибо|"
                     r"благодарю|дякую|appreciated?)\b|谢谢|謝謝|多谢|ありがとう|감사합니다|고맙|🙏|:pray:", re.I)

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


# A line that quotes someone: Slack's "&gt; …" (as stored), Discord's "> …", outside a code block. Not one whose
# words are code, a REPL's "> (define p …)" pasted, nor a comparison (">= 3.8 works"): those are the member's own.
_QUOTED_LINE = re.compile(r"[ \t]*(?:&gt;|>)(?![ \t]*[(\[]|=)")


def own_words(text: str) -> str:
    """`text` without the lines that quote someone else ("&gt; it's the only technique that works\nHow come?" is
    "How come?"): what its author wrote; `text` itself where nothing else is (a quote shared alone). Lines in a code
    block (``` … ```) are the author's, whatever they start with."""
    kept, in_code = [], False
    for line in (text or "").split("\n"):
        if in_code or not _QUOTED_LINE.match(line):
            kept.append(line)
        in_code ^= line.count("```") % 2 == 1
    own = "\n".join(kept)
    return own if _WORD.search(_DECORATION.sub("", clean(own))) else text  # ":wink:" after a quote says nothing


def opens_with_a_quote(text: str) -> bool:
    """Whether a message starts by quoting someone (a line of "&gt; …"), as a reply to what they said does."""
    return bool(_QUOTED_LINE.match((text or "").lstrip("\n")))


_USER_MENTION = re.compile(r"<@!?([A-Za-z0-9][A-Za-z0-9_.:-]*)(?:\|[^>]*)?>")  # UUIDs too (a converted history)


def mentioned_users(text: str) -> list[str]:
    """Platform user ids mentioned in a message (<@U123> on Slack, <@123> / <@!123> on Discord)."""
    return _USER_MENTION.findall(text or "")


_NAMED_MENTION = re.compile(r"<@!?([A-Za-z0-9][A-Za-z0-9_.:-]*)(?:\|([^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#([A-Za-z0-9]+)(?:\|([^>]*))?>")
# Mentions of nobody known, and what only made sense with them: "<@U1>'s", "<@U1> or <@U2>,", "<@U1>: ".
_JOIN = r"(?:,|/|&|\bor\b|\band\b)"
# Each run of spaces is read once: a match starts only where one does (the lookbehind), and the spaces before a word
# or a mention are never given back (`\s*+`: what follows them is no space). Tried at each space of a long run, as
# it was, it read the rest of the run from each: a mention and 20,000 newlines took 40 s (security audit).
_UNNAMED = re.compile(rf"(?<!\s)(?P<lead>\s*+{_JOIN})?\s*+\x00(?:['’]s\b)?(?:\s*+{_JOIN}\s*+\x00(?:['’]s\b)?)*"
                      rf"(?:(?P<tail>\s*+[,:])|(?P<join>\s*+{_JOIN}(?=\s)))?")
# Where shown() took a mention out, the punctuation around it is tidied ("rollback, , rewrote it"), there only: the
# same tidying over the whole text turned code's "std::fs" into "std:fs" and Racket's "(a . b)" into "(a. b)".
_SEAM = "\x01"
_SEAM_DOUBLE_PUNCT = re.compile(r"([,;:])(?:\s*+\x01[\s\x01]*+[,;:])+")  # (possessive: as _UNNAMED)
_SEAM_BEFORE_PUNCT = re.compile(r"(?<![\s\x01])\s*+\x01[\s\x01]*+([,.;:!?)](?:\s|$))")  # as _UNNAMED


# What a mention dropped at the start leaves before the words (": you can", ", , try it", "- see"): punctuation
# followed by a space. Not a word's own first character: ":refresh is not a thing - you want :reload" (a Clojure
# keyword), "-m starts a program", "--no-setup", ".emacs", ":wink:" lost theirs.
_LEFT_BEHIND = re.compile(r"^(?:[,;:.-]+(?:\s+|$))+")


# Slack's markup of an address that is no web link: "<mailto:a@b.org|a@b.org>", "<nrepl://127.0.0.1:57958>" (`clean`
# reads the http(s) ones), shown as typed: "<mailto:…|…>" was quoted as it is stored.
_OTHER_LINK = re.compile(r"<((?:mailto:|(?!https?://)[a-z][a-z0-9+.-]*://)[^>|\s]+)(?:\|([^>]*))?>", re.I)


# Discord's markup of a custom emoji ("<:blob_cat:1100…>", animated "<a:…>") and of a time ("<t:1700000000:R>"), quoted
# as stored: shown as an emoji code, as Slack's are, and as the time in UTC.
_DISCORD_EMOJI = re.compile(r"<a?:(\w{2,32}):\d{15,21}>")
_DISCORD_TIME = re.compile(r"<t:(-?\d{1,12})(?::[tTdDfFR])?>")


def _discord_time(m: re.Match) -> str:
    try:
        return f"{datetime.fromtimestamp(int(m.group(1)), UTC):%Y-%m-%d %H:%M} UTC"
    except (OverflowError, OSError, ValueError):  # a year past 9999
        return m.group()


def _drop_unnamed(m: re.Match) -> str:
    """"@Eun or <nobody>, can you" -> "@Eun, can you"; "<nobody>: you can" -> "you can"."""
    if m.group("lead"):
        return _SEAM + (m.group("tail") or "").strip() + (m.group("join") or "")
    return _SEAM


def shown(text: str, names: Mapping[str, str] | None = None) -> str:
    """Text to show people (quotes, a question echoed): `clean`, but a member mentioned reads as "@name" (their
    display name when known, else the mention's own label), a channel as "#name" (the sentence read "about and nginx
    docs" without it), and a mention of nobody known is dropped with what only made sense with it ("it was <@U1>'s
    code" read "it was 's code"). Never what is embedded or ranked."""
    names = names or {}

    def name(m: re.Match) -> str:
        known = names.get(m.group(1)) or (m.group(2) or "").strip()
        return f"@{' '.join(known.split())}" if known else "\x00"

    def channel(m: re.Match) -> str:  # Slack's <#C1|general> names it; Discord's <#123> does not
        label = "".join(ch for ch in (m.group(2) or "channel") if ch.isalnum() or ch in "-_.")
        return f"#{label or 'channel'}"

    text = _CHANNEL_MENTION.sub(channel, unicodedata.normalize("NFKC", text or ""))
    text = _OTHER_LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = _DISCORD_TIME.sub(_discord_time, _DISCORD_EMOJI.sub(r":\1:", text))
    text = _MENTION.sub(_SEAM, _UNNAMED.sub(_drop_unnamed, _NAMED_MENTION.sub(name, text)))  # and <!here>
    text = _SEAM_BEFORE_PUNCT.sub(r"\1", _SEAM_DOUBLE_PUNCT.sub(r"\1", text)).replace(_SEAM, " ")
    return _LEFT_BEHIND.sub("", clean(text))


def tokens(text: str) -> list[str]:
    """The words of a text for lexical search, in any script: lower case (case-folded), English stopwords left out,
    runs of Chinese, Japanese, Korean or Thai as overlapping character pairs."""
    out = []
    text = text.casefold()
    found = [("", tok) for tok in _ASCII_WORD.findall(text)] if text.isascii() else _TOKEN.findall(text)
    for run, tok in found:
        if run:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
            continue
        tok = tok.strip(".-")
        if len(tok) >= 2 and tok not in STOPWORDS:
            out.append(tok)
    return out


def is_thanks(text: str) -> bool:
    return bool(_THANKS.search(text or ""))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Emoji codes, trailing symbols. A run of symbols is tried from its start only (the lookbehind): tried from each of
# its characters, as it was, a run of 20,000 "/" not at the end took 10 s (security audit).
_DECORATION = re.compile(r":[a-z0-9_+-]+:|(?<![^\w\s.!?:])[^\w\s.!?:]+$", re.I)
_URL = re.compile(r"https?://\S+")
_WORD = re.compile(r"\w")
_LEAD_IN = re.compile(r"\w:$")  # "...like this:", not an emoticon's ":" after a space
# A sentence that opens like a question and ends in ":" asks too ("Does anyone know a library that allows
# something like this:"), where "Here is how:" tells.
_QUESTION_OPENER = re.compile(
    r"^(?:how|what|why|where|which|who|when|does|do|did|is|are|can|could|would|will|should|has|have|any|anyone|"
    r"anybody|someone|somebody|is there)\b", re.I)
# A message that opens by asking the community ("Does anybody know of an alternative to X? This one seems
# abandoned, and ...") asks, whatever context follows.
_ASKS_EVERYONE = re.compile(
    r"^(?:(?:does|do|did|has|have|can|could|would|will|is|are)\s+(?:anyone|anybody|someone|somebody|any\s+of\s+you)"
    r"|(?:anyone|anybody|someone|somebody)\s+(?:know|knows|got|have|has|tried|familiar|ever|here))\b", re.I)

# So does one that opens by asking for oneself ("Is it possible to pass down a syntax object from one phase to the
# other? I have a macro…", quoted as what its author knew; user walk-through): such an opening is no answer's.
_ASKS_FOR_ONESELF = re.compile(
    r"^(?:is\s+it\s+possible|is\s+there\s+(?:a|any)\s+(?:way|good\s+way|simple\s+way)|"
    r"how\s+(?:do|can|could|would|should)\s+(?:i|we|one)|how\s+to|"
    r"what(?:['’]s|\s+is)\s+the\s+(?:best|right|proper|easiest|recommended|idiomatic)\s+way)\b", re.I)
# ...when what follows is about oneself ("I have a macro…"): an answer may restate the question first ("Is it possible?
# Yes, use syntax-local-lift-expression.").
_FIRST_PERSON = re.compile(r"\b(?:i|i['’](?:m|ve|d|ll)|my|me|we|our|us)\b", re.I)


# A message that opens by announcing a question ("I've got a question for you friends: <link>", "Quick question:
# …") asks too, whatever follows.
_ANNOUNCES_QUESTION = re.compile(
    r"^(?:(?:i(?:\s+have|['’]ve(?:\s+got)?|\s+got)|here['’]?s)\s+a\s+(?:quick\s+|silly\s+|dumb\s+|noob\s+)?question"
    r"|(?:quick|silly|dumb|noob)\s+question|question\s+for\b)", re.I)


def asks(text: str) -> bool:
    """True for a message that only asks ("how do I...?", "hmm, does dropping it cancel the task?"): it shows
    what someone wanted to know, so it is never quoted as what they know. A message that also tells
    ("Use serde's rename_all. Does that help?") is not one. A link does not tell ("any ideas? <link>"), a
    question may end in ":" ("Does anyone know a library that does this:"), and a message that opens by asking
    everyone ("Does anybody know of X? ...") or for oneself ("Is it possible to X? I have …") asks whatever context
    follows."""
    sentences = [t for part in _SENTENCE_END.split(_URL.sub(" ", clean(text or "")))
                 if _WORD.search(t := _DECORATION.sub("", part).strip(" \t,;"))]
    if not sentences:
        return False
    rest = " ".join(sentences[1:])
    for_oneself = _ASKS_FOR_ONESELF.match(sentences[0]) and (not rest or _FIRST_PERSON.search(rest))
    if (sentences[0].endswith("?") and (_ASKS_EVERYONE.match(sentences[0]) or for_oneself)
            or _ANNOUNCES_QUESTION.match(sentences[0])):
        return True
    return all(t.endswith("?") or (_LEAD_IN.search(t) and _QUESTION_OPENER.match(t)) for t in sentences)


_THANKS_OPENER = re.compile(r"^(?:thanks?|thank\s+you|thx|ty|cheers|much\s+appreciated)\b", re.I)
_FILLER = re.compile(
    r"\b(?:(?:glad|happy)\s+(?:to|i\s+could|it)\s+helps?|(?:glad|happy)\s+to\s+hear|you'?re\s+welcome|"
    r"no\s+(?:problem|worries)|any\s?time|my\s+pleasure|sure\s+thing|"
    r"would\s+be\s+(?:a\s+)?(?:(?:big|great|huge|real)\s+)?help|(?:done|did)\s+the\s+trick|"
    r"that\s+(?:worked|works|did\s+it|helped|helps))\b", re.I)


# Greeting someone new ("Hi Abby, welcome to Racket! You'll love it here!") says nothing of what one knows.
_WELCOME = re.compile(r"^(?:(?:hi|hello|hey|oh)\b[^.!?]{0,40}?[,!.]?\s*)?(?:and\s+)?welcome\b|"
                      r"\b(?:glad\s+to\s+have\s+you|nice\s+to\s+(?:meet|see)\s+you|good\s+to\s+(?:have|see)\s+you)",
                      re.I)


def acknowledges_cleaned(cleaned: str) -> bool:
    """True for thanks, filler and welcomes ("glad to help!", "thanks, `-anzrx` seems to have done the trick",
    "Thank you for that explanation. I admit I find it confusing... ?", "Hi Abby, welcome to Racket! You'll love it
    here!"), of a text already through `clean` (a corpus reads each
    message once, as it is added): nothing in them says what their author knows, so they are never quoted. Only for
    what is shown: `is_thanks` and `carries_expertise` decide what is ranked."""
    said = cleaned.lstrip(" ,:;-")
    words = said.split()
    if _THANKS_OPENER.match(said):
        return len(words) <= 12 or bool(_FILLER.search(said)) or _DECORATION.sub("", said).rstrip().endswith("?")
    return (len(words) <= 10 and bool(_FILLER.search(said))) or (len(words) <= 15 and bool(_WELCOME.search(said)))


_NAMED = re.compile(r"@\S+")


def links_only(cleaned: str) -> bool:
    """True for a message of links and names alone ("@Shavon https://github.com/certainty/graphql-racket"), of a text
    already through `clean`. To the model, its meaning is the pieces of its URLs: that one came 0.3 near "rackunit
    testing", and was quoted for it though no word of it matched."""
    rest = _DECORATION.sub(" ", _NAMED.sub(" ", _URL.sub(" ", cleaned)))
    return bool(_URL.search(cleaned)) and not _WORD.search(rest)


def carries_expertise(text: str) -> bool:
    """False for "thanks!", "+1", "lol": nothing in them says what anyone knows. A link alone counts: its words
    (docs.racket-lang.org, contracts.html) say what it is about, and a link to the docs may be the whole answer."""
    words = tokens(text)
    if len(words) < 2:
        return False
    # A run of Chinese or Japanese counts as a word per five characters: "どうもありがとうございました" is thirteen
    # pairs, and thanks all the same.
    pairs = sum(1 for w in words if _IS_UNSPACED.match(w))
    if len(words) - pairs + pairs / 5 <= 4 and is_thanks(text):
        return False
    return True
