"""/skills, /me and help as members use them on each platform: endorsements (once per endorser and topic, never a
bot, never markup that works), remove as strong as add, Slack's escaped command text, and the commands named as
the member's platform has them. Storage runs on SQLite and PostgreSQL (the `app` fixture)."""
from __future__ import annotations

import itertools

from sqlalchemy import select

from adapters.discord.render import render_document
from adapters.discord.translate import translate
from adapters.slack.blocks import home_view, message
from adapters.slack.translate import translate_command
from bot import events as ev
from bot.actions import Document
from bot.db.models import Member, Skill
from tests.discord_fixtures import GUILD, KENJI, GuildContext, load
from tests.test_slack_translate import WS

TEAM = "TSKILLS"
_ids = itertools.count(1)


async def say(app, user: str, args: str, *, name: str = "skills", platform: str = "slack",
              mentioned: tuple[ev.Person, ...] = ()) -> Document:
    event = ev.CommandInvoked(community=TEAM, platform=platform, user=user, channel="C1", name=name, args=args,
                              event_id=f"skills-{next(_ids)}", mentioned=mentioned, user_name=user.title())
    [reply] = await app.core.handle(event)
    return reply.doc


async def stored(app, user: str) -> list[tuple[str, str]]:
    async with app.db.sessions() as s:
        rows = await s.execute(select(Skill.topic, Skill.source).join(Member, Member.id == Skill.member_id)
                               .where(Member.external_id == user).order_by(Skill.id))
        return [tuple(r) for r in rows]


async def members(app, *users: str, platform: str = "slack") -> None:
    for user in users:
        await say(app, user, "", platform=platform)  # a command stores its member


def discord_text(doc: Document) -> str:
    rendered = render_document(doc)
    return (rendered.content or "") + "\n" + "\n".join(e.description or "" for e in rendered.embeds)


def slack_text(doc: Document) -> str:
    return "\n".join(b["text"]["text"] for b in message(doc)["blocks"] if "text" in b)


# -- endorsements ------------------------------------------------------------------------------------
async def test_the_same_endorsement_in_another_case_is_stored_once(app):
    await members(app, "USOFI", "UMATEUS")
    first = await say(app, "UMATEUS", "endorse <@USOFI> terraform state locking")
    assert first.text == "Endorsed Usofi for terraform state locking."
    again = await say(app, "UMATEUS", "endorse <@USOFI> TERRAFORM State Locking")
    assert again.text == "You had endorsed Usofi for TERRAFORM State Locking already."
    assert await stored(app, "USOFI") == [("terraform state locking", "endorsed")]
    await say(app, "UOTHER", "endorse <@USOFI> Terraform state locking")  # another endorser counts
    assert len(await stored(app, "USOFI")) == 2
    listed = await say(app, "USOFI", "")
    assert listed.plain() == "Your skills:\n• terraform state locking (endorsed by Umateus, Uother)"


async def test_a_bot_is_not_endorsed(app):
    await app.core.handle(ev.MemberJoined(community=TEAM, platform="slack", user="UBOT1", user_name="standup-bot",
                                          is_bot=True))
    await members(app, "UASHA")
    reply = await say(app, "UASHA", "endorse <@UBOT1> kubernetes")
    assert reply.text == "That's a bot; endorse a member for what they know."
    assert await stored(app, "UBOT1") == []


async def test_an_endorsement_of_punctuation_only_answers_the_usage_line(app):
    await members(app, "UK", "UA")
    for args in ("endorse <@UK> , ,;", "endorse <@UK> ., -!", "endorse <@UK>", "endorse"):
        reply = await say(app, "UA", args)
        assert reply.text == "Use it like this: `/connective skills endorse @member kubernetes`", args
    assert await stored(app, "UK") == []


async def test_nul_and_lone_surrogates_in_an_endorsement_are_stored_cleanly(app):
    await members(app, "UK", "UA")
    for args in ("endorse <@UK> vac\x00uum", "endorse <@UK> bad \udc00 surrogate"):
        reply = await say(app, "UA", args)
        assert reply.text.startswith("Endorsed Uk for "), reply.text
    assert await stored(app, "UK") == [("vacuum", "endorsed"), ("bad ? surrogate", "endorsed")]


