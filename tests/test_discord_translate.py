"""The table-driven translator against recorded gateway payloads."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.discord.custom_ids import make_custom_id, parse_custom_id
from adapters.discord.translate import TRANSLATORS, command_arguments, translate
from bot import events as ev
from tests.discord_fixtures import (
    ASHA,
    BOT,
    BOT_ROLE,
    FORUM,
    FORUM_POST,
    GUILD,
    HELP,
    KENJI,
    PETRA,
    PRIVATE,
    PRIVATE_THREAD,
    THREAD,
    GuildContext,
    load,
)

CTX = GuildContext.from_guild_create(load("guild_create"))


def one(event_type: str, fixture: str) -> ev.Event:
    [event] = translate(event_type, load(fixture), CTX)
    return event


def test_every_followed_dispatch_type_has_a_translator():
    assert {
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "MESSAGE_REACTION_REMOVE_ALL",
        "MESSAGE_REACTION_REMOVE_EMOJI",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_REMOVE",
        "INTERACTION_CREATE",
    } <= set(TRANSLATORS)


def test_message_in_a_text_channel():
    event = one("MESSAGE_CREATE", "message_create")
    assert isinstance(event, ev.MessagePosted)
    assert (event.platform, event.community, event.user, event.channel, event.thread) == (
        "discord",
        GUILD,
        ASHA,
        HELP,
        None,
    )
    assert event.event_id == event.message_id == "1100000000000000501"
    assert event.user_name == "Asha Rao" and event.channel_name == "help" and not event.is_private
    assert event.time == datetime(2024, 5, 2, 9, 58, tzinfo=UTC)
    assert event.permalink == f"https://discord.com/channels/{GUILD}/{HELP}/1100000000000000501"
    assert not event.mentions_bot and not event.edited and event.reply_to is None


def test_reply_points_at_the_message_it_answers():
    event = one("MESSAGE_CREATE", "message_create_reply")
    assert event.reply_to == "1100000000000000501" and event.user == PETRA


def test_thread_and_forum_messages_belong_to_their_parent_channel():
    in_thread = one("MESSAGE_CREATE", "message_create_thread")
    assert (in_thread.channel, in_thread.thread, in_thread.channel_name) == (HELP, THREAD, "help")
    assert in_thread.permalink.endswith(f"/{THREAD}/1100000000000000503")
    post = one("MESSAGE_CREATE", "message_create_forum_post")
    # A forum post's starter message has the post's id: the thread root, as on Slack.
    assert (post.channel, post.thread, post.message_id) == (FORUM, FORUM_POST, FORUM_POST)


def test_private_thread_and_private_channel_are_private():
    private_thread = one("MESSAGE_CREATE", "message_create_private_thread")
    assert (private_thread.channel, private_thread.thread, private_thread.is_private) == (
        PRIVATE_THREAD,
        PRIVATE_THREAD,
        True,
    )
    payload = load("message_create")
    payload["channel_id"] = PRIVATE
    [event] = translate("MESSAGE_CREATE", payload, CTX)
    assert event.is_private


def test_what_a_thread_starts_with():
    """A thread started on its own leaves a "started a thread" notice (type 18) in its parent, naming the thread
    (the thread's first message asks); a private thread and a forum post start with no message elsewhere; a thread
    started from a message, and a channel, are nothing of the kind."""
    notice = load("message_create")
    notice |= {"id": "1100000000000000999", "type": 18, "channel_id": HELP,
               "message_reference": {"channel_id": THREAD, "guild_id": GUILD}}
    [started] = translate("MESSAGE_CREATE", notice, CTX)
    assert isinstance(started, ev.ThreadStarted)
    assert (started.channel, started.thread) == (HELP, THREAD)
    notice["message_reference"] = {"channel_id": "1100000000000000998", "guild_id": GUILD}  # not cached yet
    [started] = translate("MESSAGE_CREATE", notice, CTX)
    assert (started.channel, started.thread) == (HELP, "1100000000000000998")
    assert translate("MESSAGE_UPDATE", notice | {"edited_timestamp": notice["timestamp"]}, CTX) == []
    assert one("MESSAGE_CREATE", "message_create_private_thread").thread_without_opener
    assert one("MESSAGE_CREATE", "message_create_forum_post").thread_without_opener
    assert not one("MESSAGE_CREATE", "message_create_thread").thread_without_opener
    assert not one("MESSAGE_CREATE", "message_create").thread_without_opener
    assert one("MESSAGE_CREATE", "message_create").in_announcements is False


def test_mention_of_the_bot():
    event = one("MESSAGE_CREATE", "message_create_mention")
    assert event.mentions_bot and "who knows" in event.text


def test_only_a_mention_in_the_words_asks_the_bot():
    """Discord lists the author a reply answers among its mentions: a "thanks!" replying to the bot's answer was
    taken for a question (answered with experts "for" thanks, and not stored). The bot's managed role, which Discord
    offers beside it when "@connective" is typed, asks as the bot does; an edit of a question is neither stored nor
    asked again (user walk-through)."""
    reply = load("message_create") | {"type": 19, "content": "thanks, that helped!",
                                      "mentions": [{"id": BOT, "username": "connective", "bot": True}],
                                      "message_reference": {"message_id": "1100000000000000999"}}
    [event] = translate("MESSAGE_CREATE", reply, CTX)
    assert not event.mentions_bot and event.reply_to == "1100000000000000999"
    for content in (f"<@&{BOT_ROLE}> who knows postgres?", f"<@!{BOT}> who knows postgres?"):
        [event] = translate("MESSAGE_CREATE", load("message_create") | {"content": content}, CTX)
        assert event.mentions_bot, content
    [event] = translate("MESSAGE_CREATE", load("message_create") | {"content": "<@&1100000000000000001> hi all"}, CTX)
    assert not event.mentions_bot
    edit = load("message_create_mention") | {"edited_timestamp": "2024-05-02T10:20:00.000000+00:00"}
    assert translate("MESSAGE_UPDATE", edit, CTX) == []


def test_system_messages_dms_and_unknown_channels_are_skipped():
    assert translate("MESSAGE_CREATE", load("message_create_join"), CTX) == []
    dm = load("message_create")
    del dm["guild_id"]
    assert translate("MESSAGE_CREATE", dm, CTX) == []
    elsewhere = load("message_create")
    elsewhere["channel_id"] = "999"
    assert translate("MESSAGE_CREATE", elsewhere, CTX) == []


def test_edit_is_a_new_event_that_never_asks_again():
    event = one("MESSAGE_UPDATE", "message_update")
    assert event.edited and "BRIN" in event.text and not event.mentions_bot
    assert event.event_id == "1100000000000000503:edit:2024-05-02T10:20:00.000000+00:00"
    assert event.time == datetime(2024, 5, 2, 10, 20, tzinfo=UTC)
    partial = {"id": "1", "channel_id": HELP, "guild_id": GUILD, "embeds": []}  # embeds resolved, no content
    assert translate("MESSAGE_UPDATE", partial, CTX) == []


def test_delete_and_reactions():
    deleted = one("MESSAGE_DELETE", "message_delete")
    assert isinstance(deleted, ev.MessageDeleted)
    assert (deleted.message_id, deleted.channel, deleted.thread) == ("1100000000000000503", HELP, THREAD)
    added = one("MESSAGE_REACTION_ADD", "message_reaction_add")
    assert isinstance(added, ev.ReactionAdded)
    assert (added.user, added.message_id, added.reaction, added.event_id) == (
        ASHA,
        "1100000000000000502",
        "👍",
        "",
    )
    assert isinstance(one("MESSAGE_REACTION_REMOVE", "message_reaction_remove"), ev.ReactionRemoved)


def test_reactions_cleared_by_a_moderator():
    """Every reaction of a message (in a thread here), or one emoji's: for everyone, so no user."""
    cleared = one("MESSAGE_REACTION_REMOVE_ALL", "message_reaction_remove_all")
    assert cleared == ev.ReactionsCleared(platform="discord", community=GUILD, user="", channel=HELP, thread=THREAD,
                                          message_id="1100000000000000503", reaction=None, time=cleared.time)
    emoji = one("MESSAGE_REACTION_REMOVE_EMOJI", "message_reaction_remove_emoji")
    assert isinstance(emoji, ev.ReactionsCleared)
    assert (emoji.channel, emoji.thread, emoji.message_id, emoji.reaction) == (HELP, None, "1100000000000000502", "👍")
    # One emoji's without the emoji is no clearing of them all.
    no_emoji = {k: v for k, v in load("message_reaction_remove_emoji").items() if k != "emoji"}
    assert translate("MESSAGE_REACTION_REMOVE_EMOJI", no_emoji, CTX) == []
    assert translate("MESSAGE_REACTION_REMOVE_EMOJI", {**no_emoji, "emoji": {"id": None, "name": None}}, CTX) == []
    assert translate("MESSAGE_REACTION_REMOVE_ALL", {"message_id": "1", "channel_id": HELP}, CTX) == []  # a DM


def test_member_joined():
    joined = one("GUILD_MEMBER_ADD", "guild_member_add")
    assert isinstance(joined, ev.MemberJoined)
    assert (joined.user, joined.user_name, joined.community) == (KENJI, "Kenji Sato", GUILD)


def test_a_member_renamed_in_the_server_goes_by_the_new_name():
    """GUILD_MEMBER_UPDATE, as Slack's user_change: the server nickname first, else the display name."""
    renamed = one("GUILD_MEMBER_UPDATE", "guild_member_update")
    assert isinstance(renamed, ev.MemberJoined)
    assert (renamed.user, renamed.user_name, renamed.community, renamed.event_id) == (
        PETRA, "Petra (DB guild)", GUILD, "")
    [plain] = translate("GUILD_MEMBER_UPDATE", {**load("guild_member_update"), "nick": None}, CTX)
    assert plain.user_name == "Petra Novak"
    assert translate("GUILD_MEMBER_UPDATE", {**load("guild_member_update"), "user": {}}, CTX) == []


def test_member_left():
    left = one("GUILD_MEMBER_REMOVE", "guild_member_remove")
    assert isinstance(left, ev.MemberLeft)
    # GUILD_MEMBER_REMOVE carries no server nickname: the name stored is left as it is (not the global name).
    assert (left.user, left.user_name, left.community, left.is_bot) == (PETRA, "", GUILD, False)


def test_a_channel_deleted_and_the_bot_removed_from_its_server():
    deleted = one("CHANNEL_DELETE", "channel_delete")
    assert isinstance(deleted, ev.ChannelChanged)
    assert (deleted.community, deleted.channel, deleted.change) == (GUILD, HELP, ev.DELETED)
    assert deleted.event_id  # each replica gets it: the admin is told once
    [removed] = translate("GUILD_DELETE", {"id": GUILD}, CTX)
    assert isinstance(removed, ev.ChannelChanged) and (removed.channel, removed.change) == ("", ev.REMOVED)
    assert translate("GUILD_DELETE", {"id": GUILD, "unavailable": True}, CTX) == []  # Discord's outage
    [back] = translate("GUILD_CREATE", load("guild_create"), CTX)
    assert isinstance(back, ev.ChannelChanged) and (back.community, back.change) == (GUILD, ev.RETURNED)


def test_a_channel_made_private():
    """CHANNEL_UPDATE of a channel @everyone may not view (as the cache says now); of a public one or a thread, none."""
    [private] = translate("CHANNEL_UPDATE", {"id": PRIVATE, "guild_id": GUILD, "topic": "plans"}, CTX)
    assert private == ev.ChannelChanged(platform="discord", community=GUILD, user="", channel=PRIVATE,
                                        change=ev.MADE_PRIVATE, time=private.time)
    assert translate("CHANNEL_UPDATE", {"id": HELP, "guild_id": GUILD}, CTX) == []
    assert translate("CHANNEL_UPDATE", {"id": PRIVATE_THREAD, "guild_id": GUILD}, CTX) == []
    assert translate("CHANNEL_UPDATE", {"id": PRIVATE}, CTX) == []  # no server


def test_a_thread_deleted_is_the_deletion_of_its_messages_as_stored():
    """A public thread's messages are stored in its parent under the thread's id, a private one's as a channel of its
    own; a forum post's opening message (the post's id) is deleted with it."""
    [public] = translate("THREAD_DELETE", {"id": THREAD, "guild_id": GUILD, "parent_id": HELP, "type": 11}, CTX)
    assert isinstance(public, ev.ChannelChanged)
    assert (public.channel, public.thread, public.change) == (HELP, THREAD, ev.DELETED) and public.event_id
    [private] = translate("THREAD_DELETE", {"id": PRIVATE_THREAD, "guild_id": GUILD, "parent_id": HELP, "type": 12},
                          CTX)
    assert (private.channel, private.thread) == (PRIVATE_THREAD, PRIVATE_THREAD)
    post, opener = translate("THREAD_DELETE", {"id": FORUM_POST, "guild_id": GUILD, "parent_id": FORUM, "type": 11},
                             CTX)
    assert (post.channel, post.thread) == (FORUM, FORUM_POST)
    assert isinstance(opener, ev.MessageDeleted) and (opener.channel, opener.message_id) == (FORUM, FORUM_POST)
    assert translate("THREAD_DELETE", {"id": THREAD, "guild_id": GUILD, "type": 11}, CTX) == []  # no parent said


def test_slash_commands():
    ask = one("INTERACTION_CREATE", "interaction_whoknows")
    assert isinstance(ask, ev.CommandInvoked)
    assert (ask.name, ask.args, ask.user, ask.channel, ask.is_admin) == (
        "whoknows",
        "postgres index tuning",
        ASHA,
        HELP,
        False,
    )
    assert ask.event_id == "interaction:1100000000000000601"
    # Typed in a thread of #help, it is asked in #help: who talks there counts (ExpertiseService.rank's channel).
    payload = load("interaction_whoknows")
    payload["channel_id"] = THREAD
    [in_thread] = translate("INTERACTION_CREATE", payload, CTX)
    assert (in_thread.channel, in_thread.thread) == (HELP, THREAD)
    skills = one("INTERACTION_CREATE", "interaction_skills_add")
    assert (
        skills.args == "add kubernetes operators, helm"
    )  # options in the core's order, whatever Discord sent
    settings = one("INTERACTION_CREATE", "interaction_settings_ingest")
    assert (settings.name, settings.args, settings.is_admin) == (
        "settings",
        f"ingest <#{PRIVATE}|private-team> on",  # a picked channel as the core reads one, named
        True,
    )


def test_typed_options_become_the_core_argument_text():
    def sub(name: str, options: list[dict], resolved: dict | None = None) -> tuple[str, str]:
        return command_arguments(
            name.split()[0], [{"name": name.split()[1], "type": 1, "options": options}], resolved
        )

    join = [
        {"name": "capacity", "type": 4, "value": 2},
        {"name": "timezone", "type": 3, "value": "Europe/Berlin"},
        {"name": "teach", "type": 3, "value": "kubernetes, helm "},
        {"name": "role", "type": 3, "value": "mentor"},
    ]
    assert sub("mentoring join", join) == (
        "join",
        "mentor teach: kubernetes, helm tz: Europe/Berlin capacity: 2",
    )
    channel = {"channels": {FORUM: {"id": FORUM, "name": "q<a>|b", "type": 15}}}
    subscribe = [
        {"name": "timezone", "type": 3, "value": "Asia/Tokyo"},
        {"name": "channel", "type": 7, "value": FORUM},
        {"name": "schedule", "type": 3, "value": "0 8 * * fri"},
    ]
    assert sub("digest subscribe", subscribe, channel) == (
        "subscribe",
        f"<#{FORUM}|qab> 0 8 * * fri tz=Asia/Tokyo",
    )
    assert sub("digest subscribe", subscribe[1:2]) == ("subscribe", f"<#{FORUM}>")
    assert command_arguments(
        "save",
        [{"name": "note", "type": 3, "value": "read"}, {"name": "url", "type": 3, "value": "https://x.org"}],
    ) == ("", "https://x.org read")


def test_buttons_in_a_guild_and_in_a_dm():
    click = one("INTERACTION_CREATE", "interaction_intro_request")
    assert isinstance(click, ev.ActionClicked)
    assert (click.action, click.value, click.community, click.user) == (
        "intro.request",
        f"7:{PETRA}",
        GUILD,
        ASHA,
    )
    in_dm = one("INTERACTION_CREATE", "interaction_intro_accept_dm")
    assert (in_dm.action, in_dm.value, in_dm.community, in_dm.user) == ("intro.accept", "3", GUILD, PETRA)


def test_malformed_payloads_are_skipped_not_raised():
    assert translate("MESSAGE_CREATE", {"id": "1"}, CTX) == []
    assert translate("MESSAGE_CREATE", "not a dict", CTX) == []
    assert translate("MESSAGE_REACTION_ADD", {"guild_id": GUILD, "channel_id": HELP}, CTX) == []
    assert translate("PRESENCE_UPDATE", {}, CTX) == []
    # Found by fuzzing: a field that is no object where one is expected raised AttributeError out of the translator.
    assert translate("MESSAGE_CREATE", {**load("message_create"), "member": "-5"}, CTX) == []
    assert translate("MESSAGE_REACTION_ADD", {**load("message_reaction_add"), "emoji": "inf"}, CTX) == []
    assert translate("GUILD_MEMBER_REMOVE", {**load("guild_member_remove"), "user": "x"}, CTX) == []
    assert translate("INTERACTION_CREATE", {**load("interaction_whoknows"), "member": "x"}, CTX) == []


def test_custom_ids_round_trip_and_limits():
    assert parse_custom_id(make_custom_id("intro.accept", "3", guild=GUILD)).guild == GUILD
    parsed = parse_custom_id(make_custom_id("intro.request", f"7:{PETRA}"))
    assert (parsed.action, parsed.value, parsed.guild) == ("intro.request", f"7:{PETRA}", None)
    assert make_custom_id("intro.request", "a|b") is None
    assert make_custom_id("x", "y" * 200) is None
    assert parse_custom_id("something else") is None


def test_a_malformed_payload_is_logged_by_its_kind_not_by_what_it_holds(caplog):
    """The log line carried the error's message, which quotes the field it could not read ("Invalid isoformat
    string: '…'"): whatever the payload held there, a member's words possibly. The type is logged, and for a missing
    field its name (privacy audit)."""
    words = "my vpn password is hunter2"
    assert translate("MESSAGE_CREATE", {**load("message_create"), "timestamp": words}, CTX) == []
    assert translate("MESSAGE_CREATE", {k: v for k, v in load("message_create").items() if k != "channel_id"},
                     CTX) == []
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert lines == ["malformed MESSAGE_CREATE payload skipped (ValueError)",
                     "malformed MESSAGE_CREATE payload skipped (KeyError 'channel_id')"], lines
