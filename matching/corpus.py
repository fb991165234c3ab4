"""A community's messages as columns: the ranking's view of who said what, where and when."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from matching.lexical import BM25Index
from matching.text import (
    acknowledges_cleaned,
    asks,
    carries_expertise,
    clean,
    is_thanks,
    links_only,
    mentioned_users,
    own_words,
    tokens,
)

ROLE_OTHER, ROLE_ASK, ROLE_ANSWER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int  # database id
    author: str  # member external id
    ts: float  # epoch seconds
    text: str
    channel: str = ""  # its name when loaded, for display
    thread: str | None = None  # thread key, unique within the community; None outside threads
    is_root: bool = False
    parent_author: str | None = None  # root author of the thread, or author of the message replied to
    reactions: int = 0
    permalink: str | None = None
    channel_id: int = 0  # the database row: what privacy is decided by (a name can change, or be shared)


@dataclass
class Corpus:
    """Column arrays over messages; rebuilt from records, with cheap appends for live messages."""

    members: list[str] = field(default_factory=list)  # external ids, index = member number
    member_index: dict[str, int] = field(default_factory=dict)
    records: list[MessageRecord] = field(default_factory=list)
    row_of: dict[int, int] = field(default_factory=dict)
    lexical: BM25Index = field(default_factory=BM25Index)
    _cols: dict[str, list] = field(default_factory=lambda: {k: [] for k in _COLUMNS})
    _arrays: dict[str, np.ndarray] | None = None
    cache: dict[str, object] = field(default_factory=dict)  # derived values keyed by the arrays' identity
    thread_ids: dict[str, int] = field(default_factory=dict)
    thread_root_author: list[int] = field(default_factory=list)
    thread_thanked: list[bool] = field(default_factory=list)
    thread_answered: list[bool] = field(default_factory=list)
    # Who addressed whom, from <@U…> mentions: (author, mentioned member, time, row) per mention; those of rows no
    # longer alive (deleted, or read again as a new row) do not count.
    mentions: list[tuple[int, int, float, int]] = field(default_factory=list)
    # Messages removed while their thread's first reply (message id -> thread): read again (ExpertiseService's
    # _follow_changes removes, then adds), they are that again.
    _first_removed: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def member(self, external_id: str) -> int:
        idx = self.member_index.get(external_id)
        if idx is None:
            idx = self.member_index[external_id] = len(self.members)
            self.members.append(external_id)
            self._arrays = None  # what is counted per member (the priors) grows with it
        return idx

    def _thread(self, key: str) -> int:
        idx = self.thread_ids.get(key)
        if idx is None:
            idx = self.thread_ids[key] = len(self.thread_root_author)
            self.thread_root_author.append(-1)
            self.thread_thanked.append(False)
            self.thread_answered.append(False)
        return idx

    def add(self, records: list[MessageRecord]) -> None:
        """Append messages (in time order within a thread); an id seen before replaces its old row."""
        docs = []
        for rec in records:
            old = self.row_of.get(rec.id)
            # An edit, or a message read again, stays its thread's first reply (its thread is answered already).
            was_first = self._first_removed.pop(rec.id, None)
            if old is not None:
                self._cols["alive"][old] = False
                if self._cols["first"][old]:
                    was_first = self._cols["thread"][old]
            row = len(self.records)
            self.records.append(rec)
            self.row_of[rec.id] = row
            author = self.member(rec.author)
            thread = -1
            if rec.thread is not None:
                thread = self._thread(rec.thread)
                if rec.is_root:
                    self.thread_root_author[thread] = author
            parent = self.member(rec.parent_author) if rec.parent_author else -1
            if rec.is_root:
                role = ROLE_ASK
            elif thread >= 0 and self.thread_root_author[thread] == author:
                role = ROLE_OTHER  # the asker, answering a reply in their own conversation
            elif parent >= 0 and parent != author:
                role = ROLE_ANSWER
            elif thread >= 0 and self.thread_root_author[thread] not in (-1, author):
                role = ROLE_ANSWER
            else:
                role = ROLE_OTHER
            if thread >= 0 and not rec.is_root and author == self.thread_root_author[thread] and is_thanks(rec.text):
                self.thread_thanked[thread] = True
            first = False
            if role == ROLE_ANSWER and thread >= 0 and not self.thread_answered[thread]:
                self.thread_answered[thread] = first = True  # the first reply from someone else
            elif role == ROLE_ANSWER and thread >= 0 and was_first == thread:
                first = True
            for mentioned in mentioned_users(rec.text):
                self.mentions.append((author, self.member(mentioned), rec.ts, row))
            text = clean(rec.text)
            col = self._cols
            col["first"].append(first)
            col["channel"].append(rec.channel_id)
            col["author"].append(author)
            col["ts"].append(rec.ts)
            col["thread"].append(thread)
            col["role"].append(role)
            col["reactions"].append(rec.reactions)
            col["alive"].append(True)
            col["substantive"].append(carries_expertise(text))
            # Whether it only asks or thanks is read in its author's own words: "&gt; <what another said>\nHow
            # come?" asks, and was quoted as what its author knew.
            said = clean(own_words(rec.text)) if ">" in rec.text or "&gt;" in rec.text else text
            col["asks"].append(asks(said))
            col["acknowledges"].append(acknowledges_cleaned(said))
            col["links_only"].append(links_only(text))
            docs.append(tokens(text))
            if len(docs) >= 5000:  # token lists are bulky: hand them over in chunks
                self.lexical.add(docs)
                docs = []
        self.lexical.add(docs)
        self._arrays = None

    def set_reactions(self, counts: dict[int, int]) -> None:
        """New reaction counts of messages held (message id -> reactions), in place: read again (add), an answer would
        lose its place as its thread's first reply."""
        for message_id, n in counts.items():
            row = self.row_of.get(message_id)
            if row is not None and self.records[row].reactions != n:
                self.records[row] = replace(self.records[row], reactions=n)
                self._cols["reactions"][row] = n
                self._arrays = None

    def remove(self, message_id: int) -> None:
        row = self.row_of.pop(message_id, None)
        if row is not None:
            self._cols["alive"][row] = False
            if self._cols["first"][row]:
                self._first_removed[message_id] = self._cols["thread"][row]
            self._arrays = None

    def remove_author(self, external_id: str) -> None:
        idx = self.member_index.get(external_id)
        if idx is None:
            return
        alive = self._cols["alive"]
        for row, author in enumerate(self._cols["author"]):
            if author == idx:
                alive[row] = False
                self.row_of.pop(self.records[row].id, None)
        self._arrays = None

    def prepare(self) -> None:
        """Build the arrays and the BM25 matrix now (off the event loop, after a load) rather than on first use."""
        self.arrays  # noqa: B018 (built on first read)
        self.lexical.idf([])

    def frozen(self) -> Corpus:
        """A copy that later appends and removals do not change, for work in a worker thread (a fit) while the event
        loop goes on following live messages."""
        arrays = self.arrays
        out = Corpus(members=list(self.members), member_index=dict(self.member_index), records=list(self.records),
                     row_of=dict(self.row_of), lexical=self.lexical.frozen(), thread_ids=dict(self.thread_ids),
                     thread_root_author=list(self.thread_root_author), thread_thanked=list(self.thread_thanked),
                     thread_answered=list(self.thread_answered), mentions=list(self.mentions))
        out._cols = {k: list(v) for k, v in self._cols.items()}
        out._arrays = arrays  # never changed in place: a change makes new arrays
        return out

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {k: np.asarray(v, dtype=_COLUMNS[k]) for k, v in self._cols.items()}
            self._arrays["thread_root_author"] = np.asarray(self.thread_root_author, dtype=np.int64)
            self._arrays["thread_thanked"] = np.asarray(self.thread_thanked, dtype=bool)
            pairs = np.asarray(self.mentions, dtype=np.float64).reshape(-1, 4)
            pairs = pairs[self._arrays["alive"][pairs[:, 3].astype(np.int64)]]
            self._arrays["mention_from"] = pairs[:, 0].astype(np.int64)
            self._arrays["mention_to"] = pairs[:, 1].astype(np.int64)
            self._arrays["mention_ts"] = pairs[:, 2]
        return self._arrays

    def texts_to_embed(self, records: list[MessageRecord]) -> list[tuple[int, str]]:
        """(message id, text) of the records worth a vector: the rest carries no expertise."""
        out = []
        for rec in records:
            text = clean(rec.text)
            if carries_expertise(text):
                out.append((rec.id, text))
        return out


_COLUMNS: dict[str, type] = {
    "author": np.int64,
    "ts": np.float64,
    "thread": np.int64,
    "role": np.int8,
    "reactions": np.float32,
    "alive": bool,
    "substantive": bool,
    "asks": bool,  # only asks something: never quoted as what its author knows
    "acknowledges": bool,  # thanks or filler ("glad to help!"): never quoted either
    "links_only": bool,  # links and names alone: quoted only where a word of the question is in them
    "first": bool,
    "channel": np.int64,  # the channel's database row (MessageRecord.channel_id)
}