async def test_a_pasted_skills_control_characters_are_not_stored(app):
    """A skill pasted with a zero-width space ("kuber\u200bnetes"), a terminal colour or a right-to-left override was
    stored so: a skill of its own that no question about kubernetes matched, shown reversed or as "[31mhelm" on the
    profile, and not removed by typing it as it reads. Stored as mentoring topics are (safety.plain)."""
    await members(app, "UPASTE")
    await say(app, "UPASTE", "add kuber\u200bnetes, \x1b[31mhelm\x1b[0m, \u202erust\u202c  ffi\t")
    assert await stored(app, "UPASTE") == [("kubernetes", "declared"), ("helm", "declared"), ("rust ffi", "declared")]
    assert (await say(app, "UPASTE", "remove Kubernetes")).text == "Removed: kubernetes."


# -- remove and add ------------------------------------------------------------------------------------
async def test_remove_takes_away_endorsed_skills_too(app):
    await members(app, "UFRANK", "UFREDIA")
    await say(app, "UFREDIA", "endorse <@UFRANK> typed racket")
    await say(app, "UFRANK", "add Typed Racket, helm")
    assert (await say(app, "UFRANK", "")).plain() == \
        "Your skills:\n• Typed Racket (endorsed by Ufredia)\n• helm"  # the topic once, with who vouched
    reply = await say(app, "UFRANK", "remove TYPED RACKET")
    assert reply.text == "Removed: Typed Racket."  # as the profile showed it
    assert await stored(app, "UFRANK") == [("helm", "declared")]


async def test_remove_takes_a_list_compared_as_add_compares(app):
    await members(app, "UMEHMET")
    added = await say(app, "UMEHMET", "add Kubernetes Rollbacks, Helm, Straße, go")
    assert added.text == "Added: Kubernetes Rollbacks, Helm, Straße, go."
    again = await say(app, "UMEHMET", "add helm, rust")
    assert again.text == "Added: rust. Already declared: helm."
    reply = await say(app, "UMEHMET", "remove kubernetes rollbacks,  HELM ; STRASSE, cobol")
    assert reply.text == "Removed: Kubernetes Rollbacks, Helm, Straße. You had no skill “cobol”."
    assert await stored(app, "UMEHMET") == [("go", "declared"), ("rust", "declared")]
    long = "x" * 300  # stored cut to 200 characters, and said so (user walk-through): pasting it back removes it
    assert (await say(app, "UMEHMET", f"add {long}, zig, {long}")).text == (  # the same one twice is one (review)
        f"Added: {'x' * 200}, zig. A topic is kept to its first 200 characters: 1 was cut.")
    assert (await say(app, "UMEHMET", f"remove {long}, zig")).text.startswith("Removed: ")
    for args in ("remove", "remove , ;"):
        assert (await say(app, "UMEHMET", args)).text == \
            "Use it like this: `/connective skills remove kubernetes, postgres tuning`"
    assert await stored(app, "UMEHMET") == [("go", "declared"), ("rust", "declared")]


# -- member text stays text ---------------------------------------------------------------------------
MARKUP = "[click here](https://evil.example/phish) *bold* `code`"


async def test_an_endorsement_with_markup_is_text_on_the_members_profile(app):
    await members(app, "UKENJI", "UASHA", platform="discord")
    endorsed = await say(app, "UASHA", f"endorse <@UKENJI> {MARKUP}", platform="discord")
    assert "](https" not in discord_text(endorsed)  # the endorser's reply names it, unlinked
    for shown in (await say(app, "UKENJI", "", platform="discord"), await say(app, "UKENJI", "", name="me",
                                                                              platform="discord")):
        discord = discord_text(shown)
        assert "\\[click here](https://evil.example/phish)" in discord, discord  # the [ escaped: no link
        assert "\\*bold\\* \\`code\\`" in discord
    await members(app, "UKENJI", "UASHA")
    await say(app, "UASHA", f"endorse <@UKENJI> {MARKUP}")  # the same on Slack
    for shown in (await say(app, "UKENJI", ""), await say(app, "UKENJI", "", name="me")):
        slack = slack_text(shown)
        assert "*bold*" not in slack and "`" not in slack and "\u2217bold\u2217" in slack, slack
    home = await app.home.document("slack", TEAM, "UKENJI")
    blocks = str(home_view(home)["blocks"])
    assert "*bold*" not in blocks and "\u2217bold\u2217 \u02cbcode\u02cb (endorsed by Uasha)" in blocks


async def test_added_and_not_found_skills_are_not_links_in_the_reply(app):
    await members(app, "UKENJI", platform="discord")
    for args in (f"add {MARKUP}", f"add {MARKUP}", f"remove {MARKUP}", f"remove {MARKUP}"):
        reply = await say(app, "UKENJI", args, platform="discord")
        assert "click here]\u200b(https://evil.example/phish)" in discord_text(reply), args


