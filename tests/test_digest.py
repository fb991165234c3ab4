"""Resources and digests end to end through the core, with a controllable clock and a fake platform
over HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot import events as ev
from bot.app import build_app
from bot.db.resources import Digest, DigestRun, Resource, ResourceShare
from bot.scheduler import crontab_trigger
from bot.services import digest_runs as runs
from bot.settings import Settings
from tests.fake_platform import Clock, FakePlatform, HttpSender

TEAM = "TDIGEST01"
PEOPLE = {"UPG": "Petra", "UK8S": "Kenji", "UASK": "Asha", "UBR": "Bruno", "UCH": "Chloe", "UDAN": "Dan"}
_ids = itertools.count(1)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def wire(app, clock: Clock, platform: FakePlatform):  # noqa: ANN001, ANN201
    app.digests.clock = clock
    app.core.senders["slack"] = HttpSender(platform, clock)
    return app


async def another_app(db_url: str, embedder, clock: Clock, platform: FakePlatform):  # noqa: ANN001, ANN201
    """A second process's App: its own engine, scheduler and services on the same database."""
    return await wire(build_app(Settings(database_url=db_url), embedder=embedder), clock, platform)


async def say(app, user: str, text: str, when: datetime, *, channel: str = "C1", thread: str | None = None,  # noqa: ANN001
              private: bool = False, announcements: bool = False) -> str:
    ts = f"{when.timestamp():.6f}"
    await app.core.handle(ev.MessagePosted(
        community=TEAM, user=user, channel=channel, thread=thread, event_id=f"m{next(_ids)}", time=when,
        platform="slack", message_id=ts, text=text, user_name=PEOPLE.get(user, user), channel_name=channel.lower(),
        is_private=private, permalink=f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        in_announcements=announcements))
    return ts


async def react(app, user: str, message_ts: str, name: str, when: datetime, channel: str = "C1") -> None:  # noqa: ANN001
    await app.core.handle(ev.ReactionAdded(community=TEAM, user=user, channel=channel, event_id=f"r{next(_ids)}",
                                           time=when, platform="slack", message_id=message_ts, reaction=name))


async def command(app, user: str, name: str, args: str, when: datetime, channel: str = "C1",  # noqa: ANN001
                  *, is_admin: bool = True) -> str:
    [reply] = await app.core.handle(ev.CommandInvoked(community=TEAM, user=user, channel=channel, time=when,
                                                      platform="slack", name=name, args=args, is_admin=is_admin,
                                                      user_name=PEOPLE.get(user, "")))
    return reply.doc.plain()


async def share_with_interest(app, url_text: str, when: datetime) -> str:  # noqa: ANN001
    """A link shared in a thread that others discussed and bookmarked: digest material."""
    ts = await say(app, "UPG", url_text, when)
    await say(app, "UASK", "thanks, exactly the part about BRIN indexes I needed", when + timedelta(minutes=5),
              thread=ts)
    await react(app, "UK8S", ts, "pushpin", when + timedelta(minutes=6))
    return ts


async def subscribe(app, when: datetime, args: str = "<#C1|general> tz=Europe/Berlin") -> int:  # noqa: ANN001
    out = await command(app, "UCH", "digest", f"subscribe {args}", when)
    assert "scheduled" in out, out
    async with app.db.sessions() as session:
        return await session.scalar(select(Digest.id).where(Digest.channel_external_id == "C1"))


async def runs_of(app, digest_id: int) -> list[DigestRun]:  # noqa: ANN001
    async with app.db.sessions() as session:
        return list(await session.scalars(select(DigestRun).where(DigestRun.digest_id == digest_id)
                                          .order_by(DigestRun.window_end)))


@pytest.fixture
async def platform():
    fake = await FakePlatform().start()
    yield fake
    await fake.stop()


# -- resources ---------------------------------------------------------------------------------------
async def test_links_become_resources_with_shares_saves_and_a_preview(app, platform):
    clock = Clock(at(2024, 2, 29, 12))
    await wire(app, clock, platform)
    first = await say(app, "UPG", "Index types explained: <https://www.postgresql.org/docs/current/indexes-types.html"
                                  "?utm_source=slack|PostgreSQL index types>", at(2024, 2, 27, 10))
    await say(app, "UASK", "how BRIN compares to btree for time series?", at(2024, 2, 27, 10, 5), thread=first)
    await say(app, "UK8S", "same link again http://postgresql.org/docs/current/indexes-types.html#brin",
              at(2024, 2, 28, 9))
    await react(app, "UBR", first, "pushpin", at(2024, 2, 27, 11))
    assert "Saved" in await command(app, "UCH", "save", "https://postgresql.org/docs/current/indexes-types.html "
                                    "must read before indexing", at(2024, 2, 28, 10))
    assert "Save a link like this" in await command(app, "UCH", "save", "no link here", at(2024, 2, 28, 10))
    # Opted out: nothing new is stored; a private channel is not read.
    await command(app, "UDAN", "optout", "", at(2024, 2, 27, 8))
    await say(app, "UDAN", "my secret https://secret.example.com/x", at(2024, 2, 27, 12))
    saved = await command(app, "UDAN", "save", "https://x.example.com/", at(2024, 2, 27, 12))
    assert "`/connective optin` first" in saved
    await say(app, "UBR", "private https://private.example.com/y", at(2024, 2, 27, 12), channel="G1", private=True)

    async with app.db.sessions() as session:
        resources = list(await session.scalars(select(Resource)))
        assert [r.url for r in resources] == ["https://postgresql.org/docs/current/indexes-types.html"]
        assert resources[0].title == "PostgreSQL index types"
        assert await session.scalar(select(func.count()).select_from(ResourceShare)) == 2

    preview = await command(app, "UASK", "digest", "preview", clock())
    assert "PostgreSQL index types" in preview
    assert "shared by Petra" in preview and "saved by 2" in preview and "shared by 2 people" in preview
    assert "must read before indexing" in preview
    assert "https://acme.slack.com/archives/C1/p" in preview  # the link to the discussion
    assert "secret" not in preview and "private" not in preview
    assert platform.requests == []  # a preview posts nothing
    # A link only saved, that no message shared, has nobody who shared it (it read "shared by  · saved by 1").
    for user in ("UCH", "UBR", "UK8S"):
        await command(app, user, "save", "https://only-saved.example.com/guide a guide worth keeping",
                      at(2024, 2, 28, 11))
    preview = await command(app, "UASK", "digest", "preview", clock())
    assert "only-saved.example.com" in preview and "a guide worth keeping" in preview
    assert "shared by  " not in preview and "shared by ·" not in preview, preview


async def test_a_private_channels_words_never_title_a_resource(app, platform):
    """A link shared in a private channel an admin turned on was titled by the words around it there; shared bare in
    #general (or /saved) later, the public digest and the /save confirmation showed those private words (Slack
    walk-through: "Falcon acquisition of Zebracorp closes Friday, terms in", "shared by Amira in #general")."""
    clock = Clock(at(2024, 2, 29, 12))
    await wire(app, clock, platform)
    assert "from now on" in await command(app, "UCH", "settings", "ingest <#G1|club> on", at(2024, 2, 27, 9))
    await say(app, "UBR", "Falcon acquisition of Zebracorp closes Friday, terms in <https://example.com/plan>",
              at(2024, 2, 27, 10), channel="G1", private=True)
    await say(app, "UBR", "the memo <https://example.com/memo|Zebracorp layoffs memo>", at(2024, 2, 27, 10, 1),
              channel="G1", private=True)
    shared = await say(app, "UPG", "<https://example.com/plan>", at(2024, 2, 27, 11))
    await react(app, "UK8S", shared, "pushpin", at(2024, 2, 27, 11, 5))
    saved = await command(app, "UASK", "save", "https://example.com/memo", at(2024, 2, 27, 12))
    assert "Zebracorp" not in saved and "example.com/memo" in saved, saved
    preview = await command(app, "UASK", "digest", "preview", clock())
    assert "example.com/plan" in preview and "example.com/memo" in preview, preview
    assert "Zebracorp" not in preview and "Falcon" not in preview, preview


