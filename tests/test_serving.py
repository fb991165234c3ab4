"""Two workspaces on one database, each run by its own process (bot.serving): a process's scheduled jobs take only the
work of the communities its sender reaches, and the other's process does the rest. On SQLite (a file both open) and
on PostgreSQL. Each process is an App of its own on the same database; its sender reaches its own workspace only, as
Slack's does (another's channel is channel_not_found, another's member user_not_found)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot import outbox
from bot.actions import Action, DirectMessage, Document, EditPost, PostToChannel
from bot.app import build_app
from bot.db.intros import IntroState
from bot.db.mentoring import PairingRound
from bot.db.models import Community, InboxEvent, OutboxAction
from bot.errors import ChannelRefused, Undelivered
from bot.inbox import Kept
from bot.services import digest_runs as runs
from bot.services.mentoring_cadence import Cadence
from bot.settings import Settings
from tests import test_digest as digests
from tests import test_intros as intros
from tests.exports import TEAM
from tests.fake_platform import Clock
from tests.test_digest import pg_url  # noqa: F401  (fixture: a fresh PostgreSQL database)

OTHER = "TOTHERWS1"  # the workspace of the other process on the same database


class WorkspaceSender:
    """A Slack sender as the adapter's: it serves the workspace its token names (bot.actions.Serves)."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.sent: list[Action] = []
        self.refused: list[Action] = []

    def communities(self) -> frozenset[str]:
        return frozenset({self.team})

    async def send(self, action: Action) -> None:
        if action.community != self.team:  # what Slack answers a token of another workspace
            self.refused.append(action)
            if isinstance(action, PostToChannel | EditPost):
                raise ChannelRefused("the channel was not found (channel_not_found)")
            raise Undelivered("user_not_found")
        self.sent.append(action)


async def other_process(db_url: str, embedder):  # noqa: ANN001, ANN201
    """The process of the other workspace: its own engine, scheduler and services on the same database."""
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    sender = WorkspaceSender(OTHER)
    other.core.senders["slack"] = sender
    return other, sender


async def test_a_due_digest_is_posted_by_its_workspaces_process_alone(app, db_url, embedder):
    clock = Clock(digests.at(2024, 2, 20, 12))
    app.digests.clock = clock
    mine = WorkspaceSender(digests.TEAM)
    app.core.senders["slack"] = mine
    digest_id = await digests.subscribe(app, clock())
    await digests.share_with_interest(app, "<https://www.postgresql.org/docs/current/brin.html|BRIN indexes>",
                                      digests.at(2024, 2, 27, 10))
    clock.now = digests.at(2024, 3, 4, 8, 0, 30)  # Monday 09:00:30 in Berlin: the period is due
    other, theirs = await other_process(db_url, embedder)
    other.digests.clock = clock
    try:
        await other.digests.catch_up()
        await other.digests.catch_up()
        # Not taken, not marked failed or refused, nobody told to fix the channel, not scheduled there either.
        assert theirs.sent == theirs.refused == []
        assert await digests.runs_of(app, digest_id) == []
        assert not other.scheduler.has(f"digest:{digest_id}")
    finally:
        await other.close()

    await app.digests.catch_up()
    [post] = mine.sent
    assert isinstance(post, PostToChannel) and post.community == digests.TEAM and "BRIN indexes" in post.doc.plain()
    [run] = await digests.runs_of(app, digest_id)
    assert (run.state, run.attempts, run.error) == (runs.POSTED, 1, None)


async def test_an_intro_request_expires_in_its_workspaces_process_alone(app, db_url, embedder, tmp_path):
    console, _ = await intros._setup(app, tmp_path)
    mine = WorkspaceSender(TEAM)
    app.core.senders["slack"] = mine
    cards = await intros._ask(console, "UASK1", "who knows flexbox overflow in safari?")
    _, request = await intros._request(console, "UASK1", cards[0][1])
    intro_id = intros._button(request, "intro.accept")
    expired = lambda: intros.T0 + timedelta(hours=24, minutes=1)  # noqa: E731
    other, theirs = await other_process(db_url, embedder)
    other.intros.clock = app.intros.clock = expired
    try:
        assert await other.intros.sweep() == 0
        assert theirs.sent == theirs.refused == []
        assert await intros._intro_state(app, intro_id) == IntroState.REQUESTED
    finally:
        await other.close()

    assert await app.intros.sweep() == 1
    [offer] = mine.sent
    assert isinstance(offer, DirectMessage) and offer.user == "UASK1" and "could not happen" in offer.doc.text
    assert await intros._intro_state(app, intro_id) == IntroState.EXPIRED


