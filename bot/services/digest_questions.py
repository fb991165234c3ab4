"""Which unanswered thread roots are open questions to the community, for the digest's "Questions still waiting for
an answer". A message with a "?" that nobody replied to in its thread is often no such question: on the real
exports (tests/benchmarks/waiting_questions_labels.csv) two thirds of them were said to one member, answered in
the channel rather than in a thread, a reply or follow-up in a conversation held in the channel, or no
question. Posting those to the whole community as waiting looks careless. The signals here use only what every
platform has: mentions, links, times and the stored message vectors."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from matching.text import clean

ANSWER_WITHIN = timedelta(hours=3)  # another member's message on the same subject this soon after answers it
ANSWERS_THE_ASKER_WITHIN = timedelta(hours=1)  # another member's message to the asker this soon after answers it
CONTINUES_WITHIN = timedelta(hours=1)  # ... this soon before it, the question answers or continues it
# The asker and another member both spoke in the channel this shortly before: the question carries on that
# conversation ("So all solutions like lein uberjar include source files?"). On the labelled sample no open question
# came less than 3 hours after its asker's previous message in the channel.
CONVERSATION_GAP = timedelta(minutes=30)
# Cosine (all-MiniLM-L6-v2) of a question and a message that answers it or that it answers. On the labelled sample
# the answers in the channel scored 0.59-0.81 and no open question came above 0.54 with any message around it.
SAME_SUBJECT = 0.6
SHORT_REPLY_WORDS = 20
# A short message that opens like a reply ("Maybe `PLTCOLLECTS`?", "so all solutions … include source files?",
# "or formal arguments?") or ends like one ("…, no?", "does `ssh -Y` help?") continues a conversation, unless it
# turns to the community ("anyone", "who here"). English words: other languages keep their questions listed.
_OPENS_LIKE_A_REPLY = re.compile(r"^\W*(?:so|or|and|but|like|maybe|perhaps|what about|how about|yeah|yes|yep|"
                                 r"that|that'?s|then|could it be|wouldn'?t|isn'?t that)\b", re.I)
_ENDS_LIKE_A_REPLY = re.compile(r"(?:(?:,\s*|\b)(?:right|no|correct)|\b(?:help|helps|work|works))\s*\?\W*$", re.I)
_TO_THE_COMMUNITY = re.compile(r"\b(?:any ?one|any ?body|some ?one|some ?body|every ?one|folks|guys|y'?all|"
                               r"who here|people)\b", re.I)
_OPENING_MENTIONS = re.compile(r"^\s*<@")  # clean() drops mentions: keep an opening one as a typed "@"
_NAMES_SOMEONE = re.compile(r"@[\w.-]+")  # "@chasote (not sure why I can't tab complete you?)": a name typed
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)
_SOLVED = re.compile(r"^\W*(?:ah|aha|got it|found it)\b|\b(?:never ?mind|nvm|figured (?:it )?out|found (?:it|the)|"
                     r"solved|works now|(?:do|does|did) the trick)\b", re.I)
_WITHDRAWN = re.compile(r"\b(?:never ?mind|nvm)\b", re.I)
# A link to another message: Slack permalinks (/archives/C…/p…) and Discord message links (/channels/g/c/m).
_MESSAGE_LINK = re.compile(r"https?://[^\s|>]*(?:slack\.com/archives/[A-Z0-9]+/p\d+"
                           r"|discord(?:app)?\.com/channels/\d+/\d+/\d+)", re.I)


@dataclass(frozen=True)
class Nearby:
    """A message in the question's channel close to it in time, by another member or by the asker."""
    created: datetime
    vector: np.ndarray | None  # None: stored without one (too short to carry a subject)
    by_asker: bool = False
    mentions_asker: bool = False
    says_solved: bool = False  # the asker's, saying they found the answer (says_solved)


def _prose(text: str) -> str:
    return clean(_CODE.sub(" ", text or ""))


def asks_in_words(text: str) -> bool:
    """Whether it asks in what it says rather than only in code it pastes: a short message whose only "?" is in code
    (`ifn?`, `eof-object?`: Lisp and Ruby names end in "?"; a regex) is a remark or a paste. A longer one may ask
    without a question mark ("Something is still confusing me: … `nth` works on it"), so it stays."""
    prose = _prose(text)
    return "?" in prose or len(prose.split()) > SHORT_REPLY_WORDS


def withdrawn(text: str) -> bool:
    """Its asker says in it that they no longer need an answer ("Never mind: I had pasted a leading space")."""
    return bool(_WITHDRAWN.search(_prose(text)))


def addressed_to_someone(text: str) -> bool:
    """Said to one member (it opens with their mention or typed @name), about another message (it links to it or
    opens quoting it): asked of that member or in that conversation, not of the whole community. A mention further
    on ("… (cc @monserrate)") leaves it a question to all."""
    said = clean(_OPENING_MENTIONS.sub(" @", text or ""))
    return bool(_MESSAGE_LINK.search(text or "")) or said.startswith(">") or bool(_NAMES_SOMEONE.match(said))


def replies_in_channel(text: str) -> bool:
    """A short message worded as a reply or a suggestion to what was just said, not as a question of its own. Code
    it pastes does not count as words."""
    said = _prose(text)
    if len(said.split()) > SHORT_REPLY_WORDS or _TO_THE_COMMUNITY.search(said):
        return False
    return bool(_OPENS_LIKE_A_REPLY.search(said) or _ENDS_LIKE_A_REPLY.search(said))


def answered_or_answering_in_channel(asked: datetime, vector: np.ndarray | None, nearby: list[Nearby]) -> bool:
    """Whether the question is part of a conversation held in the channel: another member's message on the same
    subject shortly before it (it replies to that, "Maybe `PLTCOLLECTS`?") or shortly after it (it was answered
    there, not in a thread), or another member's message to the asker (mentioning them) within the hour. By
    meaning or by address, not by time alone: in a busy channel the next message is often another conversation's."""
    if any(m.mentions_asker and not m.by_asker and asked < m.created <= asked + ANSWERS_THE_ASKER_WITHIN
           for m in nearby):
        return True  # "@shery info.rkt is the analogous file"
    if vector is None:
        return False
    for other in nearby:
        if other.vector is None or other.by_asker:
            continue
        if not (asked - CONTINUES_WITHIN <= other.created <= asked + ANSWER_WITHIN):
            continue
        if float(np.dot(vector, other.vector)) >= SAME_SUBJECT:
            return True
    return False


def carries_on_a_conversation(asked: datetime, nearby: list[Nearby]) -> bool:
    """Whether the asker was talking with another member in the channel just before asking."""
    def spoke(by_asker: bool) -> bool:
        return any(m.by_asker == by_asker and asked - CONVERSATION_GAP <= m.created < asked for m in nearby)
    return spoke(True) and spoke(False)


def says_solved(text: str) -> bool:
    """An asker's follow-up saying they found the answer ("Ah duh. `lein pprint` can do it natively", "this does the
    trick")."""
    return bool(_SOLVED.search(_prose(text)))


def answered_by_its_asker(asked: datetime, nearby: list[Nearby]) -> bool:
    """Whether the asker said in the channel, within the hour, that they had found the answer."""
    return any(m.by_asker and m.says_solved and asked < m.created <= asked + ANSWERS_THE_ASKER_WITHIN for m in nearby)
