"""The console adapter drives the same core path as Slack and Discord."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.console import ConsoleAdapter
from bot import events as ev
from bot.db.models import Channel, Member, Message, MessageVector, Question, Skill
from bot.services.ingest import IncomingMessage
from tests.exports import TEAM, THREADS, USERS, write_slack_export


async def _setup(app, tmp_path):
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    return ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")


async def test_who_knows_ranks_the_expert_with_evidence(app, tmp_path):
    console = await _setup(app, tmp_path)
    [answer] = await console.say("UASK1", "who knows why postgres ignores my index?")
    lines = answer.splitlines()
    assert "Petra" in lines[1], answer  # first expert listed
    # No score on a card: it is the chance of being first to answer, and read "score 0.00" under the others.
    assert "score" not in answer
    assert "EXPLAIN ANALYZE" in answer or "autovacuum" in answer  # evidence quotes what she answered
    assert "Asha" not in answer  # the asker is never suggested

    [answer] = await console.say("UASK2", "/whoknows kubernetes pods rollout")
    assert "Kenji" in answer.splitlines()[1], answer
    # No topic: how to ask, not everyone ranked. A console line is a DM: "?" asks the bot about nothing.
    for empty in ("who knows?", "anyone know about?", "?", "/whoknows", "/whoknows ?", "/whoknows who knows?"):
        [answer] = await console.say("UASK2", empty)
        assert answer.startswith("Ask me like this"), answer


async def test_a_question_nothing_said_bears_on_is_answered_with_the_regulars_and_says_so(app, tmp_path):
    """A question nobody had talked about ("sourdough") was answered "People who can likely help with …" above the
    members who answer most, each "answers often here": it read as if they knew about it."""
    console = await _setup(app, tmp_path)
    [answer] = await console.say("UASK1", "who knows a good sourdough bread recipe with rye flour?")
    assert answer.startswith("Nobody here has talked about “a good sourdough bread recipe with rye flour” yet. These "
                             "members answer the most questions here"), answer
    assert "can likely help" not in answer and "Petra" in answer, answer
    [answer] = await console.say("UASK1", "who knows why postgres ignores my index?")
    assert answer.startswith("People who can likely help with “why postgres ignores my index”"), answer


async def test_a_question_naming_a_member_is_echoed_with_their_name(app, tmp_path):
    """The answer's heading dropped a member the question named: "who knows what <@UPG> meant by autovacuum?" was
    answered "People who can likely help with “what meant by autovacuum”". It reads "@Petra", as the quotes do; a
    mention of nobody known is left out with the "'s" that went with it."""
    console = await _setup(app, tmp_path)
    [answer] = await console.say("UASK2", "who knows what <@UPG> meant by autovacuum cost limits?")
    assert answer.startswith("People who can likely help with “what @Petra meant by autovacuum cost limits”"), answer
    [answer] = await console.say("UASK2", "who knows <@UNOBODY>'s trick for kubernetes rollbacks?")
    assert answer.startswith("People who can likely help with “trick for kubernetes rollbacks”"), answer


async def test_skills_optout_and_forget_me(app, tmp_path):
    console = await _setup(app, tmp_path)
    [out] = await console.say("UCSS", "/skills add kubernetes operators, helm")
    assert "helm" in out
    [out] = await console.say("UCSS", "/skills")
    assert "kubernetes operators" in out

    [out] = await console.say("UPG", "/optout")
    assert "opted out" in out
    [out] = await console.say("UPG", "/me")
    assert "available for intros: no (profiling is off)" in out
    [answer] = await console.say("UASK1", "who knows postgres vacuum and indexes?")
    assert "Petra" not in answer
    async with app.db.sessions() as s:
        petra = await s.scalar(select(Member).where(Member.external_id == "UPG"))
        assert not petra.profiling_consent
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == petra.id)) == 0

    [out] = await console.say("UK8S", "/forget-me")
    assert "deleted everything" in out
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
        assert kenji.name == "" and not kenji.profiling_consent
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == kenji.id)) == 0
        assert await s.scalar(select(func.count()).select_from(Skill).where(Skill.member_id == kenji.id)) == 0
        vectors = await s.scalar(select(func.count()).select_from(MessageVector))
        assert vectors > 0  # other people's vectors stay

    # A re-import of the same export does not bring the forgotten member's messages back.
    await app.importer.import_slack(tmp_path / "export")
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == kenji.id)) == 0


async def test_forget_me_and_optout_take_back_the_endorsements_the_member_gave(app, tmp_path):
    console = await _setup(app, tmp_path)
    [out] = await console.say("UCSS", "/skills endorse @Kenji helm")
    assert out == "Endorsed Kenji for helm."
    await console.say("UREG", "/skills endorse @Kenji kubernetes operators")
    await console.say("UK8S", "/skills add kubernetes")
    [skills] = await console.say("UK8S", "/skills")
    assert "helm (endorsed by Chloe)" in skills and "kubernetes operators (endorsed by Reggie)" in skills

    await console.say("UCSS", "/forget-me")  # what they said about others is theirs too
    await console.say("UREG", "/optout")
    [skills] = await console.say("UK8S", "/skills")
    assert skills == "Your skills:\n• kubernetes", skills


async def test_a_member_who_opted_out_or_was_forgotten_is_not_renamed_by_what_they_do_next(app, tmp_path):
    console = await _setup(app, tmp_path)
    await console.say("UK8S", "/forget-me")
    # Every later event carries their platform name (and a join their time zone): none of it is stored.
    await console.say("UK8S", "morning all", user_name="Kenji Sato")
    await app.core.handle(ev.MemberJoined(community=TEAM, user="UK8S", platform="slack", user_name="Kenji Sato",
                                          timezone="Asia/Tokyo"))
    [me] = await console.say("UK8S", "/me", user_name="Kenji Sato")
    assert "name: (none) · time zone: unknown" in me, me

    await console.say("UPG", "/optout")
    [me] = await console.say("UPG", "/me", user_name="Petra Kowalski")
    assert "name: Petra ·" in me, me
    await console.say("UPG", "/optin")  # opting in again lets their profile follow them again
    [me] = await console.say("UPG", "/me", user_name="Petra Kowalski")
    assert "name: Petra Kowalski ·" in me, me


async def test_an_opted_out_asker_is_answered_but_their_question_is_not_kept(app, tmp_path):
    console = await _setup(app, tmp_path)
    await console.say("UASK1", "/optout")
    for ask in ("/whoknows kubernetes deployment rollback", "who knows kubernetes deployment rollback?"):
        [answer] = await console.say("UASK1", ask)
        assert "Kenji" in answer.splitlines()[1], answer
        assert "Request intro" not in answer and "`/connective optin` to request intros" in answer  # (on Slack)
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Question)) == 0

    await console.say("UASK1", "/optin")
    [answer] = await console.say("UASK1", "/whoknows kubernetes deployment rollback")
    assert "Request intro" in answer and "/optin" not in answer


async def test_help_and_unknown_command(app, tmp_path):
    console = await _setup(app, tmp_path)
    [out] = await console.say("UASK1", "/help")
    assert "/whoknows" in out
    [out] = await console.say("UASK1", "/frobnicate")
    assert "don't know the command" in out and "/whoknows" in out
    assert await console.say("UASK1", "   ") == []


async def test_forget_me_reaches_mentoring_saves_and_intros(app, tmp_path):
    from bot.db.mentoring import MentoringEnrolment
    from bot.db.resources import ResourceSave

    console = await _setup(app, tmp_path)
    out = await console.say("UK8S", "/mentoring join mentor teach=kubernetes tz=Europe/Berlin")
    assert out, out
    await console.say("UASK2", "/whoknows kubernetes pods rollout")  # Kenji is suggested: his id is on the question
    async with app.db.sessions() as s:
        assert "UK8S" in (await s.scalar(select(Question.suggested).where(Question.text.like("%kubernetes%"))))
    await console.say("UK8S", "/save https://kubernetes.io/docs/concepts/workloads/ good overview")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
        assert await s.scalar(select(func.count()).select_from(MentoringEnrolment)
                              .where(MentoringEnrolment.member_id == kenji.id)) == 1
        assert await s.scalar(select(func.count()).select_from(ResourceSave)
                              .where(ResourceSave.member_id == kenji.id)) == 1
    await console.say("UK8S", "/forget-me")
    async with app.db.sessions() as s:
        for model in (MentoringEnrolment, ResourceSave):
            assert await s.scalar(select(func.count()).select_from(model).where(model.member_id == kenji.id)) == 0
        suggested = await s.scalar(select(Question.suggested).where(Question.text.like("%kubernetes%")))
        assert suggested and "UK8S" not in suggested  # others' questions no longer name him


async def test_a_live_question_shows_who_is_in_the_conversation_right_now(app, tmp_path):
    console = await _setup(app, tmp_path)
    [answer] = await console.say("UASK2", "/whoknows kubernetes pods rollout")
    assert "in the conversation in the last" not in answer  # the history is old: nobody has spoken lately
    async with app.db.sessions() as s:  # Kenji says something in a channel, as any adapter stores it
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
        channel = await s.scalar(select(Channel).where(Channel.community_id == kenji.community_id))
    await app.ingest.store(kenji.community_id, [IncomingMessage(
        channel_id=channel.id, external_id="live-1", author_id=kenji.id, text="morning all, back from the conference",
        created_at=datetime.now(UTC) - timedelta(minutes=30))])
    [answer] = await console.say("UASK2", "/whoknows kubernetes pods rollout")
    kenji_block = answer.split("Kenji", 1)[1].split("\n2. ", 1)[0]
    assert "in the conversation in the last 2 hours" in kenji_block, answer


async def test_every_command_the_help_names_works_in_the_console(app, tmp_path):
    """The console stands in for the community's platform, and its help names the commands as that platform types
    them (`/connective skills add …` for Slack, `/skills action:add topics:…` for Discord): typed in the console they
    answered "I don't know the command `connective`" (the demo's own /help, audit 10)."""
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    for platform, community in (("slack", TEAM), ("discord", "G1")):
        console = ConsoleAdapter(app.core.handle, community=community, platform=platform)
        [help_text] = await console.say("UCSS", "/help" if platform != "discord" else "/frobnicate")
        typed = {t for line in help_text.splitlines() for t in line.split("`")[1::2]}
        assert any("skills" in t for t in typed) and any(t.endswith("me") for t in typed), help_text
        assert any(t.startswith("/save") for t in typed) and any(t.startswith("/digest") for t in typed), help_text
        if platform == "discord":  # its /save and /digest subscribe take named options (review of 552c0d8)
            assert "`/save url:<link> note:[note]`" in help_text and "channel:#channel" in help_text, help_text
        for line in sorted(typed):
            if "optout" in line or "forget-me" in line or "remove" in line:
                continue  # they answer, but take the member's data (or the skills just added) with them
            example = (line.replace("<topic>[, <topic>…]", "helm, go").replace("<topic>", "helm")
                       .replace("@member", "@Kenji"))
            for answer in await console.say("UCSS", example):
                assert "don't know the command" not in answer, (platform, example, answer)
        [listed] = await console.say("UCSS", "/connective skills" if platform == "slack" else
                                     "/skills action:list")
        assert "helm" in listed.lower(), listed


async def test_discord_admin_commands_as_its_readme_types_them_work_in_the_console(app):
    """deploy/discord/README.md gives a Discord server's admins `/connective show` and `/connective ingest #channel
    on|off` (Discord's `/connective` is the core's settings): in the console of a Discord community they answered
    "I don't know the command `connective`"."""
    console = ConsoleAdapter(app.core.handle, community="G1", platform="discord", admin=True)
    [shown] = await console.say("UCSS", "/connective show")
    assert shown.startswith("Public channels are read unless turned off"), shown
    [usage] = await console.say("UCSS", "/connective ingest")
    assert usage.startswith("Settings: `ingest <channel> on|off`"), usage


async def test_settings_name_a_channel_that_is_here_or_refuse(app, tmp_path):
    """`/settings ingest random off` turned off a channel "random" that does not exist (made for it), while the real
    #random went on being read; Slack's `/connective ingest off #general` was an unknown command in the console, and a
    refused Slack member was told Discord's rule (user walk-through)."""
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack", admin=True)

    async def channels() -> dict[str, bool | None]:
        async with app.db.sessions() as s:
            return dict((await s.execute(select(Channel.external_id, Channel.ingest))).all())

    async with app.db.sessions.begin() as s:
        s.add(Channel(community_id=await s.scalar(select(Channel.community_id).limit(1)), external_id="C0SECRET",
                      name="secret-plans", is_private=True))
    before = await channels()
    # Said with the channels it does know, as the console has no channel picker and no command lists them (review):
    # the public ones only.
    [refused] = await console.say("UREG", "/settings ingest random off")
    assert refused == ("I don't know the channel random; the channels I know here are #general; name one of them, or "
                       "pick it with # so I get its id."), refused
    [refused] = await console.say("UREG", "/settings digest-channel C0NOWHERE")
    assert "I don't know the channel C0NOWHERE" in refused
    assert await channels() == before
    [done] = await console.say("UREG", "/connective ingest off #general")
    assert "no longer read" in done and "C0GENERAL" in done
    assert (await channels())["C0GENERAL"] is False and len(await channels()) == len(before)
    [done] = await console.say("UREG", "/settings ingest <#C0NEW|design> on")  # a channel the platform picked
    assert (await channels())["C0NEW"] is True
    [done] = await console.say("UREG", "/settings ingest <#C0NEW2|design> on")  # Discord lets names repeat
    [refused] = await console.say("UREG", "/settings ingest design off")
    assert refused == "2 channels are called design; pick it with # so I get its id.", refused
    [refused] = await console.say("UREG", "/digest subscribe #nope")
    assert refused.startswith("I don't know the channel #nope; the channels I know here are #design, #general;"), \
        refused
    member = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
    [refused] = await member.say("UASK1", "/connective ingest on #general")
    assert refused.startswith("Only workspace admins and owners can change")


async def test_me_shows_everything_stored_about_the_member(app, tmp_path):
    """/me told name, time zone, consent, messages and skills, and not the reactions they gave, their saves, the
    endorsements they gave, their questions, the intro requests they sent and received, the topics they said are
    not their area, nor their mentoring enrolment and pairs: all stored about them, all removed by /forget-me
    (forget-me audit; "members can see what is stored about them")."""
    from tests.test_intros import _act, _ask, _button, _request

    console = await _setup(app, tmp_path)
    await console.say("UK8S", "/skills endorse @Petra postgres")
    await console.say("UK8S", "/save https://kubernetes.io/docs/concepts/workloads/ good overview")
    await console.say("UK8S", "/mentoring join mentor teach=kubernetes tz=Europe/Berlin")
    cards = await _ask(console, "UK8S", "who knows postgres index tuning?")
    await _request(console, "UK8S", next(v for u, v in cards if u == "UPG"))
    cards = await _ask(console, "UASK1", "who knows kubernetes pods rollout?")
    _, request = await _request(console, "UASK1", next(v for u, v in cards if u == "UK8S"))
    await _act(console, "UK8S", f"/click intro.notmine {_button(request, 'intro.accept')}")
    async with app.db.sessions() as s:
        message = await s.scalar(select(Message).where(Message.author_id != (await s.scalar(
            select(Member.id).where(Member.external_id == "UK8S")))).limit(1))
        channel = await s.get(Channel, message.channel_id)
    await app.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UK8S", channel=channel.external_id,
                                           message_id=message.external_id, reaction="bookmark", event_id="r-me-1"))
    [me] = await console.say("UK8S", "/me")
    assert "1 reaction(s) you gave · 1 link(s) you saved · 1 endorsement(s) you gave" in me, me
    assert "1 question(s) you asked · intro requests: 1 sent, 1 received · 1 topic(s) you said are not your" in me, me
    assert "mentoring: enrolled as mentor, can teach kubernetes, time zone Europe/Berlin · 0 pair(s)" in me, me

    await console.say("UK8S", "/forget-me")
    [me] = await console.say("UK8S", "/me")
    assert "0 reaction(s) you gave · 0 link(s) you saved · 0 endorsement(s) you gave" in me, me
    assert "0 question(s) you asked · intro requests: 0 sent, 0 received · 0 topic(s) you said are not your" in me, me
    assert "mentoring: not enrolled · 0 pair(s)" in me, me