async def test_a_link_saved_in_a_quiet_week_is_in_the_preview(app, platform):
    """The preview fell back to the last period with messages, leaving out a /save of this week (which the digest
    itself posts): saves are activity too (user walk-throughs, Slack and Discord)."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UPG", "Index types explained: https://www.postgresql.org/docs/current/indexes-types.html",
              at(2024, 1, 10, 10))
    await command(app, "UCH", "save", "https://docs.python.org/3/library/asyncio.html the asyncio docs",
                  at(2024, 2, 28, 10))
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "docs.python.org" in preview and "the asyncio docs" in preview, preview
    assert "last active period" not in preview


async def test_a_link_given_as_an_answer_and_thanked_is_valued(app, platform):
    """Most links are given inside someone's thread, as an answer, where nothing replies to them as such: the asker's
    thanks among the next messages is how the community says it valued one (racket #general: 4 in 5 links are
    shared in a thread reply). Not counted, such a link never made the digest on what people said of it."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    asked = await say(app, "UASK", "How do I read a query plan with a nested loop in it?", at(2024, 2, 27, 9))
    await say(app, "UPG", "this walks through it: https://use-the-index-luke.com/sql/join/nested-loops-join-n1-problem",
              at(2024, 2, 27, 9, 5), thread=asked)
    await say(app, "UASK", "thanks, exactly what I needed", at(2024, 2, 27, 9, 20), thread=asked)
    # A thanks long after, once the thread moved on, is for something else.
    other = await say(app, "UBR", "Where are the docs for pg_stat_statements?", at(2024, 2, 27, 10))
    await say(app, "UK8S", "see https://example.org/pg-stat-statements-docs for the full list of columns",
              at(2024, 2, 27, 10, 1), thread=other)
    for minute in range(2, 8):
        await say(app, "UCH", f"and the column number {minute} means something else again", at(2024, 2, 27, 10, minute),
                  thread=other)
    await say(app, "UBR", "thanks Chloe", at(2024, 2, 27, 10, 9), thread=other)

    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "use-the-index-luke.com" in preview and "thanked by 1" in preview, preview
    assert "pg-stat-statements-docs" not in preview, preview


async def test_the_answers_to_a_question_do_not_value_the_link_it_asks_about(app, platform):
    """A link in a question is what the asker asks about; the replies answer the question. Real weeks listed "anyone
    available to review? <pull request>" (2 replies), "Is this an internal package-server error? <package page>",
    and "why would I be getting an error about manifest type…" with "45 replies in the thread" (racket, clojurians)."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    asked = await say(app, "UASK", "Is this a bug in the build service? https://pkg-build.example.org/server/built/fail/x",
                      at(2024, 2, 27, 9))
    told = await say(app, "UPG", "Wrote up how we tune autovacuum: https://blog.example.org/autovacuum-at-scale",
                     at(2024, 2, 27, 9, 30))
    for minute, user in enumerate(("UK8S", "UBR", "UCH"), 1):
        await say(app, user, "looks like the builder ran out of disk, retry it", at(2024, 2, 27, 10, minute),
                  thread=asked)
        await say(app, user, "we do the same with a lower scale factor", at(2024, 2, 27, 11, minute), thread=told)
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "autovacuum-at-scale" in preview and "3 replies in the thread" in preview, preview
    assert "pkg-build.example.org" not in preview, preview


async def test_questions_still_waiting_for_an_answer(app, platform):
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UASK", "How do I tune autovacuum for a table with a billion rows?", at(2024, 2, 27, 8))
    asked = await say(app, "UBR", "Any idea how to speed up pytest collection on a big repo?", at(2024, 2, 27, 9))
    await say(app, "UCH", "use --import-mode=importlib and narrow testpaths", at(2024, 2, 27, 9, 30), thread=asked)
    alone = await say(app, "UDAN", "Why does my pod restart every hour with exit code 137?", at(2024, 2, 27, 10))
    await say(app, "UDAN", "still stuck on this, any pointers?", at(2024, 2, 27, 15), thread=alone)
    await say(app, "UK8S", "Is it worth moving CI to arm64 runners this quarter?", at(2024, 2, 29, 6))  # too fresh
    await say(app, "UCH", "Meetup on Friday: who is coming to the workshop on query plans?", at(2024, 2, 27, 11),
              channel="CNEWS", announcements=True)  # an announcement asks nobody to answer

    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "Questions still waiting for an answer" in preview
    assert "autovacuum" in preview and "exit code 137" in preview
    assert "pytest collection" not in preview  # Chloe answered it
    assert "arm64" not in preview and "Meetup on Friday" not in preview


@pytest.mark.parametrize("leaving", ["forget-me", "optout"])
async def test_a_member_who_leaves_takes_their_words_out_of_the_resources(app, platform, leaving):
    """The audit's leak: after /forget-me or /optout a resource kept the member's words as its title (the words
    around the link), and when another member later shared the same link the digest showed those words under that
    member's name. A resource only they shared stayed too."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UDAN", "Had to look up the patch verb for my side project https://en.wikipedia.org/wiki/Patch_verb",
              at(2024, 2, 26, 10))
    await say(app, "UDAN", "My notes on the landlord dispute https://notes.example.com/dan", at(2024, 2, 26, 11))
    await say(app, "UBR", "Bookmarking this: https://en.wikipedia.org/wiki/Patch_verb", at(2024, 2, 26, 12))
    await command(app, "UDAN", leaving, "", at(2024, 2, 27, 8))
    await say(app, "UK8S", "https://en.wikipedia.org/wiki/Patch_verb", at(2024, 2, 28, 9))
    async with app.db.sessions() as session:
        resources = {r.url: r for r in await session.scalars(select(Resource))}
    assert set(resources) == {"https://en.wikipedia.org/wiki/Patch_verb"}  # the notes only Dan shared went
    assert "side project" not in resources["https://en.wikipedia.org/wiki/Patch_verb"].title
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "Patch_verb" in preview and "side project" not in preview and "landlord" not in preview


async def test_a_member_who_leaves_leaves_the_words_of_others(app, platform):
    """Only the leaving member's words go: Petra's label stayed the title when Bruno, who shared the link after her,
    asked to be forgotten (it was reset to the bare link)."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UPG", "Great write-up: <https://blog.example.com/p/42|How we tuned autovacuum at scale>",
              at(2024, 2, 26, 10))
    await say(app, "UBR", "seconding https://blog.example.com/p/42", at(2024, 2, 26, 12))
    await command(app, "UBR", "forget-me", "", at(2024, 2, 27, 8))
    async with app.db.sessions() as session:
        resource = (await session.scalars(select(Resource))).one()
    assert resource.title == "How we tuned autovacuum at scale"


async def test_an_edited_message_shares_the_links_of_its_new_text(app, platform):
    """An edit that took a link out of a message kept its share: the digest listed the link under the member, with
    the title their words had given it; an edit that put a link in shared nothing."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)

    async def edit(user: str, ts: str, text: str, when: datetime) -> None:
        await app.core.handle(ev.MessagePosted(
            community=TEAM, user=user, channel="C1", event_id=f"m{next(_ids)}", time=when, platform="slack",
            message_id=ts, text=text, user_name=PEOPLE[user], channel_name="c1", edited=True))

    brin = await say(app, "UPG", "Great read on BRIN: https://brin.example.com/guide", at(2024, 2, 26, 10))
    label = await say(app, "UPG", "Write-up: <https://blog.example.com/p/42|How we tuned autovacuum at scale>",
                      at(2024, 2, 26, 11))
    second = await say(app, "UBR", "seconding https://blog.example.com/p/42", at(2024, 2, 26, 12))
    k8s = await say(app, "UK8S", "I keep notes on kubernetes networking", at(2024, 2, 26, 13))
    for ts in (brin, second, k8s):  # digest material
        await react(app, "UCH", ts, "pushpin", at(2024, 2, 26, 13, 30))
    await edit("UPG", brin, "Better read on BRIN: https://better.example.com/brin", at(2024, 2, 26, 14))
    await edit("UPG", label, "Never mind that write-up, it was about an old version", at(2024, 2, 26, 15))
    await edit("UK8S", k8s, "I keep notes on kubernetes networking: https://notes.example.com/k8s-networking",
               at(2024, 2, 26, 16))

    async with app.db.sessions() as session:
        resources = {r.url: r.title for r in await session.scalars(select(Resource))}
    assert set(resources) == {"https://better.example.com/brin", "https://blog.example.com/p/42",
                              "https://notes.example.com/k8s-networking"}  # only the edit had shared brin.example
    assert "autovacuum" not in resources["https://blog.example.com/p/42"]  # Petra's label went with her link
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "better.example.com" in preview and "notes.example.com" in preview and "brin.example.com" not in preview
    assert "How we tuned autovacuum" not in preview and "shared by Bruno" in preview


