"""Links in chat messages: found in Slack, Discord and plain text, normalised so one resource is one row.

RFC 3986 normalisation (scheme and host case, IDN, default ports, percent-encoding, dot segments)
is url-normalize's job; this module adds what is specific to sharing links in chat: tracking
parameters, fragments, trailing slashes, `www.`, and the `<url|label>` / `<url>` markup.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList
from url_normalize import url_normalize

MAX_URL = 2000  # longer links are skipped: they are data blobs, not resources

# Query parameters that say who sent the click, not what the page is.
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "hsa_", "_hs", "oly_")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
    "igshid", "mkt_tok", "_ga", "_gl", "vero_id", "vero_conv", "ref_src", "ref_url", "s_cid", "cmpid",
    "__s", "si", "feature", "rcm", "trk", "trkcampaign", "sc_campaign", "spm",
})
# Links to the chat platforms' own messages and files are discussions, not resources.
PLATFORM_HOSTS = ("slack.com", "slack-edge.com", "discord.com", "discordapp.com", "discord.gg",
                  "discordapp.net", "slack-files.com")

_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|([^>]*))?>", re.I)
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(<?(https?://[^)\s>]+)>?\)", re.I)
_BARE_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?\"'»”’*_~"


@dataclass(frozen=True)
class FoundLink:
    url: str  # as written (markup removed)
    label: str = ""  # the link text, when the markup had one
    # The label is the address itself: a domain typed bare in a sentence, which Slack made a link
    # (`<http://irccloud.com|irccloud.com>`). Beside a link to a page, it names a site in the member's words.
    typed: bool = False


def _typed_address(url: str, label: str) -> bool:
    bare = re.sub(r"^https?://", "", url, flags=re.I).rstrip("/").lower()
    return label.rstrip("/").lower() in (bare, bare.removeprefix("www."))


def trim_link(url: str) -> str:
    """Drop punctuation that ends the sentence, and a closing bracket the link did not open."""
    while url and url[-1] in _TRAILING:
        url = url[:-1]
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1]
    return url


def find_links(text: str) -> list[FoundLink]:
    """Links in message text, each once: Slack `<url|label>`, Discord `<url>`, Markdown
    `[label](url)`, and bare URLs."""
    found: list[FoundLink] = []
    seen: set[str] = set()

    def add(url: str, label: str = "") -> None:
        url = trim_link(url.replace("&amp;", "&"))
        if url and url not in seen:
            seen.add(url)
            label = label.strip() if label and label.strip() != url else ""
            found.append(FoundLink(url, label, typed=bool(label) and _typed_address(url, label)))

    text = text or ""
    for m in _SLACK_LINK.finditer(text):
        add(m.group(1), m.group(2) or "")
    rest = _SLACK_LINK.sub(" ", text)
    for m in _MARKDOWN_LINK.finditer(rest):
        add(m.group(2), m.group(1))
    rest = _MARKDOWN_LINK.sub(" ", rest)
    for m in _BARE_LINK.finditer(rest):
        add(m.group(0))
    return found


# Code, in a block or inline: a URL there is part of a command, a stack trace or a program, not a link shared.
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`", re.S)


def shared_links(text: str) -> list[FoundLink]:
    """The links a message shares: `find_links` outside code (a real week's digest listed a curl command's upload
    URL, titled by the question around it), not to a picture, and less the domains typed bare beside a link to a page
    ("If you like irccloud.com for IRC, they're testing a gateway: <tweet>" shares the tweet; the real weeks' digests
    listed "irccloud.com" as a resource of its own, and the tweet lost the words around it for a title)."""
    found = [f for f in find_links(_CODE.sub(" ", text or "")) if not is_image_link(clean_url(f.url) or f.url)]
    pages = [f for f in found if not f.typed and not is_platform_link(clean_url(f.url) or f.url)]
    return [f for f in found if not f.typed] if pages else found


def _is_tracking(name: str) -> bool:
    lower = name.lower()
    return lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES)


def clean_url(url: str) -> str | None:
    """The link to show: RFC-normalised, without tracking parameters or a plain fragment. None when
    it is not an http(s) URL worth keeping."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return None
    url, _, fragment = url.partition("#")
    try:
        parts = urlsplit(url_normalize(url, default_scheme="https") or "")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    # Hash-bang and "#/route" fragments address content in single-page apps; others are anchors.
    fragment = fragment if fragment.startswith(("!", "/")) else ""
    cleaned = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query, doseq=True), fragment))
    # Measured as stored: percent-encoding makes a link of 930 Japanese characters 8,130 long. Over the columns' size
    # PostgreSQL refused the whole batch of resources (every link of up to 4,000 imported messages).
    return cleaned if len(cleaned) <= MAX_URL else None


# One page under another address: a site's mobile and AMP copies, Google's AMP cache, a short or renamed host, a
# GitHub issue linked as its pull request. No permissively licensed library knows these (ural, which does, is GPL).
_SAME_SITE_LABELS = frozenset({"m", "mobile", "amp"})  # en.m.wikipedia.org, mobile.twitter.com, amp.theguardian.com
_AMP_CACHE = re.compile(r"^/(?:amp/s|c/s)/(.+)$")  # google.com/amp/s/HOST/PATH, HOST.cdn.ampproject.org/c/s/HOST/PATH
_AMP_PATH = re.compile(r"(?:\.amp(?=\.html$)|\.amp$|(?<=/)amp$)", re.I)  # /a/amp, /a.amp.html, /a.amp
_GITHUB_ISSUE = re.compile(r"^/([^/]+)/([^/]+)/(?:issues|pull)/(\d+)(?:/(?:files|commits|checks))?$")
_RENAMED_HOSTS = {"x.com": "twitter.com", "youtu.be": "youtube.com"}