async def test_a_mentoring_round_is_warned_by_its_workspaces_process_alone(app, db_url, embedder):
    now = datetime.fromisoformat("2026-11-26T12:00:00+00:00")
    adapter = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack", clock=lambda: now)
    for user, line in [("petra", "join mentor teach: postgres query tuning tz: Europe/Berlin"),
                       ("asha", "join mentee learn: postgres performance tz: Europe/London")]:
        [out] = await adapter.say(user, f"/mentoring {line}", user_name=user.capitalize())
        assert "You're in" in out
    mine = WorkspaceSender(TEAM)
    app.core.senders["slack"] = mine
    period = Cadence().next_round(now)
    other, theirs = await other_process(db_url, embedder)
    try:
        await other.mentoring.tick(period.warn_at + timedelta(minutes=1))
        assert theirs.sent == theirs.refused == []
        async with app.db.sessions() as session:
            assert list(await session.scalars(select(PairingRound))) == []  # not claimed by the wrong process
    finally:
        await other.close()

    await app.mentoring.tick(period.warn_at + timedelta(minutes=1))
    assert {a.user for a in mine.sent} == {"petra", "asha"}
    assert all(isinstance(a, DirectMessage) and "Skip this round" in a.doc.plain() for a in mine.sent)


async def test_a_kept_outbox_action_is_sent_by_its_workspaces_process_alone(app, db_url, embedder):
    async with app.db.sessions.begin() as session:
        session.add(Community(platform="slack", external_id=TEAM, name="Acme"))
    async with app.db.sessions() as session:
        community_id = await session.scalar(select(Community.id).where(Community.external_id == TEAM))
    told = DirectMessage(community=TEAM, user="UASK1", doc=Document(text="Petra is not available; try Kenji"))
    await outbox.keep(app.db, community_id, "slack", [told])
    mine = WorkspaceSender(TEAM)
    app.core.senders["slack"] = mine
    other, theirs = await other_process(db_url, embedder)
    try:
        assert await other.outbox.send_due() == 0
        assert theirs.sent == theirs.refused == []
        async with app.db.sessions() as session:
            [row] = list(await session.scalars(select(OutboxAction)))
        assert (row.attempts, row.error) == (0, None)  # not claimed, not counted as failed
    finally:
        await other.close()

    assert await app.outbox.send_due() == 1
    assert mine.sent == [told]


async def test_an_event_left_in_the_inbox_is_replayed_by_its_workspaces_process_alone(app, db_url, embedder):
    replayed: dict[str, list[dict]] = {"mine": [], "theirs": []}

    def replayer(who: str):  # noqa: ANN202
        async def replay(body: dict) -> None:
            replayed[who].append(body)
            async with app.db.sessions.begin() as session:  # handled: it leaves the inbox, as Core.handle does
                row = await session.scalar(select(InboxEvent).where(InboxEvent.event_id == body["event_id"]))
                await session.delete(row)
        return replay

    body = {"type": "event_callback", "team_id": TEAM, "event_id": "Ev0SERVED1", "event": {"type": "message"}}
    await app.core.inbox.keep(Kept("slack", TEAM, "Ev0SERVED1"), body)
    app.core.senders["slack"] = WorkspaceSender(TEAM)
    app.core.inbox.register("slack", replayer("mine"))
    later = datetime.now().astimezone() + timedelta(minutes=3)
    other, _ = await other_process(db_url, embedder)
    other.core.inbox.register("slack", replayer("theirs"))
    try:
        assert await other.core.inbox.sweep(later) == 0
        assert replayed["theirs"] == []
        async with app.db.sessions() as session:
            [row] = list(await session.scalars(select(InboxEvent)))
        assert row.attempts == 0
    finally:
        await other.close()

    assert await app.core.inbox.sweep(later) == 1
    assert [b["event_id"] for b in replayed["mine"]] == ["Ev0SERVED1"]