async def test_a_discord_thread_started_on_its_own_waits_with_its_first_message(app):
    """On Discord a thread started on its own has no opening message in its channel: its first message asks. It
    was never listed as waiting, answered or not."""
    from bot.db.models import Community
    from bot.services.digest_data import waiting_questions

    async def post(mid: str, user: str, text: str, when: datetime, thread: str | None = None) -> None:
        await app.core.handle(ev.MessagePosted(community="G1", platform="discord", user=user, channel="100",
                                               channel_name="help", thread=thread, message_id=mid, text=text,
                                               time=when, user_name=user))

    for thread in ("900", "910"):  # the "started a thread" notices in #help
        await app.core.handle(ev.ThreadStarted(community="G1", platform="discord", user="asha", channel="100",
                                               thread=thread))
    await post("901", "asha", "How do I keep a postgres replica from lagging behind the primary?", at(2024, 2, 27, 8),
               thread="900")
    await post("911", "bruno", "Why does my kubernetes ingress return 502 after a deploy?", at(2024, 2, 27, 9),
               thread="910")
    await post("912", "petra", "the readiness probe passes before the app listens: delay it", at(2024, 2, 27, 10),
               thread="910")
    await post("913", "bruno", "And should the probe hit /health or the real endpoint?", at(2024, 2, 27, 11),
               thread="910")
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "G1"))
        waiting = await waiting_questions(s, cid, at(2024, 2, 26), at(2024, 3, 4))
    assert [q.text for q in waiting] == ["How do I keep a postgres replica from lagging behind the primary?"]


async def test_a_thread_whose_asking_message_is_gone_has_no_question(app):
    """A Discord thread started on its own asks with its first member's message. When that message is deleted, or its
    author opts out or asks to be forgotten (or was opted out when posting it), the thread has no question: the
    answer after it was taken as the question, credited as asking, and listed in the digest as waiting."""
    from bot.db.models import Community
    from bot.services.digest_data import waiting_questions
    from matching.corpus import ROLE_ASK

    async def post(mid: str, user: str, text: str, hour: int, thread: str) -> None:
        await app.core.handle(ev.MessagePosted(community="G1", platform="discord", user=user, channel="100",
                                               channel_name="help", thread=thread, message_id=mid, text=text,
                                               time=at(2024, 2, 27, hour), user_name=user))

    async def roles() -> dict[str, int]:
        corpus = await app.expertise.corpus(cid)
        return {r.text[:5]: int(corpus.arrays["role"][row]) for row, r in enumerate(corpus.records)
                if corpus.arrays["alive"][row]}

    async def waiting() -> list[str]:
        async with app.db.sessions() as s:
            return [q.text for q in await waiting_questions(s, cid, at(2024, 2, 26), at(2024, 3, 4))]

    async def command(user: str, name: str) -> None:
        await app.core.handle(ev.CommandInvoked(community="G1", platform="discord", user=user, channel="100",
                                                name=name))

    for thread in ("900", "910", "920", "930"):  # "started a thread" notices in #help
        await app.core.handle(ev.ThreadStarted(community="G1", platform="discord", user="asha", channel="100",
                                               thread=thread))
    await post("901", "asha", "How do I keep a postgres replica from lagging behind the primary?", 8, "900")
    await post("902", "petra", "Raise wal_keep_size and check the replica's disk throughput", 9, "900")
    await post("911", "bruno", "Why does my kubernetes ingress return 502 after a deploy?", 8, "910")
    await post("912", "kenji", "The readiness probe passes before the app listens: delay it", 9, "910")
    await post("921", "dara", "Which soldering tip for 0402 parts?", 8, "920")
    await post("922", "lena", "A 1 mm conical tip and plenty of flux", 9, "920")
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "G1"))
    assert {k: v for k, v in (await roles()).items() if v == ROLE_ASK} == {"How d": ROLE_ASK, "Why d": ROLE_ASK,
                                                                            "Which": ROLE_ASK}
    await app.core.handle(ev.MessageDeleted(community="G1", platform="discord", user="asha", channel="100",
                                            message_id="901"))  # the question deleted
    await command("bruno", "forget-me")  # the asker forgotten
    await command("dara", "optout")  # the asker opted out
    await command("omar", "optout")
    await post("931", "omar", "Is a 3D printer enclosure worth it for PLA?", 8, "930")  # never stored
    await post("932", "zed", "Not for PLA, it needs cooling; for ABS yes", 9, "930")
    assert ROLE_ASK not in (await roles()).values()  # the answers are no questions, followed live...
    assert await waiting() == []
    app.expertise.forget_cache(cid)
    assert ROLE_ASK not in (await roles()).values()  # ...or loaded again


async def test_subscribe_validates_the_schedule(app, platform):
    await wire(app, Clock(at(2024, 2, 20, 12)), platform)
    assert "Only community admins" in await command(app, "UCH", "digest", "subscribe <#C1|general>",
                                                    at(2024, 2, 20), is_admin=False)
    assert "calmer schedule" in await command(app, "UCH", "digest", "subscribe <#C1|general> * * * * *",
                                              at(2024, 2, 20))
    assert "unknown time zone" in await command(app, "UCH", "digest", "subscribe <#C1|general> tz=Mars/Base",
                                                at(2024, 2, 20))
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 * * fri tz=America/New_York",
                        at(2024, 2, 20, 12))
    assert "`0 8 * * fri` (America/New_York); next one Fri 23 Feb 08:00" in out
    # As mentoring reads a time zone: "tz=europe/paris" was refused as unknown, "tz=EST" taken as UTC-5 all summer.
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 * * fri tz=EST", at(2024, 2, 20, 12))
    assert out == ("That schedule won't do: 'EST' is an abbreviation, which names no place's summer time: give your "
                   "time zone as Area/City, e.g. America/New_York"), out
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 * * fri tz=europe/paris",
                        at(2024, 2, 20, 12))
    assert "`0 8 * * fri` (Europe/Paris); next one Fri 23 Feb 08:00" in out, out
    assert app.scheduler.has(f"digest:{await subscribe(app, at(2024, 2, 20))}")
    assert "#general" in await command(app, "UCH", "digest", "list", at(2024, 2, 20))
    assert "No more digests" in await command(app, "UCH", "digest", "unsubscribe <#C1|general>", at(2024, 2, 20))
    assert "/digest subscribe" in await command(app, "UCH", "digest", "", at(2024, 2, 20))


