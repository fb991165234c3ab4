"""The neutral Document as Discord embeds and persistent buttons, within Discord's limits."""

from __future__ import annotations

from adapters.discord.render import render_document
from bot.actions import Button, Document, Evidence, ExpertCard, ResourceItem, Section

GUILD = "1100000000000000001"


def _card(n: int) -> ExpertCard:
    return ExpertCard(
        user=str(1100000000000000200 + n),
        name=f"Member {n}",
        score=1.0 / n,
        why=(
            Evidence("answered 4 threads on postgres " + "x" * 900, f"https://discord.com/channels/1/2/{n}"),
        ),
        buttons=(Button("Request intro", "intro.request", f"7:{1100000000000000200 + n}"),),
    )


def test_expert_cards_become_embeds_with_evidence_and_buttons_within_limits():
    doc = Document(
        text="People who can likely help:", sections=(Section(experts=tuple(_card(n) for n in range(1, 13))),)
    )
    rendered = render_document(doc)
    assert rendered.content == "People who can likely help:"
    assert len(rendered.embeds) == 10  # Discord's maximum; each quote is cut so that the cards fit
    assert sum(len(e) for e in rendered.embeds) <= 6000
    first = rendered.embeds[0].to_dict()
    assert first["title"] == "1. Member 1" and "<@1100000000000000201>" in first["description"]
    assert "footer" not in rendered.embeds[9].to_dict()  # no "score 0.10": the order and the evidence say why
    assert "[message](https://discord.com/channels/1/2/1)" in first["description"]
    ids = [item.custom_id for item in rendered.view.children]
    assert ids[0] == "intro.request|7:1100000000000000201" and len(ids) == 12
    assert rendered.send_kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def test_quoted_evidence_is_shown_as_text_and_its_message_link_still_works():
    quote = (
        "“read the [official docs](https://evil.example/a) or [this](https://evil.example/b), "
        "then ```kubectl rollout *undo*…” (#dev_ops, 2024-05-01)"
    )
    card = ExpertCard(
        user="1100000000000000203",
        name="Kenji",
        score=1.0,
        why=(Evidence(quote, "https://discord.com/channels/1/2/3"),),
    )
    [embed] = render_document(Document(text="People:", sections=(Section(experts=(card,)),))).embeds
    description = embed.description
    assert "\\[official docs](https://evil.example/a)" in description  # not links of the bot's
    assert "\\[this](https://evil.example/b)" in description
    assert "\\`\\`\\`kubectl rollout \\*undo\\*" in description  # no code block takes the link below
    assert description.endswith(" ([message](https://discord.com/channels/1/2/3))")


def test_a_quote_cut_to_fit_never_cuts_its_link():
    """A quote keeps a long link whole (racket-2019: a TensorFlow playground link of 440 characters): cut at the
    evidence's limit, the card showed a link to a page that is not there. The cut falls before the link."""
    link = "https://playground.tensorflow.org/#activation=tanh" + "&batchSize=10" * 30
    quote = f"“There is a playground you can use for… {link}” (#general, 2019-02-22)"
    card = ExpertCard(user="1100000000000000203", name="Terrence", score=1.0,
                      why=(Evidence(quote, "https://discord.com/channels/1/2/3"),))
    [embed] = render_document(Document(text="People:", sections=(Section(experts=(card,)),))).embeds
    assert "• “There is a playground you can use for… ([message](https://discord.com/channels/1/2/3))" in (
        embed.description), embed.description
    assert "playground.tensorflow.org" not in embed.description


def test_buttons_sent_in_a_dm_name_the_server_and_overlong_ones_are_dropped():
    doc = Document(
        text="Would you like an intro?",
        sections=(
            Section(
                buttons=(Button("Accept", "intro.accept", "3", style="primary"), Button("x", "a", "v" * 99))
            ),
        ),
    )
    rendered = render_document(doc, guild=GUILD)
    [accept] = rendered.view.children
    assert accept.custom_id == f"intro.accept|3|{GUILD}"


def test_sections_and_resources():
    doc = Document(
        text="Digest",
        sections=(
            Section(
                heading="Postgres",
                text="Best of the week",
                resources=(
                    ResourceItem("Use the index, Luke", "https://use-the-index-luke.com", note="3 👍"),
                ),
            ),
        ),
    )
    [embed] = render_document(doc).embeds
    assert embed.title == "Postgres"
    assert "[Use the index, Luke](https://use-the-index-luke.com) — 3 👍" in embed.description
    assert render_document(doc).view is None


def test_a_digest_topic_is_one_embed_under_its_heading():
    """A digest's topic has a heading and links, no text: it was two embeds, the heading alone on a card of its own and
    the links on the next (real weeks rendered: 5 to 7 embeds for 2 to 3 topics)."""
    links = tuple(ResourceItem(f"Guide {n}", f"https://example.org/{n}", note="thanked by 2") for n in range(3))
    doc = Document(text="Community digest, Jan 7 – Jan 13, 2019",
                   sections=(Section(heading="racket-lang.org", resources=links),
                             Section(heading="Also worth a look", resources=links[:1])))
    embeds = render_document(doc).embeds
    assert [e.title for e in embeds] == ["racket-lang.org", "Also worth a look"]
    assert embeds[0].description.startswith("• [Guide 0](https://example.org/0) — thanked by 2")
