"""Digest composition, free of storage: score candidates, group the best by topic, build the Document."""
from __future__ import annotations

import heapq
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

import numpy as np

from bot.actions import Document, Evidence, ResourceItem, Section
from bot.messages import ago, render
from bot.safety import neutralise
from bot.urls import honest_title, registered_domains
from matching.text import clean, tokens

# Reactions that mean "keep this" (Slack names and Discord emoji), and approval ones.
BOOKMARK_REACTIONS = frozenset({"pushpin", "round_pushpin", "bookmark", "star", "📌", "📍", "🔖", "⭐"})
STRONG_REACTIONS = frozenset({"+1", "thumbsup", "👍", "heart", "❤️", "raised_hands", "🙌", "fire", "🔥"})

WEIGHTS = {"reactions": 1.0, "strong": 1.5, "saves": 3.0, "reshares": 2.0, "replies": 1.0, "thanks": 1.5}
EXPERTISE_WEIGHT = 1.0
# A link nobody reacted to, saved, thanked, re-shared or discussed is not digest material, whoever shared it: the
# sharer's expertise ranks what the community valued, it values nothing by itself. On its own it filled a third of
# racket's weekly digests with links nobody answered (a week of one member's CI logs: "here's a build failure").
MIN_POINTS = 1.0
MIN_EXPERTISE = 0.45  # the sharer "often answers questions on this"
TOPIC_SIMILARITY = 0.5
MAX_GROUPS = 4
_NOT_LABELS = frozenset({"http", "https", "www", "com", "org", "io", "net", "html", "dev", "blog", "post",
                         "article", "read", "great", "good", "nice", "new", "via", "check", "out", "link",
                         "worth", "interesting", "here", "really", "guide", "today", "week",
                         # verbs of pointing at a link ("See" headed a week's links: "see …", "See the comment")
                         "see", "look", "looking", "found", "use", "using", "try", "thanks", "thank"})

# A hash or an id in a link's words ("7f22622198e3786f805304418f8d35d6" headed a group of GIFs): letters and digits
# mixed, eight or more.
_ID_LIKE = re.compile(r"(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{8,}")
# A link's address, and the short form that titles a link with no words of its own (github.com/…/hash.c): its path's
# pieces ("Blob · Src", "Pull") name no topic.
_ADDRESS = re.compile(r"<?https?://[^\s>]+>?|\S+/…/\S*")
# Sites that host everyone's everything: being on them says nothing of a topic.
_HOSTING = frozenset({"github.com", "githubusercontent.com", "github.io", "gitlab.com", "gitlab.io", "bitbucket.org",
                      "google.com", "youtube.com", "youtu.be", "vimeo.com", "twitter.com", "x.com", "medium.com",
                      "substack.com", "dev.to", "tenor.com", "giphy.com", "imgur.com", "stackoverflow.com",
                      "stackexchange.com", "reddit.com", "wikipedia.org", "slack.com", "discord.com", "discordapp.com",
                      "discordapp.net", "bit.ly", "amazonaws.com", "cloudfront.net", "herokuapp.com", "netlify.app",
                      "vercel.app", "readthedocs.io", "notion.site", "dropbox.com"})


def site_of(link: str) -> str:
    """The site a link is on, as people name it: the domain registered under a public suffix (docs.racket-lang.org:
    racket-lang.org; news.bbc.co.uk: bbc.co.uk; raw.githubusercontent.com: githubusercontent.com, which hosts
    everyone's files). An address, or a host under no known suffix, is itself."""
    host = urlsplit(link).hostname or ""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return registered_domains().privatesuffix(host) or host


Share = tuple[str, str, str, str | None]  # who shared a link (platform id), their name, the channel, the permalink