async def test_subscribe_to_a_picked_place_whose_name_has_spaces(app, platform):
    """Discord's picker names a thread or forum post as it is called, spaces and all (<#id|weekly links>): its name
    was read as the channel's first word and the rest as the schedule, and the subscription refused."""
    await wire(app, Clock(at(2024, 2, 20, 12)), platform)
    out = await command(app, "UCH", "digest", "subscribe <#T1|weekly links> 0 8 * * fri tz=UTC", at(2024, 2, 20, 12))
    assert "#weekly links" in out and "`0 8 * * fri` (UTC); next one Fri 23 Feb 08:00" in out
    out = await command(app, "UCH", "settings", "ingest <#T2|secret plans> on", at(2024, 2, 20, 12))
    assert out == "I'll learn from messages in <#T2> from now on."


async def test_subscribe_reads_weekday_numbers_as_cron_does(app, platform):
    """0 or 7 is Sunday and 1 Monday, as in crontab(5): APScheduler 3 counts from Monday, and "0 9 * * 1" was
    announced (and posted) for Tuesdays (user walk-through)."""
    await wire(app, Clock(at(2024, 2, 20, 12)), platform)  # a Tuesday
    for cron, next_one in (("0 8 * * 1", "Mon 26 Feb"), ("0 8 * * 0", "Sun 25 Feb"), ("0 8 * * 7", "Sun 25 Feb"),
                           ("0 8 * * 5", "Fri 23 Feb"), ("0 8 * * 4-5", "Thu 22 Feb"), ("0 8 * * */3", "Wed 21 Feb")):
        out = await command(app, "UCH", "digest", f"subscribe <#C1|general> {cron} tz=UTC", at(2024, 2, 20, 12))
        assert f"next one {next_one} 08:00" in out, (cron, out)
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 * * 8 tz=UTC", at(2024, 2, 20, 12))
    assert "weekday '8' is not 0-7 (0 or 7 is Sunday) or sun-sat" in out
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 1 * 1 tz=UTC", at(2024, 2, 20, 12))
    assert "both a day of the month and a weekday" in out
    # Where one of them starts with * cron wants both, as APScheduler does; "?" is any day, as in Quartz.
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 */2 * 1 tz=UTC", at(2024, 2, 20, 12))
    assert "next one Mon 11 Mar 08:00" in out, out  # the first Monday on an odd day
    out = await command(app, "UCH", "digest", "subscribe <#C1|general> 0 8 ? * 5 tz=UTC", at(2024, 2, 20, 12))
    assert "next one Fri 23 Feb 08:00" in out, out
    # The job the scheduler runs fires on the same day as announced.
    trigger = crontab_trigger("0 8 * * 1", ZoneInfo("UTC"))
    assert trigger.get_next_fire_time(None, at(2024, 2, 20, 12)) == at(2024, 2, 26, 8)


# -- exactly once ------------------------------------------------------------------------------------
async def test_restart_mid_week_and_downtime_post_each_period_once(app, db_url, embedder, platform, caplog):
    clock = Clock(at(2024, 2, 20, 12))
    await wire(app, clock, platform)
    digest_id = await subscribe(app, clock())
    await share_with_interest(app, "<https://www.postgresql.org/docs/current/brin.html|BRIN indexes>",
                              at(2024, 2, 27, 10))
    clock.now = at(2024, 3, 4, 8, 0, 30)  # Monday 09:00:30 in Berlin
    await app.digests.catch_up()
    assert len(platform.posts) == 1 and "BRIN indexes" in platform.posts[0]["text"]
    await app.close()

    # Restarted on Wednesday: the week's digest is already out.
    clock.now = at(2024, 3, 6, 12)
    second = await another_app(db_url, embedder, clock, platform)
    await second.digests.catch_up()
    assert len(platform.posts) == 1
    await share_with_interest(second, "Probes done right <https://kubernetes.io/docs/concepts/probes|Probes>",
                              at(2024, 3, 7, 10))
    await second.close()

    # Down over the next Monday's tick; back on Wednesday: the missed period is posted, once.
    clock.now = at(2024, 3, 13, 10)
    third = await another_app(db_url, embedder, clock, platform)
    try:
        await third.digests.catch_up()
        await third.digests.catch_up()
        assert len(platform.posts) == 2
        assert "Probes" in platform.posts[1]["text"] and "BRIN" not in platform.posts[1]["text"]

        # A week where nothing was shared posts nothing, and says so in the log.
        clock.now = at(2024, 3, 18, 8, 1)
        with caplog.at_level(logging.INFO, logger="bot.services.digest"):
            await third.digests.catch_up()
        assert len(platform.posts) == 2
        assert "nothing worth posting" in caplog.text
        states = [(r.period_key, r.state, r.attempts) for r in await runs_of(third, digest_id)]
        assert states == [("2024-03-04T09:00", "posted", 1), ("2024-03-11T09:00", "posted", 1),
                          ("2024-03-18T09:00", "empty", 1)]
    finally:
        await third.close()


async def _brin_digest_due(app, platform):  # noqa: ANN001, ANN202
    """A digest subscribed on 20 Feb 2024, a BRIN link shared with interest in its week, and the clock just past its
    period's end (Mon 4 Mar, 08:00 UTC): its post is due."""
    clock = Clock(at(2024, 2, 20, 12))
    await wire(app, clock, platform)
    digest_id = await subscribe(app, clock())
    await share_with_interest(app, "<https://www.postgresql.org/docs/current/brin.html|BRIN indexes>",
                              at(2024, 2, 27, 10))
    clock.now = at(2024, 3, 4, 8, 0, 30)
    return clock, digest_id


async def test_a_failed_post_is_retried_later_without_a_duplicate(app, platform):
    platform.fail = 2  # the platform answers 500 twice
    clock, digest_id = await _brin_digest_due(app, platform)
    assert await app.digests.run_due(digest_id) == "failed"
    await app.digests.catch_up()  # too soon to retry
    assert len(platform.requests) == 1
    clock.now += runs.RETRY_AFTER + timedelta(seconds=1)
    await app.digests.catch_up()
    assert len(platform.requests) == 2 and platform.posts == []
    clock.now += runs.RETRY_AFTER + timedelta(seconds=1)
    await app.digests.catch_up()
    clock.now += timedelta(hours=1)
    await app.digests.catch_up()
    assert len(platform.requests) == 3 and len(platform.posts) == 1
    [run] = await runs_of(app, digest_id)
    assert (run.state, run.attempts, run.error) == ("posted", 3, None)


async def test_an_abandoned_claim_is_taken_over_after_its_timeout(app, platform):
    clock, digest_id = await _brin_digest_due(app, platform)
    async with app.db.sessions.begin() as session:  # a replica claimed the period, then died
        digest = await session.get(Digest, digest_id)
        assert await runs.claim(session, digest, "2024-03-04T09:00", (at(2024, 2, 26, 8), at(2024, 3, 4, 8)),
                                token="dead-replica", now=clock()) is not None
    assert await app.digests.run_due(digest_id) == "skipped"
    clock.now += runs.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert await app.digests.run_due(digest_id) == "posted"
    assert await app.digests.run_due(digest_id) == "skipped"
    assert len(platform.posts) == 1