async def test_slacks_sender_serves_the_workspace_its_token_names(app, db_url, embedder):
    """The real adapters of two workspaces, each against its own Slack: auth.test names the workspace a process
    serves, and a kept action of one is sent by its own process's client alone."""
    from adapters.slack.listeners import SlackAdapter
    from adapters.slack.runner import web_client
    from tests.slack_fake import FakeSlack

    async with app.db.sessions.begin() as session:
        session.add(Community(platform="slack", external_id=TEAM, name="Acme"))
    async with app.db.sessions() as session:
        community_id = await session.scalar(select(Community.id).where(Community.external_id == TEAM))
    await outbox.keep(app.db, community_id, "slack", [
        DirectMessage(community=TEAM, user="UASK1", doc=Document(text="Petra is not available; try Kenji"))])
    theirs_slack = await FakeSlack(team_id=OTHER).start()
    mine_slack = await FakeSlack(team_id=TEAM).start()
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        theirs = await SlackAdapter.connect(other, web_client("xoxb-other", f"{theirs_slack.url}/api"),
                                            signing_secret="s")
        mine = await SlackAdapter.connect(app, web_client("xoxb-mine", f"{mine_slack.url}/api"), signing_secret="s")
        assert (theirs.sender.communities(), mine.sender.communities()) == ({OTHER}, {TEAM})
        other.core.senders["slack"], app.core.senders["slack"] = theirs.sender, mine.sender
        assert await other.outbox.send_due() == 0
        assert [c.method for c in theirs_slack.calls if c.method != "auth.test"] == []
        assert await app.outbox.send_due() == 1
        assert [c.method for c in mine_slack.calls if c.method == "chat.postMessage"] == ["chat.postMessage"]
    finally:
        await other.close()
        await theirs_slack.stop()
        await mine_slack.stop()


async def test_an_org_wide_slack_token_serves_every_slack_workspace(app, caplog):
    """Enterprise Grid's org-wide install: one token reaches the org's workspaces (events name each one's team id),
    which auth.test does not list: the process takes every Slack community's work, as before, and says so."""
    from adapters.slack.listeners import SlackAdapter
    from adapters.slack.runner import web_client
    from tests.slack_fake import FakeSlack

    fake = await FakeSlack(team_id=TEAM, org_wide=True).start()
    try:
        adapter = await SlackAdapter.connect(app, web_client("xoxb-org", f"{fake.url}/api"), signing_secret="s")
    finally:
        await fake.stop()
    assert adapter.sender.communities() is None
    assert "org-wide install" in caplog.text