async def test_an_import_after_opting_back_in_does_not_bring_back_what_opting_out_deleted(app, tmp_path):
    """/optout and /forget-me delete the member's messages, and `/optin` "undoes this for the future": a re-import
    of an export made before (or any export still holding those messages) stored them again, embedded, and the
    member was suggested from them again (forget-me audit). The messages removed are remembered as deleted ones are,
    by their key only."""
    console = await _setup(app, tmp_path)
    await console.say("UK8S", "/forget-me")
    await console.say("UPG", "/optout")
    for user in ("UK8S", "UPG"):
        await console.say(user, "/optin")
    await app.importer.import_slack(tmp_path / "export")
    async with app.db.sessions() as s:
        for user in ("UK8S", "UPG"):
            member = await s.scalar(select(Member).where(Member.external_id == user))
            assert await s.scalar(select(func.count()).select_from(Message)
                                  .where(Message.author_id == member.id)) == 0, user
        assert await s.scalar(select(func.count()).select_from(Message)) > 0  # the others' messages are there
    [answer] = await console.say("UASK1", "who knows kubernetes pods rollout?")
    assert "Kenji" not in answer, answer


async def test_an_import_after_opting_back_in_does_not_bring_back_the_reactions_opting_out_deleted(app, tmp_path):
    """/optout and /forget-me delete the reactions the member gave; after `/optin` a re-import of the export made
    before listed them, and they were stored again: a curation signal (a bookmark ranks a link in the digest) of
    what they had asked to delete (forget-me audit). What an export made before they opted back in lists of
    theirs is not stored; a reaction given since is."""
    from bot.db.models import Reaction

    extra = [{"type": "message", "user": "UPG", "text": "pg_repack rebuilds a bloated table", "ts": "1700100000.000000",
              "reactions": [{"name": "bookmark", "users": ["UK8S", "UCSS", "UPG"], "count": 3}]}]
    export = write_slack_export(tmp_path / "export", USERS, THREADS, extra=extra)
    await app.importer.import_slack(export)
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
    await console.say("UK8S", "/forget-me")
    await console.say("UCSS", "/optout")
    for user in ("UK8S", "UCSS"):
        await console.say(user, "/optin")
    await app.importer.import_slack(export)
    async with app.db.sessions() as s:
        assert set(await s.scalars(select(Reaction.user_external_id))) == {"UPG"}
    # Given again, live, after opting back in: stored.
    channel = "C0GENERAL"
    await app.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UCSS", channel=channel,
                                           message_id="1700100000.000000", reaction="bookmark", event_id="r-back-1"))
    async with app.db.sessions() as s:
        assert set(await s.scalars(select(Reaction.user_external_id))) == {"UPG", "UCSS"}