async def test_a_period_taken_over_while_its_digest_was_composed_is_posted_once(app, db_url, embedder, platform):
    """A replica whose composition outlasted its claim (a slow embedding, a database under load) posted the digest
    after another replica had taken the period over and posted it: two digests. The claim is checked again, as the
    post is about to go out (the period marked posting), and the slow replica posts nothing."""
    clock, digest_id = await _brin_digest_due(app, platform)
    other = await another_app(db_url, embedder, clock, platform)
    try:
        composing = app.digests.compose

        async def slowly(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            content = await composing(*args, **kwargs)
            clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
            assert await other.digests.run_due(digest_id) == "posted"  # the other replica took the period over
            return content

        app.digests.compose = slowly
        assert await app.digests.run_due(digest_id) == "skipped"
        assert len(platform.posts) == 1
        assert [(r.state, r.attempts) for r in await runs_of(app, digest_id)] == [("posted", 2)]
    finally:
        await other.close()


async def _posting_slowly(app, platform, *, renew_seconds: float, delay: float):  # noqa: ANN001, ANN202
    """A digest due, its post on its way to a slow platform (`delay` s), its holder renewing its claim every
    `renew_seconds`; and another replica's DigestService (its own token) on the same database and clock."""
    from bot.services.digest import DigestService

    clock, digest_id = await _brin_digest_due(app, platform)
    other = DigestService(db=app.db, core=app.core, expertise=app.expertise, scheduler=app.scheduler,
                          resources=app.digests.resources, clock=clock)
    app.digests.renew_seconds = renew_seconds
    platform.delay = delay
    first = asyncio.create_task(app.digests.run_due(digest_id))
    while not platform.requests:  # the post is on its way, and slow
        await asyncio.sleep(0.01)
    return clock, digest_id, other, first


async def test_a_post_slower_than_its_claim_is_not_taken_over_and_posted_again(app, platform):
    """A post that took longer than CLAIM_TIMEOUT (Slack's Retry-After, a Discord digest of several messages, a slow
    database) was taken over as abandoned by another scheduler, which found nothing in the channel yet and posted it
    too: two digests. The holder renews its claim while it works, and the other scheduler leaves the period to it."""
    clock, digest_id, other, first = await _posting_slowly(app, platform, renew_seconds=0.02, delay=2.0)
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    for _ in range(100):  # the holder is alive: its claim is renewed at the time it is now
        [run] = await runs_of(app, digest_id)
        if run.claimed_at.replace(tzinfo=UTC) == clock.now:
            break
        await asyncio.sleep(0.01)
    assert await other.run_due(digest_id) == "skipped"
    assert await first == "posted"
    assert len(platform.requests) == len(platform.posts) == 1
    assert [(r.state, r.attempts) for r in await runs_of(app, digest_id)] == [("posted", 1)]


async def test_a_digest_posted_by_a_stalled_holder_after_a_take_over_says_so(app, platform, caplog):
    """A holder that stalled past its claim (its renewals did not run: the process suspended) posted after another
    scheduler had taken the period over and posted it: the channel had the digest twice, and nothing in the log said
    so (its record was refused in silence). One warning says it."""
    # Stalled: no renewal runs.
    clock, digest_id, other, first = await _posting_slowly(app, platform, renew_seconds=3600.0, delay=1.0)
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    assert await other.run_due(digest_id) == "posted"
    assert await first == "posted"
    assert len(platform.posts) == 2
    [said] = [r for r in caplog.records if "after another scheduler took the period over" in r.getMessage()]
    assert said.levelno == logging.WARNING and "may show it twice" in said.getMessage()


async def test_daylight_saving_changes(app, platform):
    clock = Clock(at(2024, 3, 20, 12))
    await wire(app, clock, platform)
    await subscribe(app, clock())  # Mondays 09:00 Berlin: 08:00 UTC in winter, 07:00 UTC in summer
    await share_with_interest(app, "<https://example.com/winter|Winter reading>", at(2024, 3, 21, 10))
    await share_with_interest(app, "<https://example.com/summer|Summer reading>", at(2024, 3, 27, 10))
    out = await command(app, "UCH", "digest", "subscribe <#C2|nightly> 30 1 * * * tz=America/New_York",
                        at(2024, 3, 20, 12))
    assert "scheduled" in out
    clock.now = at(2024, 3, 24)
    while clock.now < at(2024, 4, 2):
        await app.digests.catch_up()
        clock.now += timedelta(hours=1)
    assert [p["at"] for p in platform.posts if p["channel"] == "C1"] == [
        at(2024, 3, 25, 8).isoformat(), at(2024, 4, 1, 7).isoformat()]

    # Autumn in New York: 01:30 happens twice on Nov 3; it is one period, run once.
    async with app.db.sessions() as session:
        nightly = await session.scalar(select(Digest.id).where(Digest.channel_external_id == "C2"))
    clock.now = at(2024, 11, 2, 12)
    while clock.now < at(2024, 11, 4, 12):
        await app.digests.run_due(nightly)
        clock.now += timedelta(minutes=15)
    keys = [(r.period_key, r.attempts) for r in await runs_of(app, nightly) if r.period_key >= "2024-11"]
    assert keys == [("2024-11-02T01:30", 1), ("2024-11-03T01:30", 1), ("2024-11-04T01:30", 1)]
    assert all(r.state in ("posted", "empty") for r in await runs_of(app, nightly))


async def test_the_catch_up_job_runs_when_the_scheduler_starts(app, platform):
    clock = Clock(at(2024, 2, 20, 12))
    await wire(app, clock, platform)
    await subscribe(app, clock())
    await share_with_interest(app, "<https://www.postgresql.org/docs/current/brin.html|BRIN indexes>",
                              at(2024, 2, 27, 10))
    clock.now = at(2024, 3, 5, 12)  # started after Monday's tick
    app.scheduler.start()
    for _ in range(100):
        if platform.posts:
            break
        await asyncio.sleep(0.05)
    assert len(platform.posts) == 1
    job = app.scheduler._scheduler.get_job("digest:1") or next(
        j for j in app.scheduler._scheduler.get_jobs() if j.id.startswith("digest:") and j.id != "digest:catch-up")
    assert str(job.trigger.timezone) == "Europe/Berlin"


# -- two replicas on one PostgreSQL --------------------------------------------------------------------
@pytest.fixture
def pg_url(pg_server, pg_template) -> Iterator[str]:
    from tests.conftest import _pg_url, drop_unused

    name = f"two{next(_ids)}_{id(pg_server) % 10000}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {pg_template};")
    yield _pg_url(pg_server, name)
    drop_unused(pg_server, name)


async def test_a_digest_posted_while_the_database_fails_is_recorded_and_not_posted_again(app, monkeypatch, caplog):
    """The post went out, and recording it failed (the database restarting, a failover): the period stayed claimed,
    was taken over once the claim was old, and the digest was posted a second time. The record is tried again."""
    from sqlalchemy.exc import DBAPIError

    platform = await FakePlatform().start()
    clock = Clock(at(2024, 2, 20, 12))
    await wire(app, clock, platform)
    try:
        digest_id = await subscribe(app, clock())
        await share_with_interest(app, "<https://example.com/one|Reading>", at(2024, 2, 27, 10))
        clock.now = at(2024, 3, 4, 8, 0, 1)
        real, failures = runs.finish, [2]

        async def database_gone_for_a_while(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if failures[0]:
                failures[0] -= 1
                raise DBAPIError("UPDATE digest_run", {}, ConnectionResetError("connection was closed"))
            return await real(*args, **kwargs)

        monkeypatch.setattr(runs, "finish", database_gone_for_a_while)
        monkeypatch.setattr(runs, "RECORD_RETRY_SECONDS", (0.0, 0.0, 0.0))
        assert await app.digests.run_due(digest_id) == "posted"
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=5)  # another replica's catch-up, later
        assert await app.digests.run_due(digest_id) == "skipped"
        assert len(platform.posts) == 1
        assert [(r.state, r.attempts) for r in await runs_of(app, digest_id)] == [("posted", 1)]
        assert sum("recording it as posted failed (DBAPIError)" in r.getMessage() for r in caplog.records) == 2
    finally:
        await platform.stop()