@dataclass
class Candidate:
    """One resource active in the period, with the signals the community gave it."""

    resource_id: int
    title: str
    link: str
    sharer_id: int | None = None
    sharer: str = ""  # display name of the first sharer
    channel: str = ""
    permalink: str | None = None
    shared_at: float = 0.0
    reactions: int = 0
    strong: int = 0
    saves: int = 0  # distinct members who saved it (`/save` or a bookmark reaction)
    saved: int = 0  # of them, those who saved it with `/save`: it, not a message with it
    sharers: int = 1  # distinct members who shared it
    replies: int = 0
    thanks: int = 0  # members who thanked for it
    note: str = ""
    text: str = ""  # the sharing message, for topic labels
    share_message_ids: list[int] = field(default_factory=list)
    vector: np.ndarray | None = None
    expertise: float = 0.0
    # The members whose name or words the entry shows (platform ids): the first sharer, whoever wrote its note. A digest
    # posted is edited without the entry when one of them is forgotten or opts out (bot.services.digest_unquote).
    named: tuple[str, ...] = ()
    note_by: str = ""  # who wrote the note (platform id)
    # Each share still standing, first first: (sharer's platform id, name, channel, permalink). The entry is credited
    # to the first; when its message is deleted or its sharer forgotten, to the next (recredited).
    shares: tuple[Share, ...] = ()
    points: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.points = (WEIGHTS["reactions"] * self.reactions + WEIGHTS["strong"] * self.strong
                       + WEIGHTS["saves"] * self.saves + WEIGHTS["reshares"] * max(0, self.sharers - 1)
                       + WEIGHTS["replies"] * self.replies + WEIGHTS["thanks"] * self.thanks)

    @property
    def score(self) -> float:
        return math.log1p(self.points) + EXPERTISE_WEIGHT * self.expertise

    @property
    def worth_posting(self) -> bool:
        return self.points >= MIN_POINTS

    def recredited(self, share_gone: Callable[[Share], bool],
                   member_gone: Callable[[str], bool] = lambda member: False) -> Candidate | None:
        """The entry without the shares `share_gone` says went (their message deleted) and without what the members
        `member_gone` says went (forgotten, opted out) shared or noted: credited to the first share left, linking its
        message; None when no share of it is left (a link only saved: when a member it names went). The first sharer's
        message deleted or the sharer forgotten took the whole entry, though others had shared the link too."""
        if not self.shares:  # only saved, or kept before its shares were (a digest posted by an earlier release)
            return None if any(member_gone(m) for m in self.named) else self
        shares = tuple(s for s in self.shares if not share_gone(s) and not member_gone(s[0]))
        note_gone = bool(self.note_by) and member_gone(self.note_by)
        if not shares:
            return None
        if shares == self.shares and not note_gone:
            return self
        first, same = shares[0], shares[0] == self.shares[0]
        note_by = "" if note_gone else self.note_by
        return replace(self, shares=shares, sharer=first[1], channel=first[2], permalink=first[3],
                       sharer_id=self.sharer_id if same else None, expertise=self.expertise if same else 0.0,
                       sharers=max(1, len({s[0] for s in shares})), note="" if note_gone else self.note,
                       note_by=note_by, named=tuple(dict.fromkeys(w for w in (first[0], note_by) if w)))


@dataclass(frozen=True)
class WaitingQuestion:
    text: str
    asker: str
    channel: str
    asked_at: datetime
    permalink: str | None = None
    message_id: int | None = None
    asker_id: str = ""  # their platform id


@dataclass
class DigestContent:
    period: str  # "Mar 4 – Mar 11, 2024"
    groups: list[tuple[str, list[Candidate]]]
    questions: list[WaitingQuestion]

    @property
    def empty(self) -> bool:
        return not self.groups and not self.questions

    @property
    def resource_ids(self) -> list[int]:
        return [c.resource_id for _, items in self.groups for c in items]


