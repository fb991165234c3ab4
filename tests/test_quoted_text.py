"""Member text the bot quotes beyond the who-knows card (the digest's waiting questions and resources, the reasons
in an intro request) is shown as text by the real Slack and Discord renderers, and the console prints the
control characters in member text instead of obeying them."""
from __future__ import annotations

from datetime import UTC, datetime

from adapters.console import ConsoleAdapter
from adapters.discord.render import render_document
from adapters.slack.blocks import message
from bot.actions import Document
from bot.services.digest_compose import Candidate, DigestContent, WaitingQuestion, to_document
from matching.text import shown
from tests.exports import TEAM, THREADS, USERS, write_slack_export

NOW = datetime(2024, 3, 11, 9, tzinfo=UTC)
# Two masked links (escape_markdown alone leaves the second live), code fences and emphasis a quote cut
# later would leave unclosed, and broadcasts as they read after clean(): Slack's &lt;!channel&gt; is <!channel>.
MEMBER = "[docs](https://evil.example/a) [this](https://evil.example/b) ```sql *x* <!channel> @everyone"


def slack_text(doc: Document) -> str:
    rendered = message(doc)
    return rendered["text"] + "\n" + "\n".join(b["text"]["text"] for b in rendered["blocks"] if "text" in b)


def discord_text(doc: Document) -> str:
    rendered = render_document(doc)
    assert rendered.send_kwargs()["allowed_mentions"].to_dict() == {"parse": []}
    return (rendered.content or "") + "\n" + "\n".join(e.description or "" for e in rendered.embeds)


def assert_inert_on_slack(text: str) -> None:
    assert "`" not in text and "*x*" not in text  # nothing turns into code or bold …
    assert "\u02cb\u02cb\u02cbsql \u2217x\u2217" in text  # … the characters are shown as lookalikes
    assert "<!" not in text and "<https://evil" not in text  # no broadcast, no link of the member's


def assert_inert_on_discord(text: str) -> None:
    assert "\\[docs](https://evil.example/a)" in text and "\\[this](https://evil.example/b)" in text
    assert "\\`\\`\\`sql \\*x\\*" in text
    assert "@everyone" not in text


def test_the_digest_quotes_waiting_questions_and_resources_as_text():
    content = DigestContent(
        period="Mar 4 – Mar 11, 2024",
        groups=[("Postgres", [Candidate(resource_id=1, title=f"a](https://evil.example/t) {MEMBER}",
                                        link="https://ok.example/", sharer="Petra", reactions=2,
                                        note=MEMBER),
                                  Candidate(resource_id=2, title="a](/t) [b](/u) ```x", link="https://ok.example/2",
                                            sharer="Petra", reactions=1)])],
        questions=[WaitingQuestion(text=MEMBER, asker="*Kim*", channel="help",
                                   asked_at=datetime(2024, 3, 8, tzinfo=UTC),
                                   permalink="https://acme.slack.com/archives/C1/p1")],
    )
    doc = to_document(content, now=NOW)

    slack = slack_text(doc)
    assert_inert_on_slack(slack)
    assert "(\u2217Kim\u2217 in #help, 3 days ago) (<https://acme.slack.com/archives/C1/p1|view>)" in slack
    # A title naming other addresses than its link's is not its label (it would read one and open another) …
    assert "• <https://ok.example/|ok.example>" in slack
    assert "• <https://ok.example/2|a](/t) [b](/u) \u02cb\u02cb\u02cbx>" in slack  # … another one is, as text

    discord = discord_text(doc)
    assert_inert_on_discord(discord)
    assert "(\\*Kim\\* in #help, 3 days ago) ([message](https://acme.slack.com/archives/C1/p1))" in discord
    assert "• [ok.example](https://ok.example/)" in discord and "evil.example/t" not in discord
    assert "• [a\\](/t) \\[b\\](/u) \\`\\`\\`x](https://ok.example/2)" in discord  # its ] ends no label early


async def test_an_intro_request_quotes_the_experts_messages_as_text(app, tmp_path):
    threads = [list(t) for t in THREADS]
    threads[0][1] = ("UPG", "[docs](https://e.vil/a) [this](https://e.vil/b) ```sql *x* &lt;!channel&gt; "
                            "EXPLAIN ANALYZE; the btree index on created_at is skipped when the predicate casts it")
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, threads))
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack",
                             clock=lambda: datetime(2024, 3, 4, 9, tzinfo=UTC))
    await console.say("UASK1", "who knows why postgres ignores my index?")
    [reply] = console.sent
    card = reply.doc.sections[0].experts[0]
    assert card.user == "UPG"
    await console.say("UASK1", f"/click intro.request {card.buttons[0].value}")
    _, request = console.sent[1:]
    assert request.user == "UPG" and "e.vil" in request.doc.plain()  # the request quotes her answer

    slack = slack_text(request.doc)
    assert "`" not in slack and "\u02cb\u02cb\u02cbsql \u2217x\u2217" in slack and "<!" not in slack
    assert "|view>)" in slack  # the bot's own link to her message still works
    discord = discord_text(request.doc)
    assert "\\[docs](https://e.vil/a)" in discord and "\\[this](https://e.vil/b)" in discord
    assert "\\`\\`\\`sql \\*x\\*" in discord and "([message](https://slack.com/archives/" in discord


async def test_the_console_shows_control_characters_in_member_text(app, tmp_path):
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
    skill = "rust\x1b[2J\x1b]0:pwned\x07 \x9b31m red\r over \u202eleft-to-right"
    [added] = await console.say("UPG", f"/skills add {skill}, go")
    [me] = await console.say("UPG", "/me", user_name="Pe\x1b[8mtra")  # ESC[8m hides what follows
    for out in (added, me):
        assert not any(ch in out for ch in "\x1b\x07\x9b\r\u202e"), repr(out)
    assert "rust red over left-to-right, go" in added  # a skill is stored without them (safety.plain)
    assert "name: Pe\\x1b[8mtra" in me and "\n• skills:" in me  # the layout keeps its lines


def test_a_channel_named_in_a_quote_reads_as_its_name():
    """`<#C1|general>` was dropped from quotes with the other markup, and the sentence no longer read (audit 10)."""
    assert shown("nginx message about <#C1|general> and <https://nginx.org|nginx docs>") == (
        "nginx message about #general and nginx docs")
    assert shown("ask in <#C053AK3F9|beginners>, they know") == "ask in #beginners, they know"
    assert shown("see <#123456789012345678> for that") == "see #channel for that"  # Discord names no channel


def test_mentions_of_ids_other_platforms_have():
    """A history converted from another platform mentions its own ids: a UUID's mention was no mention (audit 12),
    so who talks with whom was lost there."""
    from matching.text import mentioned_users

    assert mentioned_users("ask <@0f8fad5b-d9cb-469f-a165-70867728950e>, <@U024BE7LH|bob> or <@!80351110224678912>") \
        == ["0f8fad5b-d9cb-469f-a165-70867728950e", "U024BE7LH", "80351110224678912"]


def test_code_in_a_quote_is_shown_as_written():
    """Punctuation is tidied only where a mention was taken out: over the whole text it showed `#[tokio::main]` as
    "#[tokio:main]" and Racket's "(a . b)" as "(a. b)" (audit 15)."""
    for code in ("Use reqwest with the tokio runtime: #[tokio::main] async fn main()",
                 "how to use std::fs::read_to_string ?", "'(a . b) is a pair, and x :: Int a type"):
        assert shown(code) == code
    assert shown("hey <!here> , look at `a::b`, <@UX> , ok") == "hey, look at `a::b`, ok"