async def test_a_claim_renewed_while_another_scheduler_took_it_for_abandoned_stays_its_holders(pg_url, embedder):
    """Another scheduler read a claim as abandoned (older than CLAIM_TIMEOUT), and its holder renewed it before that
    scheduler took it over: the take-over, which compared only the claim's state and attempt, went through, and the
    holder, still posting, and the new owner both posted. It compares when the claim was last renewed too."""
    platform = await FakePlatform().start()
    clock = Clock(at(2024, 2, 20, 12))
    app = await another_app(pg_url, embedder, clock, platform)
    try:
        digest_id = await subscribe(app, clock())
        clock.now = at(2024, 3, 4, 8, 0, 30)
        key, window = "2024-03-04T09:00", (at(2024, 2, 26, 8), at(2024, 3, 4, 8))
        async with app.db.sessions.begin() as session:
            held = await runs.claim(session, await session.get(Digest, digest_id), key, window, token="slow",
                                    now=clock())
        assert held is not None
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        async with app.db.sessions.begin() as session:
            digest = await session.get(Digest, digest_id)
            reading = session.scalar

            async def renewed_after_read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                read = await reading(*args, **kwargs)
                async with app.db.sessions.begin() as holders:  # the holder, alive, renews its claim meanwhile
                    assert await runs.renew(holders, held, token="slow", now=clock())
                return read

            session.scalar = renewed_after_read
            assert await runs.claim(session, digest, key, window, token="other", now=clock()) is None
        [run] = await runs_of(app, digest_id)
        assert (run.claimed_by, run.attempts) == ("slow", 1)
    finally:
        await app.close()
        await platform.stop()


async def test_two_schedulers_on_one_postgresql_post_one_digest(pg_url, embedder):
    platform = await FakePlatform(delay=0.3).start()
    clock = Clock(at(2024, 2, 20, 12))
    a = await another_app(pg_url, embedder, clock, platform)
    b = await another_app(pg_url, embedder, clock, platform)
    try:
        digest_id = await subscribe(a, clock())
        for week, url in enumerate(("https://example.com/one", "https://example.com/two", "https://example.com/3")):
            await share_with_interest(a, f"<{url}|Reading {week}>", at(2024, 2, 27, 10) + timedelta(weeks=week))
            clock.now = at(2024, 3, 4, 8, 0, 1) + timedelta(weeks=week)
            outcomes = await asyncio.gather(a.digests.catch_up(), b.digests.run_due(digest_id),
                                            b.digests.catch_up(), a.digests.run_due(digest_id))
            assert outcomes[0] is None and outcomes[2] is None
            assert len(platform.posts) == week + 1, platform.posts
        assert [(r.state, r.attempts) for r in await runs_of(b, digest_id)] == [("posted", 1)] * 3
    finally:
        await a.close()
        await b.close()
        await platform.stop()


async def test_two_scheduler_processes_on_one_sqlite_file_post_one_digest(tmp_path, embedder):
    """The embedded default run twice on one file (two `connective run`, a restart overlapping the old process): the
    claim holds there too."""
    from bot.db.migrate import ensure_schema

    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    app = build_app(Settings(database_url=db_url), embedder=embedder)
    await ensure_schema(app.db)
    await app.close()
    await two_processes_post_once(db_url, embedder)


async def test_two_scheduler_processes_on_one_postgresql_post_one_digest(pg_url, embedder):
    await two_processes_post_once(pg_url, embedder)


async def two_processes_post_once(db_url: str, embedder) -> None:  # noqa: ANN001
    import sys

    platform = await FakePlatform(delay=2.0).start()  # the first post is still in flight when the other arrives
    clock = Clock(at(2024, 2, 20, 12))
    app = await another_app(db_url, embedder, clock, platform)
    try:
        digest_id = await subscribe(app, clock())
        await share_with_interest(app, "<https://example.com/one|Reading>", at(2024, 2, 27, 10))
        when = at(2024, 3, 4, 8, 0, 1).isoformat()
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.digest_worker", db_url, platform.url, when, str(digest_id),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
        results = [await p.communicate() for p in procs]
        assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in results]
        assert sorted(out.decode().strip() for out, _ in results) == ["posted", "skipped"]
        assert len(platform.posts) == 1
    finally:
        await app.close()
        await platform.stop()


def test_titles_and_headings_read_as_people_write_not_as_markup():
    """A title made of the words around a link kept what markup left behind ("& , I think that…", "about Frog ( )
    is it possible"), and a mention's user id became a topic heading ("Ub0f4e9c007"; audit 10)."""
    from bot.services.digest_compose import Candidate, topic_label
    from bot.services.resources import title_for
    from bot.urls import find_links

    def title(text: str) -> str:
        return title_for(find_links(text)[0], text, {})[0]

    assert title("&amp; <@U1>, I think that <https://x.org/a> is what you want") == (
        "I think that x.org/a is what you want")
    assert title("quick question about Frog (<https://frog.org>) is it possible?") == (
        "quick question about Frog (frog.org) is it possible?")
    assert title("see <#C1|general> for <https://a.b/c> the whole doc") == "see #general for a.b/c the whole doc"
    # A link inside a sentence is read as its short form, at either end it leaves no gap (user walk-through: "the link
    # takes me to rather than . My…"); the words around several links title none of them, and each got the same.
    assert title("Great article on macro hygiene: <https://lexi.org/hygiene.html>") == "Great article on macro hygiene"
    assert title("<https://x.org/talk> explains the planner well") == "explains the planner well"
    # Emoji codes are no words of a title, and what a bare link took that is the sentence's stays (review of ca7d185).
    assert title("Great post :tada: on macros https://x.org/a") == "Great post on macros"
    assert title("Great post on macros https://x.org/a :tada:") == "Great post on macros"
    assert title("thanks :) this is it https://x.org/a") == "thanks :) this is it"
    assert title("(see https://x.org/a) for details on it") == "(see x.org/a) for details on it"
    # A link to a chat message is no resource: beside one resource, the words around still title it, each link
    # read as its own short form.
    chat = "The fix from https://acme.slack.com/archives/C1/p123 is at https://github.com/x/y/pull/3, works great"
    assert title_for(find_links(chat)[1], chat, {})[0].startswith("The fix from acme.slack.com/")
    assert title_for(find_links(chat)[1], chat, {})[0].endswith(" is at github.com/.../3, works great")
    two = "the link takes me to <https://docs.r.org/a/b.html> rather than <https://docs.r.org/c/d.html>. My guess"
    assert [title_for(link, two, {})[0] for link in find_links(two)] == ["docs.r.org/…/b.html", "docs.r.org/…/d.html"]
    group = [Candidate(resource_id=i, title="parser combinators", link=f"https://p.org/{i}",
                       text=f"<@UB0F4E9C007> <@UB0F4E9C007> parser combinators {i}") for i in range(3)]
    assert "Ub0f4e9c007" not in topic_label(group)


def test_a_heading_names_a_topic_several_links_share():
    """Headings were two words of the group's messages: "7f22622198e3786f805304418f8d35d6 · Images" over GIFs, and a
    group of one link was headed by its own words ("Changes · Failing"; user walk-through)."""
    import numpy as np

    from bot.services.digest_compose import Candidate, compose, topic_label

    def candidate(i: int, link: str, text: str, direction: int) -> Candidate:
        vector = np.zeros(8)
        vector[direction] = 1.0
        return Candidate(resource_id=i, title=text, link=link, text=text, reactions=2, vector=vector)

    racket = [candidate(1, "https://docs.racket-lang.org/guide/", "the guide on contracts", 0),
              candidate(2, "https://pkgs.racket-lang.org/package/x", "a package for contracts", 0)]
    assert topic_label(racket) == "racket-lang.org"  # every link of the group is on one site
    gifs = [candidate(3, f"https://media.tenor.com/images/7f22622198e3786f805304418f8d35d6/{i}.gif",
                      "images 7f22622198e3786f805304418f8d35d6 parade", 1) for i in range(2)]
    assert "7f22622198e3786f805304418f8d35d6" not in topic_label(gifs).lower()  # tenor.com hosts every topic
    files = [candidate(6 + i, f"https://raw.githubusercontent.com/u/r/{i}.png", "screenshot of the parser error", 3)
             for i in range(2)]
    assert "githubusercontent" not in topic_label(files)  # nor does GitHub's file host name one (review of ca7d185)
    alone = candidate(5, "https://drdr.racket-lang.org/41014/x.rkt", "these tests fail since the changes", 2)
    content = compose([*racket, alone], [], period="Jun 1 – Jun 7, 2017")
    assert [(heading, [c.resource_id for c in items]) for heading, items in content.groups] == [
        ("racket-lang.org", [1, 2]), ("Also worth a look", [5])]
    assert [heading for heading, _ in compose([alone], [], period="Jun 1 – Jun 7, 2017").groups] == ["Worth a look"]