# -- Slack escapes the command text -------------------------------------------------------------------------
async def test_slack_command_text_is_read_as_typed(app):
    body = {"command": "/connective", "text": "skills add C++ &amp; Rust, R&amp;D, &lt;templates&gt;",
            "user_id": "UK8S", "team_id": TEAM, "channel_id": "C1"}
    command = translate_command(body, WS)
    assert command.args == "add C++ & Rust, R&D, <templates>"
    [reply] = await app.core.handle(command)
    assert reply.doc.text == "Added: C++ & Rust, R&D, <templates>."
    assert "C++ &amp; Rust" in slack_text(reply.doc) and "&amp;amp;" not in slack_text(reply.doc)  # escaped once
    assert [t for t, _ in await stored(app, "UK8S")] == ["C++ & Rust", "R&D", "<templates>"]
    typed = translate_command({**body, "text": "skills add a &amp;lt; b"}, WS)  # "&lt;" typed: unescaped once
    assert typed.args == "add a &lt; b"


def test_slack_mentions_and_channel_refs_stay_as_the_core_reads_them():
    body = {"command": "/connective", "text": "skills endorse <@U0PETRA|petra> Q&amp;A, &lt;@UFAKE&gt; <#C1|dev>",
            "user_id": "UK8S", "team_id": TEAM}
    command = translate_command(body, WS)
    assert command.args == "endorse <@U0PETRA|petra> Q&A, <@UFAKE> <#C1|dev>"
    assert command.mentioned == (ev.Person("U0PETRA", "petra"),)  # a typed "<@UFAKE>" is no mention of Slack's


# -- commands named as the platform has them ------------------------------------------------------------
async def test_help_and_usage_lines_name_the_commands_of_the_members_platform(app):
    slack = (await say(app, "UA", "", name="help")).text
    assert "`/connective skills add <topic>[, <topic>…]`" in slack and "`/connective me`" in slack
    assert "`/connective optout`" in slack and "`/connective forget-me`" in slack and "`/connective help`" in slack
    assert "`/whoknows <topic>`" in slack and "`/mentoring join" in slack
    assert "`/skills" not in slack and "`/me`" not in slack and "`/optout`" not in slack
    discord = (await say(app, "UA", "", name="help", platform="discord")).text
    assert "`/skills action:add topics:<topic>[, <topic>…]`" in discord and "`/me`" in discord
    assert "`/skills action:endorse member:@member topics:<topic>`" in discord
    assert "/help" not in discord and "/connective" not in discord  # neither is a Discord command of members
    console = (await say(app, "UA", "", name="help", platform="console")).text
    assert "`/skills add <topic>[, <topic>…]`" in console and "`/help`" in console
    assert (await say(app, "UA", "endorse")).text == "Use it like this: `/connective skills endorse @member kubernetes`"
    assert (await say(app, "UA", "")).text == "You have declared no skills yet: `/connective skills add <topic>`."
    assert "`/connective optin` undoes this" in (await say(app, "UA", "", name="optout")).text
    home = await app.home.document("slack", TEAM, "UA")
    assert "`/connective skills add <topic>`" in home.plain() and "`/skills" not in home.plain()


# -- who is endorsed --------------------------------------------------------------------------------------
async def test_a_discord_member_the_bot_never_stored_is_endorsed_when_picked(app):
    await members(app, "UASHA")
    picked = (ev.Person("1100000000000000299", "Someone"),)
    reply = await say(app, "UASHA", "endorse <@1100000000000000299> rust", platform="discord", mentioned=picked)
    assert reply.text == "Endorsed Someone for rust."
    assert await stored(app, "1100000000000000299") == [("rust", "endorsed")]
    bot = (ev.Person("1100000000000000298", "helper", is_bot=True),)
    reply = await say(app, "UASHA", "endorse <@1100000000000000298> rust", platform="discord", mentioned=bot)
    assert reply.text == "That's a bot; endorse a member for what they know."
    # A mention nobody resolved (typed in the console, or text Slack escaped) names nobody new.
    assert (await say(app, "UASHA", "endorse <@UNOBODY> rust")).text.startswith("I don't know that member")


def test_discord_passes_the_picked_member_on():
    interaction = load("interaction_skills_add")
    interaction["data"]["options"] = [{"name": "action", "type": 3, "value": "endorse"},
                                      {"name": "member", "type": 6, "value": KENJI},
                                      {"name": "topics", "type": 3, "value": "rust"}]
    interaction["data"]["resolved"] = {
        "users": {KENJI: {"id": KENJI, "username": "kenji", "global_name": "Kenji", "bot": False}},
        "members": {KENJI: {"nick": "Kenji S."}}}
    [command] = translate("INTERACTION_CREATE", interaction, GuildContext.from_guild_create(load("guild_create")))
    assert command.community == GUILD and command.args == f"endorse <@{KENJI}> rust"
    assert command.mentioned == (ev.Person(KENJI, "Kenji S.", False),)


