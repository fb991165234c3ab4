"""URL normalisation: one resource however the link was written or tracked."""
from __future__ import annotations

import pytest

from bot.services.resources import shares_in
from bot.urls import MAX_URL, clean_url, find_links, is_platform_link, normalise_url

SAME_PAGE = [
    "https://www.postgresql.org/docs/current/indexes.html",
    "HTTPS://WWW.PostgreSQL.ORG/docs/current/indexes.html",
    "http://postgresql.org/docs/current/indexes.html",
    "https://postgresql.org:443/docs/current/indexes.html",
    "http://postgresql.org:80/docs/current/indexes.html",
    "https://postgresql.org/docs/current/indexes.html/",
    "https://postgresql.org/docs/current/indexes.html#section-2",
    "https://postgresql.org/docs/./current/../current/indexes.html",
    "https://postgresql.org/docs/current/indexes.html?utm_source=slack&utm_medium=chat&utm_campaign=x",
    "https://postgresql.org/docs/current/indexes.html?fbclid=IwAR0abc&gclid=Cj0K&mc_cid=1&mc_eid=2",
    "https://postgresql.org/docs/current/indexes.html?msclkid=9&_ga=2.1&igshid=xyz",
]


@pytest.mark.parametrize("url", SAME_PAGE)
def test_variants_of_one_page_normalise_to_one_identity(url):
    assert normalise_url(url) == "https://postgresql.org/docs/current/indexes.html"


def test_meaningful_query_is_kept_and_sorted():
    a = normalise_url("https://youtube.com/watch?v=dQw4&t=42&utm_source=x&si=abc&feature=share")
    b = normalise_url("https://www.youtube.com/watch?t=42&v=dQw4")
    assert a == b == "https://youtube.com/watch?t=42&v=dQw4"
    assert normalise_url("https://news.ycombinator.com/item?id=1") != normalise_url(
        "https://news.ycombinator.com/item?id=2")


def test_single_page_app_fragments_are_content_not_anchors():
    assert normalise_url("https://app.example.com/#!/board/7") != normalise_url("https://app.example.com/#!/board/8")
    assert clean_url("https://app.example.com/#/settings") == "https://app.example.com/#/settings"


def test_idn_and_percent_encoding():
    assert normalise_url("https://Bücher.example/straße") == normalise_url("https://xn--bcher-kva.example/stra%C3%9Fe")
    assert normalise_url("https://example.com/%7euser") == normalise_url("https://example.com/~user")


def test_the_link_shown_keeps_its_scheme_and_www_but_loses_tracking():
    assert clean_url("HTTP://WWW.Example.com:80/a/?utm_source=x&b=1#top") == "http://www.example.com/a/?b=1"


@pytest.mark.parametrize("bad", ["", "ftp://example.com/file", "mailto:a@example.com", "https://localhost/x",
                                 "https://exa mple.com/", "https://[::1/x", "https://" + "a" * 3000 + ".com"])
def test_not_resources(bad):
    assert normalise_url(bad) is None


def test_links_in_slack_discord_markdown_and_plain_text():
    text = ("Read <https://a.example/x?utm_source=s|The A guide>, <https://b.example/y>, "
            "[the docs](https://d.example/q) and https://c.example/z). Also (https://e.example/wiki/Foo_(bar)).")
    found = {f.url: f.label for f in find_links(text)}
    assert found == {"https://a.example/x?utm_source=s": "The A guide", "https://b.example/y": "",
                     "https://d.example/q": "the docs", "https://c.example/z": "",
                     "https://e.example/wiki/Foo_(bar)": ""}
    assert find_links("escaped <https://x.example/?a=1&amp;b=2>")[0].url == "https://x.example/?a=1&b=2"


def test_platform_message_links_are_not_resources():
    assert is_platform_link("https://acme.slack.com/archives/C1/p123")
    assert is_platform_link("https://discord.com/channels/1/2/3")
    from datetime import UTC, datetime

    shares = shares_in("see https://acme.slack.com/archives/C1/p123 and https://example.com/post",
                       member_id=1, shared_at=datetime.now(UTC), message_id=None)
    assert [s.url for s in shares] == ["https://example.com/post"]