def test_a_heading_is_a_word_two_links_share_never_one_links_or_an_address():
    """Real weeks (racket 2018) headed groups with one link's words or its address's pieces: "30pm · Case" over a merge
    announcement ("at 1:30pm MST") and a docs page, "Racket · Src" and "Created · Src" over GitHub files.
    A group whose links share no word goes with the rest."""
    import numpy as np

    from bot.services.digest_compose import Candidate, compose

    def candidate(i: int, title: str, link: str, text: str) -> Candidate:
        return Candidate(resource_id=i, title=title, link=link, text=text, reactions=2, vector=np.eye(8)[0])

    merge = candidate(1, "Any objections to merging racket7 at 1:30pm MST today? In case anyone is missing context",
                      "https://groups.google.com/d/msg/racket-dev/KXBAIJ", "Any objections … 1:30pm … in case")
    help_page = candidate(2, "github.com/…/hash.c", "https://github.com/racket/racket/blob/master/src/hash.c",
                          "<https://github.com/racket/racket/blob/master/src/hash.c>")
    content = compose([merge, help_page], [], period="Feb 26 – Mar 4, 2018")
    assert [heading for heading, _ in content.groups] == ["Worth a look"], content.groups
    files = [candidate(3 + i, f"github.com/…/{name}", f"https://github.com/racket/racket/blob/master/src/{name}",
                       f"{words} <https://github.com/racket/racket/blob/master/src/{name}>")
             for i, (name, words) in enumerate((("error.c", "the logger starts in"),
                                                ("receiver.rkt", "logger receivers come from")))]
    assert [heading for heading, _ in compose(files, [], period="Jan 29 – Feb 4, 2018").groups] == ["Logger"]


def test_a_heading_names_no_single_message_nor_a_verb():
    """Real weeks (racket 2018): "Archives · Channel" headed the two addresses one message gave ("the channel's
    archives: racket.slackarchive.io, or racket-slack.herokuapp.com"), and "See" a group where two messages said
    "see …". Two links of one message are one member's pick, not a topic the community shares: they go with the rest;
    a verb of pointing at a link names no topic."""
    import numpy as np

    from bot.services.digest_compose import Candidate, compose, topic_label

    text = "the channel archives are searchable: <http://racket.slackarchive.io/> or <http://racket-slack.herokuapp.com/>"
    one_message = [Candidate(resource_id=i, title=title, link=f"http://{title}/", text=text, reactions=2,
                             share_message_ids=[7, *shared_again], vector=np.eye(8)[0])
                   for i, (title, shared_again) in enumerate((("racket.slackarchive.io", []),
                                                              ("racket-slack.herokuapp.com", [9])))]
    assert [(heading, len(items)) for heading, items in compose(one_message, [], period="Mar 19 – Mar 25, 2018")
            .groups] == [("Worth a look", 2)]
    docs = [Candidate(resource_id=10 + i, title=f"docs.racket-lang.org/…/{page}", text="see the two pages",
                      link=f"https://docs.racket-lang.org/reference/{page}", share_message_ids=[8])
            for i, page in enumerate(("eval.html", "ffi.html"))]
    assert topic_label(docs) == ""  # one message's two pages of one site
    seen = [Candidate(resource_id=20 + i, title=title, link=f"https://example.org/{i}", text=f"see {title}",
                      share_message_ids=[30 + i])
            for i, title in enumerate(("the foreign interface notes", "the macro stepper's guide"))]
    assert "See" not in topic_label(seen)


def test_a_waiting_question_says_how_long_ago_as_the_evidence_does():
    """A monthly digest lists questions three weeks old: they read "3 weeks ago", as an expert's evidence says it
    (bot.messages.ago), not "23 days ago"."""
    from bot.services.digest_compose import WaitingQuestion, compose, to_document

    asked = datetime(2018, 2, 1, tzinfo=UTC)
    questions = [WaitingQuestion("how do I profile a slow syntax-parse macro?", "Anton", "general", asked),
                 WaitingQuestion("where is raco pkg's catalog kept?", "Bea", "general", asked + timedelta(days=20))]
    doc = to_document(compose([], questions, period="Feb 1 – Feb 28, 2018"), now=asked + timedelta(days=23))
    assert "(Anton in #general, 3 weeks ago)" in doc.plain(), doc.plain()
    assert "(Bea in #general, 3 days ago)" in doc.plain(), doc.plain()


def test_a_week_of_questions_only_says_no_link_stood_out():
    """Real weeks (racket, Feb 12-18 and Feb 19-25 2018) had waiting questions and no valued link: the digest opened
    "the links you shared and valued, and the questions still waiting for an answer" and listed no link."""
    from bot.services.digest_compose import WaitingQuestion, compose, to_document

    asked = datetime(2018, 2, 15, tzinfo=UTC)
    question = WaitingQuestion("is there a list of websites written in pollen available anywhere?", "Anton", "general",
                               asked)
    doc = to_document(compose([], [question], period="Feb 19 – Feb 25, 2018"), now=asked + timedelta(days=3))
    assert doc.text.startswith("Community digest, Feb 19 – Feb 25, 2018: no shared link stood out"), doc.text
    assert "pollen" in doc.plain()


def test_an_experts_link_nobody_valued_is_left_out():
    """The sharer's expertise ranks what the community valued; alone it let in links nobody reacted to, thanked or
    answered: a third of racket's weekly digests, one week eight of one member's CI logs ("here's a build failure",
    "the revision tested is here", each "Latarsha often answers questions on this")."""
    import numpy as np

    from bot.services.digest_compose import Candidate, compose

    def candidate(i: int, **signals: float) -> Candidate:
        c = Candidate(resource_id=i, title=f"link {i}", link=f"https://ci.example.org/jobs/{i}", sharer="Latarsha",
                      vector=np.eye(8)[i], **signals)
        c.expertise = 0.7
        return c

    content = compose([candidate(1), candidate(2), candidate(3, thanks=1)], [], period="Jun 19 – Jun 25, 2017")
    assert content.resource_ids == [3]
    assert compose([candidate(1)], [], period="Jun 19 – Jun 25, 2017").empty


def test_a_period_across_new_year_names_both_years():
    """"Dec 30 – Jan 5, 2019" read as a period of 2019 (user walk-through)."""
    from bot.services.digest import period_label

    assert period_label(datetime(2018, 12, 30, tzinfo=UTC), datetime(2019, 1, 6, tzinfo=UTC), "UTC") == (
        "Dec 30, 2018 – Jan 5, 2019")
    assert period_label(datetime(2019, 3, 4, tzinfo=UTC), datetime(2019, 3, 11, tzinfo=UTC), "UTC") == (
        "Mar 4 – Mar 10, 2019")
    assert period_label(datetime(2019, 3, 4, tzinfo=UTC), datetime(2019, 3, 5, tzinfo=UTC), "UTC") == "Mar 4, 2019"


