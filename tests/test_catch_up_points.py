"""Where the bot picks a channel's history up after it was away (bot.services.catch_up), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.models import Member, Message
from bot.repo import ensure_channel, ensure_community
from bot.services.catch_up import Place, resume_points
from tests.discord_fixtures import ASHA, GUILD, HELP, PRIVATE, THREAD


async def test_where_to_pick_up_counts_only_what_was_stored_before_the_session(app):
    """Ids of digits order by length, then digits (an 18-digit snowflake of 2021 is older than a 19-digit one); a
    message stored live once the session started does not move the start past the gap; a thread with nothing stored
    starts after the newest message stored anywhere; a private channel is not read."""
    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "discord", GUILD)
        help_channel = await ensure_channel(s, community.id, HELP, name="help")
        member = Member(community_id=community.id, external_id=ASHA)
        s.add(member)
        await s.flush()
        for ext, thread, day in (("990000000000000000", None, 1), ("1100000000000000501", None, 2),
                                 ("1100000000000000503", THREAD, 3), ("1300000000000000000", None, 5)):
            s.add(Message(community_id=community.id, channel_id=help_channel.id, author_id=member.id,
                          external_id=ext, thread_external_id=thread, text="x",
                          created_at=datetime(2024, 5, day, tzinfo=UTC)))
    places = [Place(HELP), Place(HELP, THREAD), Place(HELP, "1100000000000000600"), Place(PRIVATE, is_private=True)]
    points = await resume_points(app.db, "discord", GUILD, places, before="1200000000000000000",
                                 before_time=datetime(2024, 5, 4, tzinfo=UTC))
    assert points == {Place(HELP): "1100000000000000501", Place(HELP, THREAD): "1100000000000000503",
                      Place(HELP, "1100000000000000600"): "1100000000000000503"}