def test_titles_unfurl_then_label_then_words_then_url():
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    [s] = shares_in("<https://ex.com/p|Label>", member_id=1, shared_at=now, message_id=None,
                    unfurls={"https://ex.com/p?utm_source=x": "Unfurled title"})
    assert s.title == "Unfurled title"
    [s] = shares_in("<https://ex.com/p|Label>", member_id=1, shared_at=now, message_id=None)
    assert s.title == "Label"
    [s] = shares_in("Great write-up on partial indexes: https://ex.com/p", member_id=1, shared_at=now,
                    message_id=None)
    assert s.title == "Great write-up on partial indexes"
    [s] = shares_in("https://ex.com/guides/partial-indexes", member_id=1, shared_at=now, message_id=None)
    assert s.title == "ex.com/…/partial-indexes"


def test_a_link_too_long_once_percent_encoded_is_skipped():
    """930 Japanese characters are 8,130 once percent-encoded: stored, PostgreSQL refused the batch of resources of up
    to 4,000 imported messages (the columns hold 2,048)."""
    long_link = "https://ja.wikipedia.org/wiki/" + "日本語" * 310
    assert len(long_link) < MAX_URL
    assert clean_url(long_link) is None and normalise_url(long_link) is None
    assert clean_url("https://ja.wikipedia.org/wiki/" + "日本語" * 10) is not None


def test_a_domain_typed_in_passing_beside_a_link_is_a_word_not_a_resource():
    """Slack makes a domain typed bare a link labelled with itself (`<http://irccloud.com|irccloud.com>`). Beside a
    link to a page it names a site in the member's sentence: a real week's digest (racket, Mar 5-11 2018) listed
    "irccloud.com" as a resource of its own, and the tweet shared with it was titled by its address
    ("twitter.com/…/971416931373854721"), the words around two links titling neither."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    text = ("If you like <http://irccloud.com|irccloud.com> for IRC (I do) they're testing their own gateway using the "
            "Slack API: <https://twitter.com/IRCCloud/status/971416931373854721>")
    [s] = shares_in(text, member_id=1, shared_at=now, message_id=None)
    assert s.url == "https://twitter.com/IRCCloud/status/971416931373854721"
    assert s.title == "If you like irccloud.com for IRC (I do) they're testing their own gateway using the Slack API"
    text = ("Just saw this: parsing libraries in racket scheme | <http://rain-1.github.io|rain-1.github.io>\n"
            "<https://rain-1.github.io/racket-parsing-libraries.html>")
    [s] = shares_in(text, member_id=1, shared_at=now, message_id=None)
    assert s.title == "Just saw this: parsing libraries in racket scheme | rain-1.github.io"
    # Alone, a typed domain is the resource shared; a label that is not the address is a link's name, as before.
    [s] = shares_in("a problem on <http://exercism.io|exercism.io>", member_id=1, shared_at=now, message_id=None)
    assert s.url == "https://exercism.io" and s.title == "exercism.io"
    assert len(shares_in("<https://a.example/x|The A guide> and <https://b.example/y>", member_id=1, shared_at=now,
                         message_id=None)) == 2


@pytest.mark.parametrize(("variants", "page"), [
    (["https://github.com/racket/racket/issues/1803", "https://github.com/racket/racket/pull/1803",
      "https://github.com/Racket/Racket/pull/1803/files", "https://github.com/racket/racket/pull/1803#issuecomment-1"],
     "https://github.com/racket/racket/issues/1803"),
    (["https://m.youtube.com/watch?v=abc", "https://youtu.be/abc", "https://www.youtube.com/watch?v=abc"],
     "https://youtube.com/watch?v=abc"),
    (["https://mobile.twitter.com/a/status/1", "https://x.com/a/status/1", "https://twitter.com/a/status/1"],
     "https://twitter.com/a/status/1"),
    (["https://en.m.wikipedia.org/wiki/Racket", "https://en.wikipedia.org/wiki/Racket"],
     "https://en.wikipedia.org/wiki/Racket"),
    (["https://www.google.com/amp/s/example.com/story", "https://example-com.cdn.ampproject.org/c/s/example.com/story",
      "https://example.com/story/amp/", "https://example.com/story?amp=1", "https://amp.example.com/story",
      "https://example.com/story?outputType=amp"], "https://example.com/story"),
    (["https://example.com/story.amp.html", "http://example.com/story.html"], "https://example.com/story.html"),
])
def test_mobile_amp_and_github_variants_of_one_page_are_one_resource(variants, page):
    """The brief's duplicates: a page's mobile and AMP copies, and a GitHub issue linked as its pull request (GitHub
    numbers both alike and opens one as the other), each were a resource of their own, listed twice in a digest."""
    assert {normalise_url(v) for v in variants} == {page}


def test_other_pages_stay_apart():
    assert normalise_url("https://github.com/racket/racket/issues/1803") != normalise_url(
        "https://github.com/racket/racket/issues/1804")
    assert normalise_url("https://github.com/racket/racket/blob/master/X.rkt") != normalise_url(
        "https://github.com/racket/racket/blob/master/x.rkt")  # a file's name has its case
    assert normalise_url("https://m.co/x") == "https://m.co/x"  # a registered domain is never cut
    assert normalise_url("https://example.com/amplifier") == "https://example.com/amplifier"
    assert normalise_url("https://example.com:8080/a") == "https://example.com:8080/a"


def test_a_link_in_code_is_not_shared():
    """A URL in a code block or inline code is part of a command, a trace or a program: a real week's digest
    (clojurians, Jan 7-13 2019) listed the upload URL of a curl command, titled "Hey all, can anyone suggest how I
    can twist clj-http's arm into sending such as request ``` curl -i -XPOST -H…". 4 real exports: 75 links in code
    blocks, 47 in inline code, of 2,997."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    text = ("Hey all, can anyone suggest how I can twist `clj-http`'s arm into sending such a request\n```\ncurl -i "
            "-XPOST --data-binary \"@an-image.png\" <https://upload.contentful.com/spaces/space-id/uploads>\n```")
    assert shares_in(text, member_id=1, shared_at=now, message_id=None) == []
    text = "run `curl -L <https://mirror.example.org/racket.sh>` as the guide <https://docs.example.org/install> says"
    assert [s.url for s in shares_in(text, member_id=1, shared_at=now, message_id=None)] == [
        "https://docs.example.org/install"]


