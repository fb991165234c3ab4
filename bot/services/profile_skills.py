"""A member's skills as their profile shows them: each topic once, in any case, with who endorsed it."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Member
from bot.repo import skills_of
from bot.safety import plain, storable

TOPIC_CHARS = 200  # the skill.topic column


def skill_topic(text: str) -> str:
    """A topic as it is stored: one line of printable text (safety.plain: no control, zero-width or bidi character,
    no escape sequence; "kuber<zero-width space>netes" was a skill no question about kubernetes found), no lone
    surrogate, at most TOPIC_CHARS characters. What a member types to remove a skill is read the same way, so that
    pasting back a topic that was cut removes it."""
    return plain(storable(text))[:TOPIC_CHARS].strip()


def _pieces(text: str) -> list[str]:
    return text.replace(";", ",").replace("\n", ",").split(",")


def topic_list(text: str) -> list[str]:
    """`kubernetes, postgres tuning; helm` as topics; pieces with no letter or digit (", ,;") are none."""
    topics = [skill_topic(part) for part in _pieces(text)]
    return list(dict.fromkeys(t for t in topics if any(ch.isalnum() for ch in t)))


def cut_topics(text: str) -> int:
    """How many of the topics `topic_list` reads in `text` were longer than TOPIC_CHARS (stored cut)."""
    cut = {skill_topic(part) for part in _pieces(text) if len(plain(storable(part))) > TOPIC_CHARS}
    return len(cut & set(topic_list(text)))


@dataclass
class ProfileSkill:
    topic: str
    declared: bool = False
    endorsed_by: list[str] = field(default_factory=list)

    def line(self, *, say_declared: bool = False) -> str:
        notes = ["you said so"] if say_declared and self.declared else []
        if self.endorsed_by:
            notes.append("endorsed by " + ", ".join(self.endorsed_by))
        return self.topic + (f" ({'; '.join(notes)})" if notes else "")


async def profile_skills(session: AsyncSession, community_id: int, member_id: int) -> list[ProfileSkill]:
    skills = await skills_of(session, community_id, member_id)
    endorser_ids = {s.endorsed_by_id for s in skills if s.endorsed_by_id is not None}
    names: dict[int, str] = dict((await session.execute(
        select(Member.id, Member.name).where(Member.id.in_(endorser_ids)))).all()) if endorser_ids else {}
    by_topic: dict[str, ProfileSkill] = {}
    for skill in sorted(skills, key=lambda s: (s.source != "declared", s.id)):  # a declared spelling first
        shown = by_topic.setdefault(skill.topic.casefold(), ProfileSkill(skill.topic))
        if skill.source == "declared":
            shown.declared = True
        elif skill.endorsed_by_id is not None:
            name = names.get(skill.endorsed_by_id) or "a member"
            if name not in shown.endorsed_by:
                shown.endorsed_by.append(name)
    return list(by_topic.values())