@functools.cache
def registered_domains() -> PublicSuffixList:
    """The Public Suffix List's ICANN section: a host's own registered domain (githubusercontent.com, not raw.…)."""
    return PublicSuffixList(only_icann=True)


def _same_page(host: str, path: str, query: list[tuple[str, str]]) -> tuple[str, str, list[tuple[str, str]]]:
    """The address of the page itself, for the variants above (host without `www.`, path without a trailing slash)."""
    if (host == "google.com" or host.endswith(".cdn.ampproject.org")) and (cached := _AMP_CACHE.match(path)):
        target = normalise_url("https://" + cached.group(1))
        if target:
            parts = urlsplit(target)
            return parts.netloc, parts.path, parse_qsl(parts.query, keep_blank_values=True)
    host, colon, port = host.partition(":")
    registered = registered_domains().privatesuffix(host) or host
    labels = host.removesuffix(registered).rstrip(".").split(".") if host != registered else []
    host = ".".join([label for label in labels if label not in _SAME_SITE_LABELS] + [registered]) + colon + port
    if host == "youtu.be" and path.count("/") == 1 and len(path) > 1:
        path, query = "/watch", [*query, ("v", path[1:])]
    host = _RENAMED_HOSTS.get(host, host)
    path = _AMP_PATH.sub("", path).rstrip("/")
    query = [(k, v) for k, v in query if k.lower() != "amp" and not (k.lower() == "outputtype" and v.lower() == "amp")]
    if host == "github.com":
        if issue := _GITHUB_ISSUE.match(path):  # one number per repository: /issues/N of a pull request opens it
            path = f"/{issue.group(1)}/{issue.group(2)}/issues/{issue.group(3)}"
        segments = path.split("/")
        path = "/".join([*(s.lower() for s in segments[:3]), *segments[3:]])  # owner and repository: any case
    return host, path, query


def normalise_url(url: str) -> str | None:
    """The identity of a resource: `clean_url` plus http = https, no `www.`, no trailing slash, sorted query
    parameters, and one address for a page's mobile and AMP copies and a GitHub issue's pull request. Two shares of
    one page give the same string."""
    cleaned = clean_url(url)
    if cleaned is None:
        return None
    parts = urlsplit(cleaned)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/") if parts.path != "/" else ""
    host, path, query = _same_page(host, path, parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(("https", host, path, urlencode(sorted(query), doseq=True), parts.fragment))


# Where a Slack export's messages link: an export names no workspace host (see workspace_address).
SLACK_ARCHIVES = "https://slack.com/archives/"


def workspace_address(value: str) -> str | None:
    """A Slack workspace's own address as https://HOST/ (auth.test's `url`: https://acme.slack.com/), or None when
    `value` is not one: a bare https host, no path, query, port or credentials."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if (parts.scheme.lower() != "https" or "." not in host or parts.path.strip("/") or parts.query or parts.fragment
            or port is not None or parts.username is not None or not re.fullmatch(r"[a-z0-9.-]+", host)):
        return None
    return f"https://{host}/"


# A picture is shown in the chat, not read later: a screenshot of an error, a GIF in reply, a meme. A walk-through's
# digest listed tenor.com GIFs under a heading of their own.
_IMAGE_FILE = re.compile(r"\.(?:png|jpe?g|gif|webp|bmp|svg|heic|tiff?)$", re.I)
IMAGE_HOSTS = ("tenor.com", "giphy.com", "gyazo.com", "imgur.com")


def is_image_link(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return bool(_IMAGE_FILE.search(parts.path)) or any(host == h or host.endswith("." + h) for h in IMAGE_HOSTS)


def is_platform_link(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in PLATFORM_HOSTS)


def readable_url(url: str, limit: int = 80) -> str:
    """A short human form for a link without a title: host and the last path segment."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    tail = [p for p in parts.path.split("/") if p]
    shown = host + ("/…/" + tail[-1] if len(tail) > 1 else "/" + tail[0] if tail else "")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# An address written in a link's title: with a scheme or "www." anywhere, or a bare domain as the whole title.
_ADDRESS_IN_TITLE = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)([^\s/?#<>|\]\[()]+)", re.I)
_DOMAIN_TITLE = re.compile(r"\s*((?:[\w-]+\.)+[a-z]{2,})(?::\d+)?(?:[/?#]\S*)?\s*", re.I)


def _host_of(written: str) -> str:
    host = written.rsplit("@", 1)[-1].split(":", 1)[0].strip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.removeprefix("www.")


def honest_title(title: str, link: str) -> str:
    """A link's title as the bot shows it on the link: where the title names another address than the link's own
    (a Slack `<https://evil.example|https://good.example>`, a Markdown `[paypal.com](https://evil.example)`, an unfurled
    page titled with another site's address), the link's readable form instead. Shown as the link's label in a
    digest, the title would say one address and open another."""
    host = _host_of(urlsplit(link).hostname or "")
    named = [m.group(1) for m in _ADDRESS_IN_TITLE.finditer(title or "")]
    whole = _DOMAIN_TITLE.fullmatch(title or "")
    if whole:
        named.append(whole.group(1))
    for written in named:
        other = _host_of(written)
        if other and other != host and not host.endswith("." + other):
            return readable_url(link)
    return title