def test_a_picture_is_not_a_resource():
    """A screenshot of an error, a GIF in reply, a meme: shown in the chat, not read later. A walk-through's digest
    listed tenor.com GIFs under a heading of their own (ca7d185); the 4 real exports link 24 pictures (gyazo, imgur,
    dropbox screenshots)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for text in ("here is the error <https://gyazo.com/23105ead02ad141f14e8243c3e17ea17.png>",
                 "<https://media.tenor.com/images/7f22622198e3786f805304418f8d35d6/tenor.gif>",
                 "<https://www.dropbox.com/s/2x8ovkcbjfszmgl/Screenshot%202019-03-29%2020.30.34.png?dl=0>",
                 "<https://imgur.com/gallery/abc>"):
        assert shares_in(text, member_id=1, shared_at=now, message_id=None) == [], text
    [s] = shares_in("see <https://i.imgur.com/4sJsDiV.png> and the docs <https://docs.racket-lang.org/pict/>",
                    member_id=1, shared_at=now, message_id=None)
    assert s.url == "https://docs.racket-lang.org/pict"


def test_a_code_block_is_no_words_of_a_title():
    """Real week (clojurians, Jan 14-20 2019): "Is it possible to read session value with github.com/.../peridot? I am
    doing this now in that way: ``` (->> (get-in mock [:cookie-jar…" titled the link."""
    from datetime import UTC, datetime

    text = ("Is it possible to read session value with <https://github.com/xeqi/peridot>? I am doing this now in that "
            "way: ```(->> (get-in mock [:cookie-jar \"localhost\" \"ring-session\"]) :value)``` but it does not work")
    [s] = shares_in(text, member_id=1, shared_at=datetime.now(UTC), message_id=None)
    assert "```" not in s.title and "cookie-jar" not in s.title and s.title.endswith("but it does not work"), s.title