def test_the_digests_first_line_promises_only_what_it_holds():
    """A digest of links alone opened "…: the links you shared and valued, and the questions still waiting for an
    answer." with no question below it (Slack walk-through: the first hourly digest had one link and no question)."""
    from bot.services.digest_compose import Candidate, DigestContent, WaitingQuestion, to_document

    link = Candidate(resource_id=1, title="Racket on Chez", link="https://blog.racket-lang.org/", sharer="Aimee")
    question = WaitingQuestion(text="how do I read a syntax object's line?", asker="Bertha", channel="general",
                               asked_at=datetime(2024, 3, 8, tzinfo=UTC), permalink=None)
    now = datetime(2024, 3, 11, 9, tzinfo=UTC)

    def first_line(groups, questions) -> str:  # noqa: ANN001
        return to_document(DigestContent(period="Mar 4 – Mar 11, 2024", groups=groups, questions=questions),
                           now=now).text

    assert first_line([("Worth a look", [link])], [question]) == (
        "Community digest, Mar 4 – Mar 11, 2024: the links you shared and valued, and the questions still waiting "
        "for an answer.")
    assert first_line([("Worth a look", [link])], []) == (
        "Community digest, Mar 4 – Mar 11, 2024: the links you shared and valued.")
    assert first_line([], [question]) == (
        "Community digest, Mar 4 – Mar 11, 2024: no shared link stood out (none got reactions, saves, thanks, "
        "re-shares or replies), but these questions are still waiting for an answer.")


async def test_a_message_with_several_links_is_one_entry_on_its_signals(app, platform):
    """The links of one message share its reactions, replies and thanks: a message with four links was four entries
    on one set of signals (racket 2018: an announcement's four pages of exercism.io; a question's 'hello.app' and
    'console.app', a tenth of the year's entries). The digest takes one link of such a message, the first it gives
    on a tie; another of its links is listed on signals of its own, such as a member's /save."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    ts = await say(app, "UPG", "We need mentors: <https://exercism.example.org/tracks/racket|the Racket track>, "
                               "<https://exercism.example.org/about>, <https://exercism.example.org/mentoring> and "
                               "<https://exercism.example.org/become-a-maintainer>", at(2024, 2, 27, 10))
    await say(app, "UASK", "thanks, signing up now", at(2024, 2, 27, 10, 5), thread=ts)
    await react(app, "UK8S", ts, "+1", at(2024, 2, 27, 10, 6))
    other = await say(app, "UBR", "Wrote this up: <https://blog.example.org/vacuum|Tuning autovacuum>",
                      at(2024, 2, 27, 11))
    await react(app, "UK8S", other, "+1", at(2024, 2, 27, 11, 6))
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "exercism.example.org/tracks/racket" in preview and "blog.example.org/vacuum" in preview, preview
    assert not any(f"exercism.example.org/{page}" in preview for page in ("about", "mentoring", "become")), preview
    again = await say(app, "UBR", "the track again https://exercism.example.org/tracks/racket", at(2024, 2, 28, 8))
    await react(app, "UDAN", again, "+1", at(2024, 2, 28, 8, 5))
    await command(app, "UCH", "save", "https://exercism.example.org/mentoring how mentoring works", at(2024, 2, 28, 9))
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    assert "exercism.example.org/mentoring" in preview and "exercism.example.org/tracks/racket" in preview, preview
    assert preview.index("tracks/racket") < preview.index("exercism.example.org/mentoring"), preview
    assert "exercism.example.org/about" not in preview, preview


def test_a_posted_digest_without_a_member_keeps_the_rest_and_says_what_it_holds():
    """Taken out of a kept digest: the waiting question a member asked (their words and name), the links they shared
    or noted. The header says what is left (no questions promised where none stay); the links in no topic are no longer
    'also' worth a look beside topics that went; a digest left with nothing says so."""
    from bot.services.digest_compose import Candidate, DigestContent, WaitingQuestion, to_document
    from bot.services.digest_unquote import record, without

    def link(n: int, sharer: str, *named: str) -> Candidate:
        return Candidate(resource_id=n, title=f"Page {n}", link=f"https://example.org/{n}", sharer=sharer,
                         reactions=2, named=named)

    asked = at(2024, 3, 1, 9)
    content = DigestContent(period="Mar 4 – Mar 10, 2024", groups=[
        ("Racket-lang.org", [link(1, "Asha", "UASK"), link(2, "Asha", "UASK")]),
        ("Also worth a look", [link(3, "Petra", "UPG", "UASK")]),  # Asha's note on Petra's link
        ("More", [link(4, "Petra", "UPG")]),
    ], questions=[WaitingQuestion("how do I profile a macro?", "Asha", "general", asked, asker_id="UASK"),
                  WaitingQuestion("why is raco slow?", "Bruno", "general", asked, asker_id="UBR")])
    kept = record(content, to_document(content, now=at(2024, 3, 11, 9)))
    assert without(kept, "UK8S") is None  # names nobody it shows

    gone = without(kept, "UASK")
    shown = str(gone["doc"])
    assert "Asha" not in shown and "profile a macro" not in shown and "Page 1" not in shown and "Page 3" not in shown
    assert "Page 4" in shown and "raco slow" in shown
    assert gone["named"] == [[["UPG"]], [["UBR"]]]
    assert "valued, and the questions" in gone["doc"]["text"]

    left = without(gone, "UBR")
    assert "questions" not in left["doc"]["text"] and [s["heading"] for s in left["doc"]["sections"]] == ["More"]
    emptied = without(left, "UPG")
    assert emptied["doc"]["sections"] == [] and "taken out" in emptied["doc"]["text"]

    two = DigestContent(period="p", groups=[("Racket", [link(1, "Asha", "UASK")]),
                                            ("Also worth a look", [link(2, "Petra", "UPG")])], questions=[])
    alone = without(record(two, to_document(two, now=asked)), "UASK")
    assert [s["heading"] for s in alone["doc"]["sections"]] == ["Worth a look"]


@pytest.mark.parametrize("leaving", ["deleted", "forget-me", "optout"])
async def test_a_posted_digest_keeps_a_link_others_shared_when_its_first_sharer_goes(app, platform, leaving):
    """A digest's link entry carried its first sharer's message: when Petra deleted it, or was forgotten or opted out,
    the whole entry went from the posted digest, though Bruno had shared the same link and his share stood. It stays,
    credited to Bruno and linking his message; it goes once no share of it is left."""
    clock = Clock(at(2024, 2, 20, 12))
    await wire(app, clock, platform)
    digest_id = await subscribe(app, clock())
    link = "https://www.postgresql.org/docs/current/brin.html"
    petras = await share_with_interest(app, f"<{link}|BRIN indexes>", at(2024, 2, 27, 10))
    brunos = await say(app, "UBR", f"this one again {link}", at(2024, 2, 28, 9))
    clock.now = at(2024, 3, 4, 8, 0, 30)
    assert await app.digests.run_due(digest_id) == "posted"

    async def entry() -> dict | None:
        [run] = await runs_of(app, digest_id)
        return next((r for s in run.posted["doc"]["sections"] for r in s["resources"] if r["url"] == link), None)

    async def delete(user: str, ts: str) -> None:
        await app.core.handle(ev.MessageDeleted(community=TEAM, user=user, channel="C1", event_id=f"d{next(_ids)}",
                                                time=clock(), platform="slack", message_id=ts))

    posted = await entry()
    assert "shared by Petra" in posted["note"] and petras.replace(".", "") in posted["permalink"], posted
    clock.now += timedelta(hours=1)
    if leaving == "deleted":
        await delete("UPG", petras)
    else:
        await app.core.handle(ev.CommandInvoked(community=TEAM, user="UPG", channel="C1", time=clock(),
                                                platform="slack", name=leaving, args="", user_name="Petra"))
    credited = await entry()
    assert credited is not None and "shared by Bruno" in credited["note"] and "Petra" not in credited["note"]
    assert brunos.replace(".", "") in credited["permalink"], credited
    await delete("UBR", brunos)
    assert await entry() is None