async def test_forget_me_takes_the_member_off_the_digests_they_subscribed(app, tmp_path):
    """A digest subscription kept who made it (digest.created_by_id) after that admin asked to be forgotten
    entirely: the row is kept (the member's, with their platform id), only a deleted member's went (forget-me
    audit). The digest stays, the community's, without who subscribed it."""
    from bot.db.resources import Digest

    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    admin = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack", admin=True)
    await admin.say("UK8S", "/digest subscribe #general")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member.id).where(Member.external_id == "UK8S"))
        assert await s.scalar(select(Digest.created_by_id)) == kenji
    await admin.say("UK8S", "/forget-me")
    async with app.db.sessions() as s:
        digests = (await s.execute(select(Digest.channel_external_id, Digest.created_by_id))).all()
    assert digests == [("C0GENERAL", None)]


async def test_what_a_member_said_while_opted_out_is_not_stored_after_they_opt_back_in(app, tmp_path):
    """Opted out, nothing further is stored; `/optin` "undoes this for the future": an import after they opted back
    in, of an export holding what they said while opted out (withheld when it was said, or by an import then),
    stored it, embedded, as if they had never opted out (forget-me audit). What they said before they opted back
    in is not stored; what they say since is."""
    said = [{"type": "message", "user": "UK8S", "text": "helm rollback --wait restores the previous release",
             "ts": "1700200000.000000"}]
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
    await console.say("UK8S", "/optout")
    later = write_slack_export(tmp_path / "later", USERS, THREADS, extra=said)
    await app.importer.import_slack(later)
    await console.say("UK8S", "/optin")
    await app.importer.import_slack(later)
    await app.core.handle(ev.MessagePosted(community=TEAM, platform="slack", user="UK8S", channel="C0GENERAL",
                                           message_id="1800000000.000100", text="morning all, helm 3.14 is out",
                                           user_name="Kenji", event_id="m-back-1"))
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member.id).where(Member.external_id == "UK8S"))
        texts = list(await s.scalars(select(Message.text).where(Message.author_id == kenji)))
    assert texts == ["morning all, helm 3.14 is out"], texts


def test_a_digest_edited_after_a_forget_prints_as_it_reads_now():
    """A digest edit (EditPost, after /forget-me) printed the action's repr, its whole document on one line."""
    from bot.actions import Document, EditPost

    console = ConsoleAdapter(None, community=TEAM, platform="slack")
    when = datetime(2024, 3, 11, tzinfo=UTC)
    shown = console.render(EditPost(community=TEAM, channel="general", key="digest:1:2024-03-11T09:00",
                                    doc=Document(text="Community digest, Mar 4 – Mar 10, 2024: the links"),
                                    since=when, until=when))
    assert shown == "[digest:1:2024-03-11T09:00 in general, edited] Community digest, Mar 4 – Mar 10, 2024: the links"