def shortlist(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The k candidates with most community signal (latest first on ties): the only ones worth the
    cost of vectors and expertise."""
    return heapq.nlargest(k, candidates, key=lambda c: (c.points, c.shared_at))


def _place_in_message(c: Candidate) -> int:
    """Where the link stands in its message (the first a message gives is most often what it is about): on a tie."""
    address = c.link.split("://", 1)[-1].rstrip("/")
    at = c.text.find(address) if address else -1
    return at if at >= 0 else len(c.text)


def best(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """The best-scored worth posting, one link to a message: the links of one message share its reactions, replies and
    thanks, so a message with five links was five entries on one set of signals (an announcement's four pages of one
    site, a question's 'hello.app' and 'console.app'; a tenth of real weeks' entries). A link shared only in messages
    already in the digest through a better link is left out, unless a member saved it (/save) of their own."""
    worthy = sorted((c for c in candidates if c.worth_posting),
                    key=lambda c: (-c.score, -c.shared_at, _place_in_message(c), c.resource_id))
    chosen: list[Candidate] = []
    shown: set[int] = set()  # the messages whose links are in the digest
    for c in worthy:
        if c.share_message_ids and shown.issuperset(c.share_message_ids) and not c.saved:
            continue
        chosen.append(c)
        shown.update(c.share_message_ids)
        if len(chosen) == limit:
            break
    return chosen


def group_by_topic(items: list[Candidate], threshold: float = TOPIC_SIMILARITY,
                   ) -> tuple[list[list[Candidate]], list[Candidate]]:
    """Leader clustering in score order: each item joins the closest group if close enough, or starts
    one. Returns the groups and the items left over (no vector, or too many small groups)."""
    groups: list[list[Candidate]] = []
    sums: list[np.ndarray] = []
    loose: list[Candidate] = []  # no vector, or beyond the number of groups a digest can hold
    for item in items:
        if item.vector is None or not np.any(item.vector):
            loose.append(item)
            continue
        v = item.vector / (np.linalg.norm(item.vector) or 1.0)
        sims = [float(v @ (s / (np.linalg.norm(s) or 1.0))) for s in sums]
        best_at = int(np.argmax(sims)) if sims else -1
        if best_at >= 0 and sims[best_at] >= threshold:
            groups[best_at].append(item)
            sums[best_at] = sums[best_at] + v
        else:
            groups.append([item])
            sums.append(v)
    if len(groups) > MAX_GROUPS:  # the smallest groups go to the end, together
        groups.sort(key=len, reverse=True)
        loose = [c for g in groups[MAX_GROUPS - 1 :] for c in g] + loose
        groups = groups[: MAX_GROUPS - 1]
    return groups, loose


def _label_words(c: Candidate) -> Counter[str]:
    """Words of a title (counted double) and of its message, fit for a heading."""
    def fit(text: str) -> list[str]:
        return [w for w in tokens(clean(_ADDRESS.sub(" ", text))) if w not in _NOT_LABELS and not w.isdigit()
                and len(w) > 2 and "/" not in w and "." not in w.strip(".") and not _ID_LIKE.fullmatch(w)]

    words = Counter(fit(c.title))
    words.update({w: 2 for w in words})
    words.update(fit(c.text))
    return words


def _first_message(c: Candidate) -> tuple[str, int]:
    return ("message", c.share_message_ids[0]) if c.share_message_ids else ("resource", c.resource_id)


def topic_label(items: list[Candidate], others: list[Candidate] = ()) -> str:
    """The site the group's links are all on (docs.racket-lang.org and pkgs.racket-lang.org: "racket-lang.org"), else
    two words the group's titles and messages share most, and the rest of the digest least; "" when no word is in
    two of its links: one link's words name no topic ("30pm · Case" headed a merge announcement and a docs page,
    "Actual · Form" two links of one answer; real weeks, racket 2018)."""
    # Two links of one message are one member's words and one pick, not a topic the community shares: "Archives ·
    # Channel" headed the two addresses of one message about the channel's archives (racket 2018). Links count by the
    # message they were first shared in.
    messages = {_first_message(c) for c in items}
    sites = {site_of(c.link) for c in items}
    if len(messages) > 1 and len(sites) == 1 and (site := sites.pop()) and site not in _HOSTING:
        return site
    inside: Counter[str] = Counter()
    in_messages: dict[str, set[tuple[str, int]]] = {}
    for c in items:
        words = _label_words(c)
        inside.update(words)
        for w in words:
            in_messages.setdefault(w, set()).add(_first_message(c))
    links_with = Counter({w: len(found) for w, found in in_messages.items()})
    outside: Counter[str] = Counter()
    for c in others:
        outside.update(set(_label_words(c)))
    shared = [w for w in inside if links_with[w] >= 2]
    ranked = sorted(shared, key=lambda w: (-inside[w] / (1 + outside[w]), w))[:2]
    return " · ".join(w.capitalize() for w in ranked)


def compose(candidates: list[Candidate], questions: list[WaitingQuestion], *, period: str,
            limit: int = 10) -> DigestContent:
    chosen = best(candidates, limit)
    groups, loose = group_by_topic(chosen)
    # One link is no topic: its heading was two words of its own message ("Changes · Failing", "Different · Look"; user
    # walk-through). Alone, it goes with the rest.
    loose = [g[0] for g in groups if len(g) == 1] + loose
    groups = [g for g in groups if len(g) > 1]
    labelled = [(topic_label(g, [c for c in chosen if c not in g]), g) for g in groups]
    loose = [c for label, g in labelled if not label for c in g] + loose  # links alike in no word they share
    labelled = [(label, g) for label, g in labelled if label]
    if loose:
        labelled.append(("Also worth a look" if labelled else "Worth a look", loose))
    return DigestContent(period=period, groups=labelled, questions=questions)


def why(c: Candidate) -> str:
    parts = []
    if c.saves:
        parts.append(f"saved by {c.saves}")
    if c.reactions + c.strong:
        n = c.reactions + c.strong
        parts.append(f"{n} reaction{'s' if n != 1 else ''}")
    if c.thanks:
        parts.append(f"thanked by {c.thanks}")
    if c.replies:
        parts.append(f"{c.replies} repl{'ies' if c.replies != 1 else 'y'} in the thread")
    if c.sharers > 1:
        parts.append(f"shared by {c.sharers} people")
    if c.expertise >= MIN_EXPERTISE and c.sharer:
        parts.append(f"{c.sharer} often answers questions on this")
    return ", ".join(parts)


def entry_note(c: Candidate) -> str:
    """The line under a link: who shared it where, why it is in, the note a member saved it with."""
    # A link only /saved (no message shares it) has nobody who shared it: "shared by  · saved by 1".
    who = (f"shared by {c.sharer}" if c.sharer else "") + (f" in #{c.channel}" if c.channel else "")
    return neutralise(" · ".join(part for part in (who.strip(), why(c), f"note: “{c.note}”" if c.note else "")
                                 if part))


def to_document(content: DigestContent, *, now: datetime) -> Document:
    sections = []
    for label, items in content.groups:
        resources = []
        for c in items:
            # Its title is the link's label: one naming another address would hide where the link goes.
            resources.append(ResourceItem(title=neutralise(honest_title(c.title, c.link)), url=c.link,
                                          note=entry_note(c), permalink=c.permalink))
        sections.append(Section(heading=neutralise(label), resources=tuple(resources)))
    if content.questions:
        quotes = tuple(Evidence(neutralise(f"“{q.text}” ({q.asker} in #{q.channel}, "
                                           f"{ago((now - q.asked_at).total_seconds())})"),
                                q.permalink) for q in content.questions)
        sections.append(Section(heading=render("digest_questions_heading"), quotes=quotes))
    # The first line says what the digest holds: it promised waiting questions over a digest of links alone, and a
    # week of questions only said it brought "the links you shared and valued", and showed none.
    header = "digest_header" if content.groups and content.questions else \
        "digest_header_links" if content.groups else "digest_header_questions_only"
    return Document(text=render(header, period=content.period), sections=tuple(sections))