async def test_a_typed_name_is_the_longest_member_name_it_starts_with(app):
    for user, name in (("UEMMA", "Emma"), ("UEV", "Emma Virtanen"), ("UEMMANUEL", "Emmanuel"), ("UA", "Asha")):
        await app.core.handle(ev.MemberJoined(community=TEAM, platform="console", user=user, user_name=name))
    reply = await say(app, "UA", "endorse @Emma Virtanen kubernetes", platform="console")
    assert reply.text == "Endorsed Emma Virtanen for kubernetes."
    assert await stored(app, "UEV") == [("kubernetes", "endorsed")] and await stored(app, "UEMMA") == []
    assert (await say(app, "UA", "endorse emma helm", platform="console")).text == "Endorsed Emma for helm."
    assert (await say(app, "UA", "endorse Emmanuel go", platform="console")).text == "Endorsed Emmanuel for go."


async def test_the_same_skill_declared_several_times_at_once_is_stored_once(app):
    """Each add checked what was stored, then inserted: sent at once, "Kubernetes" was stored four times (the unique
    constraint never fires for a declared skill, whose endorser is NULL; audit 11)."""
    import asyncio

    await members(app, "UDUP", "UOTHER")
    await asyncio.gather(*(say(app, "UDUP", "add Kubernetes") for _ in range(4)), say(app, "UDUP", "add kubernetes"))
    assert [source for _, source in await stored(app, "UDUP")] == ["declared"]


async def test_a_removed_skill_is_named_as_the_profile_showed_it(app):
    """"Removed: rust ffi." echoed what was typed, not the skill that went ("Rust FFI"; audit 10)."""
    await say(app, "URUST", "add Rust FFI")
    assert (await say(app, "URUST", "remove rust ffi")).text == "Removed: Rust FFI."
    assert await stored(app, "URUST") == []


async def test_one_member_endorses_another_for_at_most_ten_topics(app):
    """Endorsements stand on someone else's profile and weigh in their ranking: one endorser writes at most ten
    topics there, and is told which were not recorded; the member's own declarations and other endorsers are apart."""
    await members(app, "UNOOR", "UPIET", "UANA")
    topics = [f"topic {n}" for n in range(1, 13)]
    reply = await say(app, "UPIET", "endorse <@UNOOR> " + ", ".join(topics[:8]))
    assert reply.text.startswith("Endorsed Unoor for topic 1,")
    reply = await say(app, "UPIET", "endorse <@UNOOR> topic 1, " + ", ".join(topics[8:]))
    assert reply.text == ("Endorsed Unoor for topic 9, topic 10. You had endorsed Unoor for topic 1 already. "
                          "One member endorses another for at most 10 topics: topic 11, topic 12 were not recorded.")
    assert [t for t, _ in await stored(app, "UNOOR")] == topics[:10]
    await say(app, "UANA", "endorse <@UNOOR> topic 11")  # another endorser has their own ten
    await say(app, "UNOOR", "add " + ", ".join(f"own {n}" for n in range(12)))  # and the member declares freely
    assert len(await stored(app, "UNOOR")) == 10 + 1 + 12


async def test_an_endorsement_of_nobody_here_says_so_in_one_line_and_stores_nothing(app):
    """`/skills endorse @Nobody kubernetes` (a name no member of the community has, or a mention Slack made of someone
    the bot never stored) answered "Use it like this: …", as if the command were mistyped: it says whom it does not
    know, that nothing was recorded, and never echoes the mention (a ping of that person on Slack)."""
    await members(app, "UK", "UA")
    reply = await say(app, "UA", "endorse @Nobody kubernetes")
    assert reply.text == ("I don't know a member “Nobody” in this community, so nothing was recorded; mention a "
                          "member: `/connective skills endorse @member kubernetes`")
    for args in ("endorse <@UNOBODY> kubernetes", "endorse <!here> kubernetes"):
        reply = await say(app, "UA", args)
        assert reply.text.startswith("I don't know that member in this community, so nothing was recorded"), args
        assert "\n" not in reply.text and "<" not in reply.text
    async with app.db.sessions() as s:
        assert list(await s.scalars(select(Skill.topic))) == []
        assert await s.scalar(select(Member.id).where(Member.external_id == "UNOBODY")) is None