async def test_the_running_bots_refit_leaves_another_workspaces_community(sample_app, db_url, embedder):
    """The ranking's refit (every 6 hours, claimed once across processes): a process of another workspace that won the
    claim loaded the community's whole corpus (its messages, for good) to fit it."""
    from bot.app import refit_job
    from tests.test_whoknows import TEAM as SAMPLE

    async with sample_app.db.sessions.begin() as session:
        community = await session.scalar(select(Community).where(Community.external_id == SAMPLE))
        fitted = community.settings["ranking_fitted"]["messages"]
        community.settings = {**community.settings, "ranking_fitted": {"messages": fitted // 2}}  # grown since
        community_id = community.id
    other, _ = await other_process(db_url, embedder)
    try:
        await refit_job(other.expertise, other.core)()
        assert community_id not in other.expertise._corpora
    finally:
        await other.close()
    async with sample_app.db.sessions() as session:
        assert (await session.get(Community, community_id)).settings["ranking_fitted"]["messages"] == fitted // 2

    sample_app.core.senders["slack"] = WorkspaceSender(SAMPLE)
    await refit_job(sample_app.expertise, sample_app.core)()
    async with sample_app.db.sessions() as session:
        assert (await session.get(Community, community_id)).settings["ranking_fitted"]["messages"] == fitted


async def test_an_event_left_in_the_inbox_waits_for_its_platforms_sender(app):
    """A Discord process registers its replayer when its client is made, and its sender (with the servers it is in)
    once connected: a sweep in between replayed every server's kept events through a bot that may be in none."""
    replayed: list[str] = []

    async def replay(body: dict) -> None:
        replayed.append(body["id"])
        async with app.db.sessions.begin() as session:
            await session.delete(await session.scalar(select(InboxEvent).where(InboxEvent.event_id == body["id"])))

    await app.core.inbox.keep(Kept("discord", "1100000000000000001", "i-1"), {"id": "i-1", "guild_id": "1"})
    app.core.inbox.register("discord", replay)
    later = datetime.now().astimezone() + timedelta(minutes=3)
    assert await app.core.inbox.sweep(later) == 0 and replayed == []
    app.core.senders["discord"] = WorkspaceSender("1100000000000000001")
    assert await app.core.inbox.sweep(later) == 1 and replayed == ["i-1"]


async def test_two_workspaces_processes_on_one_postgresql_post_each_its_own_digest(pg_url, embedder):  # noqa: F811
    """Real `connective run --platform slack` processes, one per workspace, each against its own Slack, on one
    PostgreSQL database, each with a digest due at start. The first to start posted the other workspace's digest with
    its own token: Slack answered channel_not_found, the period was recorded as failed and refused, and the admin who
    chose the channel was told to fix it; its own process then retried it later."""
    from bot import events as ev
    from bot.db.engine import Database
    from bot.db.resources import Digest, DigestRun
    from bot.services.digest_periods import latest_tick, trigger_for
    from tests.replicas import Replica, wait_until
    from tests.slack_fake import FakeSlack
    from tests.test_digest import PEOPLE
    from tests.test_ops import _prepare_due_digest

    await _prepare_due_digest(pg_url, embedder)  # workspace TDIGEST01's, with a valued resource
    tick = latest_tick(trigger_for("0 9 * * mon", "Europe/Berlin"), datetime.now().astimezone())
    setup = build_app(Settings(database_url=pg_url), embedder=embedder)
    setup.digests.clock = lambda: tick - timedelta(days=14)
    try:  # the other workspace's: due too, with nothing worth posting
        await setup.core.handle(ev.CommandInvoked(
            community=OTHER, platform="slack", user="UADMIN", channel="C9", time=tick - timedelta(days=14),
            name="digest", args="subscribe <#C9|general> tz=Europe/Berlin", is_admin=True, user_name="Admin"))
    finally:
        await setup.close()
    db = Database(pg_url)

    async def runs_by_channel() -> dict[str, list[tuple[str, int]]]:
        async with db.sessions() as session:
            rows = (await session.execute(select(Digest.channel_external_id, DigestRun.state, DigestRun.attempts)
                                          .join(Digest, Digest.id == DigestRun.digest_id))).all()
        return {channel: [(state, attempts) for c, state, attempts in rows if c == channel] for channel in ("C1", "C9")}

    people = {u: {"id": u, "name": n, "real_name": n, "tz": "UTC"} for u, n in PEOPLE.items()}
    theirs_slack = await FakeSlack(team_id=OTHER, refused_channels={"C1": "channel_not_found"}).start()
    mine_slack = await FakeSlack(team_id=digests.TEAM, people=people, channels={"C1": "general"}).start()
    theirs = await Replica.start(pg_url, theirs_slack.url)
    mine = None
    try:
        await theirs.ready()

        async def own_digest_done() -> bool:
            return await theirs.metric("connective_digests_total", outcome="empty") >= 1
        await wait_until(own_digest_done, 120)
        assert theirs_slack.of("chat.postMessage") == [] and theirs_slack.of("conversations.open") == []
        assert await runs_by_channel() == {"C1": [], "C9": [("empty", 1)]}

        mine = await Replica.start(pg_url, mine_slack.url)
        await mine.ready()
        [post] = await mine_slack.wait_for("chat.postMessage", timeout=120)
        assert post["channel"] == "C1" and "BRIN indexes" in str(post)
        await wait_until(lambda: _posted(runs_by_channel), 60)
        assert theirs_slack.of("chat.postMessage") == []
    finally:
        for replica in (theirs, mine):
            if replica is not None:
                await replica.stop()
        await theirs_slack.stop()
        await mine_slack.stop()
        await db.dispose()


async def _posted(runs_by_channel) -> bool:  # noqa: ANN001
    return (await runs_by_channel())["C1"] == [("posted", 1)]


async def test_a_discord_bot_in_40000_servers_takes_its_servers_work(app):
    """The servers are written into the jobs' statements: bound one parameter each, 40,000 exceeded the 32,767 a
    PostgreSQL statement takes (asyncpg), and every job failed each time it ran."""
    servers = frozenset(str(1100000000000000000 + n) for n in range(40_000))
    async with app.db.sessions.begin() as session:
        session.add(Community(platform="discord", external_id="1100000000000039999", name="Guild"))
    async with app.db.sessions() as session:
        community_id = await session.scalar(select(Community.id))
    told = DirectMessage(community="1100000000000039999", user="42", doc=Document(text="hello"))
    await outbox.keep(app.db, community_id, "discord", [told])
    sender = WorkspaceSender("1100000000000039999")
    sender.communities = lambda: servers  # type: ignore[method-assign]
    app.core.senders["discord"] = sender
    assert await app.outbox.send_due() == 1 and sender.sent == [told]
