#!/usr/bin/env python3
# ruff: noqa: E501  (the content blocks are prose, one message per line)
"""Generate connective's bundled sample community: a fictional Slack workspace export.

    python bot/sample/make_sample.py            # writes bot/sample/community/ (replacing it)
    python bot/sample/make_sample.py --out DIR  # somewhere else

Output, laid out exactly like a Slack export:
    users.json, channels.json, <channel>/<YYYY-MM-DD>.json   (day files dated in UTC)
plus two connective-specific sidecars that are *not* part of a Slack export:
    mentoring.json (mentoring enrolment for the demo) and README.md (who the experts are).

The community ("Lantern Commons") and everyone in it are fictional. Stdlib only, deterministic:
every random choice comes from one random.Random(SEED), ids are hashes of the member keys.

The Q&A content lives in the CONTENT_* blocks at the bottom, in a small line format:

    === <channel> <topic> [week=N] [day=N]     starts an item (thread or standalone message)
    key: text                                  a message by member `key`; the first one is the root
        continuation                           (4 spaces) continues the previous message on a new line

`<@key>` in a text becomes a mention of that member. Text is written plainly; the script applies
Slack's escaping (& < > become &amp; &lt; &gt;, also inside link URLs) when writing the export.
Topics: the Q&A topic keys in TOPICS; "link" (a shared link), "community" (announcement), "social".
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import re
import shutil
import uuid
from pathlib import Path

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - zoneinfo is stdlib since 3.9
    ZoneInfo = None  # type: ignore[assignment,misc]
    ZoneInfoNotFoundError = Exception  # type: ignore[assignment,misc]

SEED = 20261120
TEAM_ID = "T0SAMPLE01"
COMMUNITY = "Lantern Commons"
FIRST_DAY = dt.date(2026, 9, 14)  # a Monday; ten working weeks up to ...
LAST_DAY = dt.date(2026, 11, 20)  # ... this Friday
UTC = dt.UTC
END_TS = dt.datetime.combine(LAST_DAY, dt.time(23, 59, 59), tzinfo=UTC).timestamp()
DEFAULT_OUT = Path(__file__).resolve().parent / "community"

# ---------------------------------------------------------------------------------------------
# People. tz_offset is the offset on LAST_DAY (what Slack reports "now"); it is used only when
# the system has no tz database. role: expert | regular | member | deleted.
# ---------------------------------------------------------------------------------------------
PEOPLE = [
    # key, handle, real name, display name, title, tz, tz_offset, role
    ("priya", "priya.r", "Priya Raghunathan", "Priya", "Senior Backend Engineer", "Asia/Kolkata", 19800, "expert"),
    ("tomas", "tomas.h", "Tomás Herrera", "Tomás", "Python Tooling Maintainer", "Europe/Madrid", 3600, "expert"),
    ("ingrid", "ingrid", "Ingrid Solberg", "Ingrid", "Analytics Engineer", "Europe/Oslo", 3600, "expert"),
    ("kwame", "kwame.m", "Kwame Mensah", "Kwame", "Data Engineer", "Africa/Accra", 0, "expert"),
    ("mariusz", "mariusz.z", "Mariusz Zieliński", "Mariusz", "Database Reliability Engineer", "Europe/Warsaw",
     3600, "expert"),
    ("mateus", "mateus", "Mateus Oliveira", "Mateus", "Platform Engineer", "America/Sao_Paulo", -10800, "expert"),
    ("aiko", "aiko.n", "Aiko Nakamura", "aiko", "DevOps Engineer", "Asia/Tokyo", 32400, "expert"),
    ("siobhan", "siobhan", "Siobhán Byrne", "Siobhán", "SRE Lead", "Europe/Dublin", 0, "expert"),
    ("fatima", "fatima.as", "Fatima Al-Sayed", "Fatima", "ML Platform Engineer", "Asia/Dubai", 14400, "expert"),
    ("wei", "wei.zhang", "Wei Zhang", "", "Machine Learning Engineer", "Asia/Shanghai", 28800, "expert"),
    ("chloe", "chloe.m", "Chloé Martin", "Chloé", "Frontend Architect", "Europe/Paris", 3600, "expert"),
    ("sofia", "sofia.r", "Sofía Ramírez", "Sofi", "Senior Frontend Developer", "America/Mexico_City", -21600,
     "expert"),
    ("grace", "grace.o", "Grace Okafor", "Grace", "Engineering Manager", "Africa/Lagos", 3600, "expert"),
    ("daniel", "dcohen", "Daniel Cohen", "Dan", "Staff Engineer", "America/New_York", -18000, "expert"),
    ("hemi", "hemi.p", "Hemi Parata", "Hemi", "Systems Programmer", "Pacific/Auckland", 46800, "expert"),
    ("bjorn", "bjorn.l", "Björn Lindqvist", "Björn", "GIS Developer", "Europe/Stockholm", 3600, "expert"),
    ("sam", "samt", "Sam Taylor", "Sam", "Full-stack Developer", "America/Chicago", -21600, "regular"),
    ("mehmet", "mehmet.y", "Mehmet Yılmaz", "Mehmet", "Software Engineer", "Europe/Istanbul", 10800, "regular"),
    ("leilani", "leilani.k", "Leilani Kahale", "Leilani", "Developer Advocate", "Pacific/Honolulu", -36000,
     "regular"),
    ("arjun", "arjun.m", "Arjun Mehta", "Arjun", "Backend Engineer", "Asia/Singapore", 28800, "regular"),
    ("olivia", "olivia.n", "Olivia Nguyen", "Olivia", "Junior Data Analyst", "Australia/Sydney", 39600, "member"),
    ("jamal", "jamal.w", "Jamal Washington", "Jamal", "Software Developer", "America/Los_Angeles", -28800, "member"),
    ("elena", "elena.p", "Elena Popescu", "Elena", "Backend Developer", "Europe/Bucharest", 7200, "member"),
    ("hyunwoo", "hyunwoo.park", "Park Hyun-woo", "Hyun-woo", "Data Scientist", "Asia/Seoul", 32400, "member"),
    ("amara", "amara.d", "Amara Diallo", "Amara", "QA Automation Engineer", "Africa/Dakar", 0, "member"),
    ("nadia", "nadia.h", "Nadia Haddad", "Nadia", "Research Engineer", "Asia/Beirut", 7200, "member"),
    ("lucia", "lucia.f", "Lucía Fernández", "Lucía", "Frontend Developer", "America/Argentina/Buenos_Aires", -10800,
     "member"),
    ("tariq", "tariq.h", "Tariq Hussain", "Tariq", "Software Engineer", "Asia/Karachi", 18000, "member"),
    ("emma", "emma.v", "Emma Virtanen", "", "Product Engineer", "Europe/Helsinki", 7200, "member"),
    ("marcus", "marcus.b", "Marcus Brown", "Marcus", "Site Reliability Engineer", "America/Toronto", -18000,
     "member"),
    ("zainab", "zainab.b", "Zainab Bello", "Zainab", "Data Analyst", "Africa/Lagos", 3600, "member"),
    ("thanh", "thanh.t", "Thanh Tran", "Thanh", "Mobile Developer", "Asia/Ho_Chi_Minh", 25200, "member"),
    ("isabella", "isa.rossi", "Isabella Rossi", "Isa", "Junior ML Engineer", "Europe/Rome", 3600, "member"),
    ("noah", "noahw", "Noah Williams", "noah", "CS Student", "America/Denver", -25200, "member"),
    ("mei", "meiling", "Chen Mei-ling", "Mei-ling", "Backend Engineer", "Asia/Taipei", 28800, "member"),
    ("pkeane", "pkeane", "Patrick Keane", "Patrick", "Backend Developer", "Europe/London", 0, "deleted"),
]
BOT = {"key": "standupbot", "handle": "standup-bot", "real_name": "Standup Bot", "tz": "America/Los_Angeles",
       "tz_offset": -28800}
ADMINS = {"grace", "leilani"}

# Topic key -> (label, experts in order of prominence). The README is generated from this table.
TOPICS = {
    "packaging": ("Python packaging & typing", ["priya", "tomas"]),
    "wrangling": ("pandas/SQL data wrangling", ["ingrid", "kwame"]),
    "postgres": ("PostgreSQL performance", ["mariusz"]),
    "k8s": ("Kubernetes & Docker", ["mateus", "aiko"]),
    "observability": ("Observability (Prometheus, OpenTelemetry, logs, SLOs)", ["siobhan"]),
    "mlops": ("ML training & MLOps", ["fatima", "wei"]),
    "frontend": ("React/TypeScript frontend", ["chloe", "sofia"]),
    "career": ("Career & interviewing", ["grace", "daniel"]),
    "rust": ("Rust, PyO3 & WebAssembly (niche)", ["hemi"]),
    "gis": ("GIS / geospatial (niche)", ["bjorn"]),
}
REGULARS = ["sam", "mehmet", "leilani", "arjun"]

DEMO_QUESTIONS = [
    ("Who can help me figure out why Postgres ignores my index and does a sequential scan?", "mariusz"),
    ("Who knows how to debug pods that keep getting OOMKilled in Kubernetes?", "mateus"),
    ("Who has experience writing Python extensions in Rust with PyO3 and maturin?", "hemi"),
]

CHANNELS = [
    # name, creator, created (UTC date), purpose, initial topic, is_general
    ("general", "grace", dt.date(2024, 2, 5), "Announcements and community-wide discussion for Lantern Commons.",
     "Community call: first Thursday of the month, 17:00 UTC", True),
    ("python-help", "leilani", dt.date(2024, 2, 5), "Python questions of all kinds: packaging, typing, tooling.",
     "Post tracebacks in threads, please", False),
    ("data-engineering", "leilani", dt.date(2024, 2, 12),
     "Pipelines, SQL, pandas/Polars, warehouses, Postgres and geospatial data.", "SQL, pandas, dbt, Postgres", False),
    ("ml-ops", "grace", dt.date(2024, 3, 4), "Training, evaluating, serving and operating ML models.",
     "From notebook to production", False),
    ("frontend", "leilani", dt.date(2024, 2, 12), "React, TypeScript, CSS, browsers and build tooling.",
     "React, TypeScript, CSS", False),
    ("devops-k8s", "grace", dt.date(2024, 2, 19), "Kubernetes, Docker, CI/CD and observability.",
     "Kubernetes and Docker", False),
    ("career", "grace", dt.date(2024, 2, 5), "Interviews, growth, feedback, negotiation, on-call nerves.",
     "No question is too small", False),
    ("random", "grace", dt.date(2024, 2, 5), "Non-work banter and water-cooler chat.", "Be nice :slightly_smiling_face:",
     False),
]
TOPIC_CHANGES = [  # channel, who, week, new topic
    ("devops-k8s", "mateus", 1, "Kubernetes, Docker, Helm, CI/CD and observability. Logs and YAML go in threads :pray:"),
    ("frontend", "chloe", 3, "React, TypeScript, CSS, a11y. Share a minimal repro (StackBlitz/CodeSandbox) if you can"),
]
# Members who join a channel during the ten weeks (a channel_join message before their first post).
JOINS = [
    ("noah", "general"), ("thanh", "general"), ("zainab", "general"), ("marcus", "general"),
    ("isabella", "general"), ("olivia", "data-engineering"), ("jamal", "frontend"), ("marcus", "devops-k8s"),
    ("isabella", "ml-ops"), ("thanh", "career"), ("noah", "python-help"), ("zainab", "data-engineering"),
]
MENTORING = [
    # key, role, can_teach, wants_to_learn, capacity
    ("priya", "mentor", ["python packaging", "typing", "mypy"], [], 2),
    ("tomas", "mentor", ["python tooling", "ruff", "building wheels"], [], 1),
    ("mariusz", "mentor", ["postgresql performance", "query plans", "indexing"], [], 2),
    ("mateus", "both", ["kubernetes", "debugging pods", "zero-downtime deploys"], ["rust"], 2),
    ("siobhan", "mentor", ["observability", "prometheus", "slos", "on-call"], [], 2),
    ("fatima", "both", ["mlops", "model serving", "experiment tracking"], ["kubernetes operators"], 2),
    ("wei", "mentor", ["pytorch training", "distributed training", "llm fine-tuning"], [], 1),
    ("chloe", "mentor", ["react", "accessibility", "frontend architecture"], [], 2),
    ("sofia", "both", ["typescript", "vite", "frontend tooling"], ["engineering management"], 1),
    ("grace", "mentor", ["career growth", "promotions", "giving feedback", "salary negotiation"], [], 3),
    ("daniel", "mentor", ["system design interviews", "staff engineering", "resumes"], [], 2),
    ("hemi", "both", ["rust", "pyo3", "webassembly"], ["kubernetes"], 1),
    ("olivia", "mentee", [], ["sql", "pandas", "career growth"], 1),
    ("jamal", "mentee", [], ["system design interviews", "typescript", "react"], 1),
    ("zainab", "mentee", [], ["pandas", "sql", "geospatial"], 1),
    ("marcus", "mentee", [], ["kubernetes", "observability", "on-call"], 1),
    ("noah", "mentee", [], ["python packaging", "postgresql", "rust"], 1),
    ("isabella", "both", ["pandas"], ["mlops", "pytorch training"], 1),
]

THANKS = [
    "thanks, that fixed it! :pray:",
    "thanks <@{x}>, that fixed it! :pray:",
    "that worked, thank you!",
    "perfect, thanks <@{x}> :raised_hands:",
    "ahh that was it. thanks!",
    "thank you! :pray:",
    "makes sense now, thanks <@{x}>",
    "got it working, thanks a lot!",
    "TIL. thanks!",
    "thanks, super helpful",
]
STANDUP_TEXTS = [
    "Good morning, Lantern Commons! :wave: Weekly check-in for the week of {d}: what are you working on, "
    "and is anything blocking you?",
    "Week of {d} :sunny: Share one thing you shipped last week and one thing you want to learn this week.",
    "Monday check-in ({d}): any questions you have been sitting on? Post them in the topic channels, "
    "someone here probably knows :bulb:",
]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def make_id(prefix: str, key: str) -> str:
    """Slack-looking id (U0…, C0…, B0…) derived from a key, so ids never change between runs."""
    h = int.from_bytes(hashlib.sha256(f"{prefix}:{key}".encode()).digest(), "big")
    out = []
    for _ in range(9):
        h, r = divmod(h, len(_ID_ALPHABET))
        out.append(_ID_ALPHABET[r])
    return f"{prefix}0{''.join(out)}"


_TZ_CACHE: dict[str, dt.tzinfo] = {}


def tzinfo(name: str, offset: int) -> dt.tzinfo:
    if name not in _TZ_CACHE:
        tz: dt.tzinfo | None = None
        if ZoneInfo is not None:
            try:
                tz = ZoneInfo(name)
            except ZoneInfoNotFoundError:
                tz = None
        _TZ_CACHE[name] = tz or dt.timezone(dt.timedelta(seconds=offset))
    return _TZ_CACHE[name]


_MARKUP = re.compile(r"<(@U0[A-Z0-9]+|https?://[^<>\s|]+(?:\|[^<>]*)?)>")


def slack_escape(text: str) -> str:
    """Escape & < > the way Slack stores message text, keeping <@U…> and <https://…|label> markup."""
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    out, pos = [], 0
    for m in _MARKUP.finditer(text):
        out.append(esc(text[pos:m.start()]))
        inner = m.group(1)
        if inner.startswith("http"):
            url, bar, label = inner.partition("|")
            inner = url.replace("&", "&amp;") + (bar + esc(label) if bar else "")
        out.append(f"<{inner}>")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def parse_items(block: str) -> list[dict]:
    items: list[dict] = []
    cur: dict | None = None
    for lineno, raw in enumerate(block.splitlines(), 1):
        if raw.startswith("    ") and raw.strip():
            assert cur and cur["msgs"], f"continuation without message at line {lineno}"
            cur["msgs"][-1][1] += "\n" + raw[4:]
            continue
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("==="):
            parts = raw[3:].split()
            opts = dict(p.split("=", 1) for p in parts[2:])
            cur = {"channel": parts[0], "topic": parts[1], "msgs": [],
                   "week": int(opts["week"]) if "week" in opts else None,
                   "day": int(opts["day"]) if "day" in opts else None}
            items.append(cur)
            continue
        m = re.match(r"([a-z]+): (.+)$", raw)
        if not m or cur is None:
            raise ValueError(f"cannot parse line {lineno}: {raw!r}")
        cur["msgs"].append([m.group(1), m.group(2).strip()])
    return items


def fmt_ts(seconds: int, micros: int) -> str:
    return f"{seconds}.{micros:06d}"


# ---------------------------------------------------------------------------------------------
# generator
# ---------------------------------------------------------------------------------------------
class Generator:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.people = {p[0]: dict(zip(("key", "handle", "real_name", "display_name", "title", "tz",
                                         "tz_offset", "role"), p, strict=True)) for p in PEOPLE}
        for key, person in self.people.items():
            person["id"] = make_id("U", key)
        self.bot_user_id = make_id("U", BOT["key"])
        self.bot_id = make_id("B", BOT["key"])
        self.channel_ids = {c[0]: make_id("C", c[0]) for c in CHANNELS}
        self.used_ts: set[str] = set()
        self.messages: dict[str, list[dict]] = {c[0]: [] for c in CHANNELS}
        self.posters: dict[str, list[str]] = {c[0]: [] for c in CHANNELS}
        self.workdays = [FIRST_DAY + dt.timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)
                         if (FIRST_DAY + dt.timedelta(days=i)).weekday() < 5]
        self.topic_sets: dict[str, dict] = {}

    # -- time ------------------------------------------------------------------------------
    def tz(self, key: str) -> dt.tzinfo:
        p = self.people[key]
        return tzinfo(p["tz"], p["tz_offset"])

    def unique_ts(self, t: float) -> str:
        seconds = int(t)
        while True:
            ts = fmt_ts(seconds, self.rng.randrange(1000, 999999))
            if ts not in self.used_ts:
                self.used_ts.add(ts)
                return ts

    def local_time(self, key: str, day: dt.date, lo: float = 9.0, hi: float = 17.5) -> float:
        """A moment on `day` in the member's own calendar, mostly in working hours."""
        hour = self.rng.uniform(19.5, 22.5) if self.rng.random() < 0.07 else self.rng.uniform(lo, hi)
        local = dt.datetime.combine(day, dt.time(0), tzinfo=self.tz(key)) + dt.timedelta(hours=hour)
        return local.timestamp()

    def into_work_hours(self, key: str, t: float) -> float:
        tz = self.tz(key)
        local = dt.datetime.fromtimestamp(t, tz)
        if local.weekday() < 5 and 8 <= local.hour < 19:
            return t
        day = local.date() + dt.timedelta(days=1 if local.hour >= 8 else 0)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(8), tzinfo=tz) + dt.timedelta(minutes=self.rng.uniform(0, 150))
        return start.timestamp()

    def reply_time(self, key: str, prev: float) -> float:
        r = self.rng.random()
        if r < 0.6:
            delay = self.rng.uniform(3, 60)
        elif r < 0.9:
            delay = self.rng.uniform(60, 300)
        else:
            delay = self.rng.uniform(300, 1200)
        t = prev + delay * 60
        if self.rng.random() < 0.9:
            t = self.into_work_hours(key, t)
        if t > END_TS:
            t = prev + self.rng.uniform(60, 600)
        return t

    # -- messages ---------------------------------------------------------------------------
    def render(self, text: str) -> str:
        def mention(m: re.Match) -> str:
            key = m.group(1)
            if key not in self.people:
                raise KeyError(f"unknown member in mention: {key}")
            return f"<@{self.people[key]['id']}>"

        return slack_escape(re.sub(r"<@([a-z]+)>", mention, text))

    def user_message(self, key: str, text: str, ts: str) -> dict:
        p = self.people[key]
        return {
            "user": p["id"],
            "type": "message",
            "ts": ts,
            "client_msg_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "text": self.render(text),
            "team": TEAM_ID,
            "user_team": TEAM_ID,
            "source_team": TEAM_ID,
            "user_profile": {"real_name": p["real_name"], "display_name": p["display_name"], "name": p["handle"]},
        }

    def add(self, channel: str, msg: dict, key: str | None = None) -> None:
        self.messages[channel].append(msg)
        if key and key not in self.posters[channel]:
            self.posters[channel].append(key)

    def pick_day(self, item: dict) -> dt.date:
        if item["day"] is not None:
            return self.workdays[item["day"]]
        if item["week"] is not None:
            return self.rng.choice(self.workdays[item["week"] * 5:item["week"] * 5 + 5])
        return self.rng.choice(self.workdays[:-1])

    def build_item(self, item: dict) -> None:
        channel, topic, msgs = item["channel"], item["topic"], [list(m) for m in item["msgs"]]
        asker = msgs[0][0]
        if topic in TOPICS and msgs[-1][0] != asker and self.rng.random() < 0.55:
            helpers = [k for k, t in msgs[1:] if k != asker]
            main = max(helpers, key=lambda k: sum(len(t) for kk, t in msgs[1:] if kk == k))
            thanks = self.rng.choice(THANKS)
            if "both" in thanks and len(set(helpers)) < 2:
                thanks = "thank you! :pray:"
            msgs.append([asker, thanks.format(x=main)])
        item["final_msgs"] = msgs
        t = self.local_time(asker, self.pick_day(item))
        times = [t]
        for key, _ in msgs[1:]:
            t = self.reply_time(key, t)
            times.append(t)
        tss = [self.unique_ts(x) for x in times]
        root = self.user_message(asker, msgs[0][1], tss[0])
        root["_meta"] = {"topic": topic, "kind": "root", "author": asker}
        self.add(channel, root, asker)
        if len(msgs) > 1:
            reply_users: list[str] = []
            for (key, text), ts in zip(msgs[1:], tss[1:], strict=True):
                reply = self.user_message(key, text, ts)
                reply["thread_ts"] = tss[0]
                reply["parent_user_id"] = root["user"]
                reply["_meta"] = {"topic": topic, "kind": "reply", "author": key, "asker": asker}
                self.add(channel, reply, key)
                if reply["user"] not in reply_users:
                    reply_users.append(reply["user"])
            root.update({"thread_ts": tss[0], "reply_count": len(msgs) - 1, "reply_users_count": len(reply_users),
                         "latest_reply": tss[-1], "reply_users": reply_users, "is_locked": False,
                         "subscribed": False})

    def build_system(self) -> None:
        # weekly standup bot in #general, Mondays 16:00 UTC
        for week in range(10):
            day = self.workdays[week * 5]
            t = dt.datetime.combine(day, dt.time(16, 0), tzinfo=UTC).timestamp() + self.rng.uniform(0, 40)
            text = STANDUP_TEXTS[week % len(STANDUP_TEXTS)].format(d=day.strftime("%b %-d"))
            self.add("general", {"type": "message", "subtype": "bot_message", "text": text,
                                 "ts": self.unique_ts(t), "bot_id": self.bot_id, "username": BOT["handle"],
                                 "_meta": {"kind": "bot"}})
        # topic changes
        for channel, key, week, topic in TOPIC_CHANGES:
            t = self.local_time(key, self.rng.choice(self.workdays[week * 5:week * 5 + 5]))
            ts = self.unique_ts(t)
            uid = self.people[key]["id"]
            self.add(channel, {"user": uid, "type": "message", "subtype": "channel_topic", "ts": ts,
                               "text": f"<@{uid}> set the channel topic: {slack_escape(topic)}",
                               "topic": slack_escape(topic), "_meta": {"kind": "system"}})
            self.topic_sets[channel] = {"value": topic, "creator": uid, "last_set": int(float(ts))}
        # joins: shortly before the member's first message in that channel
        for key, channel in JOINS:
            uid = self.people[key]["id"]
            own = [float(m["ts"]) for m in self.messages[channel] if m.get("user") == uid]
            first = min(own) if own else self.local_time(key, self.rng.choice(self.workdays))
            start = dt.datetime.combine(FIRST_DAY, dt.time(0), tzinfo=UTC).timestamp()
            t = max(start + self.rng.uniform(3600, 7200), first - self.rng.uniform(15 * 60, 36 * 3600))
            if t >= first:
                t = first - self.rng.uniform(60, 600)
            self.add(channel, {"user": uid, "type": "message", "subtype": "channel_join",
                               "ts": self.unique_ts(t), "text": f"<@{uid}> has joined the channel",
                               "_meta": {"kind": "system"}}, key)

    # -- reactions, edits --------------------------------------------------------------------
    def members(self) -> dict[str, list[str]]:
        active = [k for k, p in self.people.items() if p["role"] != "deleted"]
        out: dict[str, list[str]] = {}
        for name, *_ in CHANNELS:
            if name in ("general", "random"):
                keys = [k for k in self.people if k in active or k in self.posters[name]]
                if name == "random":
                    keys = [k for k in keys if k in self.posters[name] or self.rng.random() < 0.7]
            else:
                others = [k for k in active if k not in self.posters[name]]
                extra = self.rng.sample(others, k=len(others) // 3)
                keys = [k for k in self.people if k in self.posters[name] or k in extra]
            out[name] = keys
        return out

    def react(self, msg: dict, name: str, pool: list[str], lo: int, hi: int, must: list[str] = ()) -> None:
        author = msg.get("_meta", {}).get("author")
        pool = [k for k in pool if k != author and self.people[k]["role"] != "deleted"]
        chosen = [k for k in must if k in pool]
        rest = [k for k in pool if k not in chosen]
        n = max(0, min(len(rest), self.rng.randint(lo, hi) - len(chosen)))
        chosen += self.rng.sample(rest, n)
        if not chosen:
            return
        reactions = msg.setdefault("reactions", [])
        for r in reactions:
            if r["name"] == name:
                return
        ids = [self.people[k]["id"] for k in chosen]
        reactions.append({"name": name, "users": ids, "count": len(ids)})

    def add_reactions(self, members: dict[str, list[str]]) -> None:
        for channel, msgs in self.messages.items():
            pool = members[channel]
            for msg in msgs:
                meta = msg.get("_meta", {})
                topic, kind = meta.get("topic"), meta.get("kind")
                text = msg.get("text", "")
                if topic in TOPICS and kind == "root":
                    if self.rng.random() < 0.3:
                        self.react(msg, "eyes", [e for e in TOPICS[topic][1] if e in pool], 1, 1)
                    if self.rng.random() < 0.2:
                        self.react(msg, "+1", pool, 1, 3)
                elif topic in TOPICS and kind == "reply":
                    asker, author = meta["asker"], meta["author"]
                    if author == asker:
                        continue
                    expert = author in TOPICS[topic][1]
                    if expert and len(text) > 150:
                        if self.rng.random() < 0.65:
                            self.react(msg, "+1", pool, 1, 4, must=[asker])
                        if self.rng.random() < 0.3:
                            self.react(msg, "white_check_mark", pool, 1, 1, must=[asker])
                        if self.rng.random() < 0.15:
                            self.react(msg, "pray", pool, 1, 2, must=[asker])
                        if "<http" in text and self.rng.random() < 0.4:
                            self.react(msg, "bookmark", pool, 1, 3)
                        elif self.rng.random() < 0.08:
                            self.react(msg, "star", pool, 1, 2)
                    elif len(text) > 60 and self.rng.random() < 0.2:
                        self.react(msg, "+1", pool, 1, 1)
                elif topic == "link" and kind == "root":
                    for name in self.rng.sample(["pushpin", "bookmark", "star"], self.rng.randint(1, 2)):
                        self.react(msg, name, pool, 1, 4)
                    if self.rng.random() < 0.5:
                        self.react(msg, "+1", pool, 1, 5)
                elif topic == "community" and kind == "root":
                    self.react(msg, "tada", pool, 3, 9)
                    if self.rng.random() < 0.6:
                        self.react(msg, "+1", pool, 1, 4)
                elif topic == "social" and kind == "reply" and self.rng.random() < 0.25:
                    self.react(msg, "+1", pool, 1, 2)

    def add_edits(self) -> None:
        candidates = [m for ch in self.messages.values() for m in ch
                      if m.get("_meta", {}).get("kind") == "reply" and len(m["text"]) > 200
                      and m["_meta"]["author"] in TOPICS.get(m["_meta"]["topic"], ("", []))[1]]
        for m in self.rng.sample(candidates, 6):
            sec = int(float(m["ts"])) + self.rng.randint(45, 900)
            m["edited"] = {"user": m["user"], "ts": fmt_ts(sec, 0)}

    # -- output -------------------------------------------------------------------------------
    def users_json(self) -> list[dict]:
        out = []
        for key, p in self.people.items():
            out.append({
                "id": p["id"], "team_id": TEAM_ID, "name": p["handle"], "deleted": p["role"] == "deleted",
                "real_name": p["real_name"], "tz": p["tz"], "tz_offset": p["tz_offset"],
                "is_admin": key in ADMINS, "is_owner": key == "grace", "is_bot": False, "is_app_user": False,
                "profile": {"title": p["title"], "real_name": p["real_name"],
                            "real_name_normalized": p["real_name"], "display_name": p["display_name"],
                            "display_name_normalized": p["display_name"], "team": TEAM_ID},
            })
        out.append({
            "id": self.bot_user_id, "team_id": TEAM_ID, "name": BOT["handle"], "deleted": False,
            "real_name": BOT["real_name"], "tz": BOT["tz"], "tz_offset": BOT["tz_offset"], "is_admin": False,
            "is_owner": False, "is_bot": True, "is_app_user": False,
            "profile": {"title": "", "real_name": BOT["real_name"], "real_name_normalized": BOT["real_name"],
                        "display_name": "", "display_name_normalized": "", "bot_id": self.bot_id,
                        "always_active": True, "team": TEAM_ID},
        })
        return out

    def channels_json(self, members: dict[str, list[str]]) -> list[dict]:
        out = []
        for name, creator, created, purpose, topic, is_general in CHANNELS:
            cid = self.people[creator]["id"]
            created_ts = int(dt.datetime.combine(created, dt.time(14, 30), tzinfo=UTC).timestamp())
            ids = [self.people[k]["id"] for k in members[name]]
            if name == "general":
                ids.append(self.bot_user_id)
            out.append({
                "id": self.channel_ids[name], "name": name, "created": created_ts, "creator": cid,
                "is_archived": False, "is_general": is_general, "members": ids,
                "pins": [],
                "topic": self.topic_sets.get(name, {"value": topic, "creator": cid, "last_set": created_ts}),
                "purpose": {"value": purpose, "creator": cid, "last_set": created_ts},
            })
        return out

    def mentoring_json(self) -> list[dict]:
        return [{"user": self.people[k]["id"], "role": role, "can_teach": teach, "wants_to_learn": learn,
                 "timezone": self.people[k]["tz"], "capacity": cap} for k, role, teach, learn, cap in MENTORING]

    def readme(self) -> str:
        def name(k: str) -> str:
            return self.people[k]["real_name"]

        experts = "; ".join(f"{label}: {', '.join(name(k) for k in ks)}" for label, ks in TOPICS.values())
        demos = " | ".join(f"\"{q}\" -> {name(k)}" for q, k in DEMO_QUESTIONS)
        return "\n".join([
            f"# {COMMUNITY}: a fictional sample community (Slack export layout) bundled with connective for "
            "`connective demo` and the tests; generated by bot/sample/make_sample.py, do not edit by hand.",
            f"Experts by topic (first named answers most): {experts}.",
            f"Regulars who chime in briefly everywhere: {', '.join(name(k) for k in REGULARS)}; "
            f"{name('pkeane')} is a deleted user and standup-bot the bot; day files are dated in UTC.",
            f"Demo questions and the expected top expert: {demos}.",
            "Not Slack files: mentoring.json (mentoring enrolment sidecar) and this README; message text keeps "
            "Slack's escaping (&amp; &lt; &gt;, also inside link URLs).",
        ]) + "\n"

    def run(self, out: Path) -> dict:
        items = []
        for block in CONTENT_BLOCKS:
            items.extend(parse_items(block))
        for item in items:
            if item["channel"] not in self.channel_ids:
                raise ValueError(f"unknown channel {item['channel']}")
            if item["topic"] not in TOPICS and item["topic"] not in ("link", "community", "social"):
                raise ValueError(f"unknown topic {item['topic']}")
            for key, _ in item["msgs"]:
                if key not in self.people:
                    raise KeyError(f"unknown member {key}")
            self.build_item(item)
        self.build_system()
        members = self.members()
        self.add_reactions(members)
        self.add_edits()

        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)

        def dump(path: Path, data: object) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")

        dump(out / "users.json", self.users_json())
        dump(out / "channels.json", self.channels_json(members))
        total = 0
        for channel, msgs in self.messages.items():
            by_day: dict[str, list[dict]] = {}
            for m in sorted(msgs, key=lambda m: float(m["ts"])):
                m.pop("_meta", None)
                day = dt.datetime.fromtimestamp(float(m["ts"]), UTC).strftime("%Y-%m-%d")
                by_day.setdefault(day, []).append(m)
            for day, day_msgs in by_day.items():
                dump(out / channel / f"{day}.json", day_msgs)
                total += len(day_msgs)
        dump(out / "mentoring.json", self.mentoring_json())
        (out / "README.md").write_text(self.readme(), encoding="utf-8")
        threads = sum(1 for i in items if len(i["final_msgs"]) > 1)
        return {"items": len(items), "threads": threads, "messages": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    stats = Generator().run(args.out)
    print(f"wrote {args.out}: {stats['messages']} messages, {stats['threads']} threads, "
          f"{len(PEOPLE)} people + 1 bot, {len(CHANNELS)} channels")


# =============================================================================================
# CONTENT
# =============================================================================================
CONTENT_PACKAGING = r"""
=== python-help packaging
olivia: I'm about to publish my first package and I'm confused: do I still need a setup.py or is pyproject.toml enough? Every tutorial I find says something different :sweat_smile:
priya: pyproject.toml alone is enough these days. You need a [build-system] table (e.g. `requires = ["hatchling"]`, `build-backend = "hatchling.build"`) and a [project] table with name, version, dependencies and requires-python. setup.py is only needed for custom build logic like compiling C extensions. The PyPA guide is the best reference: <https://packaging.python.org/en/latest/guides/writing-pyproject-toml/|Writing your pyproject.toml>
sam: yeah I deleted setup.py from all my side projects last year, didn't miss it
olivia: and then I just run `python -m build`?
priya: Yes, `python -m build` gives you an sdist and a wheel in dist/. Upload to TestPyPI first with `twine upload --repository testpypi dist/*` to check that the README renders, then to the real index. If you publish from GitHub Actions, set up a trusted publisher so there is no long-lived API token lying around.

=== python-help packaging
jamal: `pip install -e .` works on my machine but in CI the tests fail with ModuleNotFoundError for my own package. src layout. what am I missing?
tomas: Classic src-layout gotcha. Check that the build backend actually finds the package: with setuptools you may need `[tool.setuptools.packages.find]` with `where = ["src"]` (recent versions autodiscover src/, but an old setuptools pinned in CI won't). Then add a debug step in CI: `python -c "import mypkg; print(mypkg.__file__)"` to see what really gets imported.
mehmet: is CI maybe using a different python than the one pip installed into? happened to me once
jamal: it was the ancient setuptools pinned in requirements-dev.txt :facepalm: bumped it and everything passes

=== python-help packaging
elena: What's the current recommendation for locking dependencies of an *application* (not a library)? pip-tools, poetry, uv? My team is split down the middle
priya: For an app, lock everything including hashes. uv is the fastest option today: `uv lock` writes a cross-platform uv.lock that resolves for all environment markers, and `uv sync --frozen` installs exactly that in CI and in the Docker image. If you want to keep plain requirements files, `uv pip compile requirements.in --generate-hashes -o requirements.txt` is a drop-in replacement for pip-compile. Poetry works as well, but its lock file is Poetry-only, which gets annoying when other tools expect requirements.txt.
tomas: +1 to uv. One pitfall I keep seeing: keep version *ranges* loose in [project.dependencies] and do the exact pinning only in the lock file. People copy pinned versions into a library's pyproject and downstream users end up with unresolvable conflicts.
arjun: we moved from poetry to uv in spring, dependency install in CI went from ~4 min to ~40 s

=== python-help packaging
hyunwoo: mypy says `Incompatible types in assignment (expression has type "list[int]", variable has type "list[float]")` but... ints are floats?? confused
priya: That's invariance. An `int` is accepted where a `float` is expected, but a `list[int]` is not a `list[float]`, because lists are mutable: if it were allowed, someone could append 3.5 to what the caller believes is a list of ints. If the function only reads the values, annotate the parameter as `Sequence[float]` from collections.abc. Sequence is covariant, so `list[int]` is accepted.
hyunwoo: oh wow, switching the parameter to Sequence fixed all of them

=== python-help packaging
tariq: When should I use a Protocol and when an ABC? We have a bunch of "storage backend" classes (S3, local disk, GCS) and the team argues about it
tomas: ABC is nominal: implementations must inherit from it, and you get a TypeError at instantiation if an abstract method is missing. Protocol is structural: anything with matching methods fits, no inheritance needed, and it's checked by the type checker only. `@runtime_checkable` only checks that the method *names* exist at runtime, not the signatures. For plugin-style backends that other teams implement I'd pick a Protocol; for an internal hierarchy with shared default behaviour, an ABC.
priya: Protocols are also the way to type things you don't own, e.g. "anything with a `.read(n) -> bytes`". This write-up has good examples: <https://devnotes.example.net/typing-protocols-vs-abcs|Protocols vs ABCs in practice>
leilani: TIL runtime_checkable only checks names

=== python-help packaging
noah: how do I type a decorator so it keeps the signature of the function it wraps? my IDE shows (*args, **kwargs) for every decorated function now
priya: Use ParamSpec: `P = ParamSpec("P")`, `R = TypeVar("R")`, then `def retry(fn: Callable[P, R]) -> Callable[P, R]:` and inside `def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:`. Keep `@functools.wraps(fn)` on the wrapper for the runtime metadata (name, docstring). On 3.12+ you can write it with the new syntax: `def retry[**P, R](fn: Callable[P, R]) -> Callable[P, R]:`
noah: works in pyright and vscode shows the real parameters again, thank you!!

=== python-help packaging
mei: Is there a way to make mypy strict only for new modules? Turning on --strict for the whole repo gives us 2400 errors
priya: Yes, with per-module overrides in pyproject.toml. Either strict globally plus an override for the old code:
    ```
    [[tool.mypy.overrides]]
    module = ["legacy.*"]
    ignore_errors = true
    ```
    or the other way round: lenient globally and `disallow_untyped_defs = true` etc. only for `module = "payments.*"`. Another approach is a baseline: record today's errors once and fail CI only on new ones (the mypy-baseline tool does exactly that). Reference: <https://mypy.readthedocs.io/en/stable/config_file.html|mypy configuration file>
sam: we did the baseline thing, took about six months to burn the list down but it worked

=== python-help packaging
amara: Our Docker build installs from our private index and pip keeps pulling a package with the same name from public PyPI instead :scream: is this the dependency confusion thing?
tomas: Yes, that's exactly dependency confusion. `--extra-index-url` merges both indexes and pip takes the highest version wherever it lives. Fixes: use a single `--index-url` that points to your private proxy mirroring PyPI (Artifactory, Nexus, devpi), so there is only one source. With uv you can pin a package to an index: define the index under `[[tool.uv.index]]` with `explicit = true` and set `internal-lib = { index = "internal" }` in [tool.uv.sources]. And register your internal names on PyPI as empty placeholders.
arjun: got bitten by this last year, now everything goes through Artifactory
amara: switching to a single --index-url now

=== python-help packaging
zainab: what's the actual difference between `python -m pip install` and `pip install`? my lead keeps correcting me in code review
sam: python -m pip guarantees you install into the interpreter you're calling. plain `pip` could belong to another python on your PATH
priya: Exactly what Sam said. On Windows there's one more reason: pip can't replace its own pip.exe while it's running, so `python -m pip install -U pip` is the only upgrade that works. Inside an activated venv both usually point to the same interpreter; the trouble starts when it isn't activated or you have pyenv/conda shims around.

=== python-help packaging
isabella: ruff vs flake8 + black + isort, worth switching? anything ruff doesn't cover yet?
tomas: I switched four repos and have no regrets. `ruff check` covers flake8 plus most popular plugins (bugbear, pyupgrade, isort via the `I` rules), and `ruff format` is Black-compatible apart from a handful of edge cases. It doesn't do type checking (you still need mypy or pyright) and a few niche flake8 plugins have no equivalent. Start with `select = ["E", "F", "I", "B", "UP"]` and grow from there. <https://github.com/astral-sh/ruff|astral-sh/ruff>
mehmet: our pre-commit run went from 20 s to 1 s lol

=== python-help packaging
lucia: mypy complains `Item "None" of "Optional[User]" has no attribute "email"` even though I call a helper that raises if user is None right before. how do I convince it?
priya: mypy can't see through the helper: narrowing only happens within the same function. Two clean options: make the helper return the narrowed value (`def require_user(u: User | None) -> User:`) and use its result, or declare it as a type guard: `def is_user(u: User | None) -> TypeIs[User]:` (TypeIs is in typing from 3.13, typing_extensions before). An `assert user is not None` narrows too, but sprinkling asserts everywhere gets ugly.
lucia: returning the narrowed value is much cleaner, going with that

=== python-help packaging
emma: We need wheels with a C extension for Linux, macOS and Windows. Is cibuildwheel still the way to go?
tomas: Yes, cibuildwheel in GitHub Actions is the standard. Matrix over ubuntu/macos/windows runners; it builds manylinux and musllinux wheels inside the PyPA images and runs auditwheel/delocate for you. Trim the matrix with `CIBW_SKIP: "pp* *-musllinux_i686"` and set `CIBW_TEST_COMMAND: "pytest {project}/tests"` so every wheel gets tested. For Apple Silicon use the arm64 macOS runners rather than cross-compiling.
hemi: If the extension were something you'd consider rewriting: maturin does the same job for Rust extensions and the wheel story is simpler. For existing C code, cibuildwheel.
emma: existing C code sadly :sweat_smile: cibuildwheel it is

=== python-help packaging
jamal: Is `from __future__ import annotations` still recommended or is it deprecated now? I see it in half of our files
priya: It still works, but PEP 563 will never become the default. Python 3.14 implements PEP 649/749 instead: annotations are evaluated lazily, on first access, without turning into strings. Practical advice: keep the future import if you need forward references on 3.10 to 3.13, and be careful with libraries that read annotations at runtime (dataclasses, pydantic, FastAPI): with stringified annotations they need `typing.get_type_hints()` and the names must be importable at module level, not only under `if TYPE_CHECKING:`.
leilani: pydantic has handled it fine in my projects fwiw

=== python-help packaging
elena: our pyproject says `requires-python = ">=3.9"` but we use `match` statements everywhere. why didn't anything warn us?
tomas: Nothing enforces it at build time, requires-python is just metadata that installers read. Put the lowest supported version in your CI matrix, and set `target-version = "py39"` for ruff: it flags syntax that is too new for the target (match needs 3.10). mypy's `python_version = "3.9"` helps as well.
elena: so realistically we bump the floor to 3.10. ok, makes sense

=== python-help packaging
arjun: anyone know why `uv run` keeps recreating the venv in our monorepo? every package dir gets its own .venv
priya: Usually the workspace isn't declared, so each subproject is treated as its own project with its own environment. Add `[tool.uv.workspace]` with `members = ["packages/*"]` to the root pyproject.toml: then there is one uv.lock and one .venv at the root, and inter-package dependencies use `{ workspace = true }` in [tool.uv.sources]. Also check that UV_PROJECT_ENVIRONMENT isn't set differently in your shell and in CI.
arjun: that's it, we had no workspace table at all. thx

=== python-help packaging
thanh: TypedDict, dataclass or pydantic model for API payloads? coming from Kotlin data classes and a bit lost
priya: Rule of thumb: TypedDict when the data stays a dict (JSON you pass through, **kwargs) and you only want static checking; a dataclass for internal domain objects with behaviour; pydantic at the boundary when you need runtime validation and parsing, with good error messages and coercion. So for payloads coming from outside: pydantic, or msgspec if throughput matters. <https://docs.pydantic.dev/latest/|Pydantic docs>
tomas: msgspec is really fast for decoding JSON straight into typed structs, but the ecosystem around it is smaller.
mehmet: pydantic v2 is a lot faster than v1 anyway, rust core

=== python-help packaging
marcus: pytest can't find my fixtures when I move them out of the test file into a helpers module. do I need to import them everywhere?
tomas: Put shared fixtures in a `conftest.py`; pytest discovers it automatically for that directory and everything below it, no imports needed. Importing fixtures by name mostly works but trips linters (unused import, redefined name) and breaks in subtle ways. If you want fixtures from a separate module, list it in the root conftest with `pytest_plugins = ["tests.fixtures.db"]`.
marcus: conftest.py, of course. thanks!

=== python-help packaging
nadia: Is there a way to make a `TypedDict` where some keys are optional but others are required? total=False makes everything optional
priya: Yes, mark individual keys: `class Event(TypedDict): id: str; payload: NotRequired[dict[str, Any]]`, or the other way round with `total=False` plus `Required[...]` on the keys that must be there. Both NotRequired and Required are in typing since 3.11. And on 3.13 there's `ReadOnly[...]` for keys that must not be reassigned.
nadia: NotRequired is exactly what I needed
"""

CONTENT_DATA = r"""
=== data-engineering wrangling
olivia: SettingWithCopyWarning everywhere in my notebook. what's the right way to get rid of it (not just silencing it)?
ingrid: It fires when you assign into something that may be a view of another frame, e.g. `df[df.x > 0]["y"] = 1`. Select and assign in one `.loc` call instead: `df.loc[df.x > 0, "y"] = 1`. If you really want a separate frame, take an explicit `.copy()` right after filtering. With pandas 3 Copy-on-Write is the default and the warning is gone: chained assignment simply never modifies the original. You can opt in on pandas 2 with `pd.options.mode.copy_on_write = True`. <https://pandas.pydata.org/docs/user_guide/copy_on_write.html|Copy-on-Write guide>
olivia: the .loc version works and the warnings are gone :tada:

=== data-engineering wrangling
zainab: merge gives me way more rows than either input. 10k rows and 12k rows in, 3 million out?? what
kwame: Your join key isn't unique on at least one side, so you get a many-to-many explosion. Check with `left["key"].duplicated().sum()`. Better, make pandas enforce your assumption: `pd.merge(a, b, on="key", validate="one_to_many")` raises a MergeError if it's violated. And look for NaN keys: pandas matches NaN to NaN in merges, unlike SQL where NULL never equals NULL.
ingrid: And `indicator=True` adds a `_merge` column (left_only / right_only / both) so you can see what matched. <https://pandas.pydata.org/docs/user_guide/merging.html|Merge, join, concatenate>
zainab: NaN keys!! 40k of them on both sides. wow

=== data-engineering wrangling
hyunwoo: fastest way to read a 9 GB CSV with pandas without running out of memory? 16 GB laptop
kwame: In order of effort: 1) `usecols=` and `dtype=` (category for low-cardinality strings, int32/float32 where possible), which often cuts memory 3-5x. 2) `engine="pyarrow", dtype_backend="pyarrow"`. 3) `chunksize=` and aggregate per chunk. 4) Honestly the best one: convert it once to Parquet and query it with DuckDB or Polars' lazy API, which stream and never hold the whole file in memory.
ingrid: +1 for DuckDB, it reads the CSV in parallel and spills to disk if needed. `COPY (SELECT * FROM read_csv('big.csv')) TO 'big.parquet' (FORMAT parquet);` and you're done.
leilani: polars scan_csv is also great for this
hyunwoo: duckdb converted it in 40 seconds :exploding_head:

=== data-engineering wrangling
nadia: how do I get the latest row per group in SQL? e.g. the last status per order from a status history table
ingrid: A window function: `select * from (select *, row_number() over (partition by order_id order by updated_at desc) as rn from order_status) s where rn = 1`. DuckDB, Snowflake and BigQuery let you write it shorter with `QUALIFY row_number() over (...) = 1`. In Postgres the idiomatic version is `SELECT DISTINCT ON (order_id) * FROM order_status ORDER BY order_id, updated_at DESC`. Watch out for ties in updated_at and add a tie-breaker column to the ORDER BY.
mehmet: DISTINCT ON is one of my favourite postgres features

=== data-engineering wrangling
tariq: pandas groupby().apply() takes 20 minutes on 5M rows. how do I speed it up?
kwame: `groupby().apply` with a Python function calls it once per group, so with 500k groups you're in a Python loop. Express it as built-in aggregations instead: `df.groupby("k").agg(total=("amount", "sum"), users=("user_id", "nunique"))`, or `transform("mean")` to broadcast back to rows. Those run vectorised in Cython. If the logic is truly custom, Polars `group_by().agg()` with expressions is usually 10-50x faster.
tariq: I was computing a weighted mean in apply. `(df.w * df.x).groupby(df.k).sum() / df.w.groupby(df.k).sum()` runs in 3 seconds :joy:

=== data-engineering wrangling
jamal: what's the deal with dbt incremental models, when should I actually use them?
ingrid: When a full rebuild is too slow or too expensive, typically large append-mostly event tables. `materialized='incremental'` with a `unique_key`, and inside `{% if is_incremental() %}` filter on `updated_at > (select max(updated_at) from {{ this }})`. Pitfalls: late-arriving data (use a lookback window, e.g. max minus 3 days) and schema changes (`on_schema_change='append_new_columns'`). Schedule a weekly `--full-refresh` to fix any drift.
kwame: And pick the incremental_strategy for your warehouse: merge is convenient on Snowflake/BigQuery but scans the target table; insert_overwrite per partition is much cheaper on BigQuery for date-partitioned tables.

=== data-engineering wrangling
emma: timezone mess: the timestamps in our CSV are naive but actually Europe/Helsinki local time. how do I convert them to UTC properly, including DST?
ingrid: `pd.to_datetime(df.ts).dt.tz_localize("Europe/Helsinki", ambiguous="infer", nonexistent="shift_forward").dt.tz_convert("UTC")`. `ambiguous` is about the repeated hour when DST ends in October: "infer" works if the data is sorted and continuous, otherwise pass a boolean array or "NaT". `nonexistent` handles the skipped hour in March.
emma: ambiguous="infer" blew up because the rows weren't sorted; sorting first did the trick :+1:

=== data-engineering wrangling
isabella: Polars or pandas for a new project? the team knows pandas well
kwame: For new pipelines I default to Polars: lazy API with a query optimiser, multithreaded, strict types, no index to fight with. The cost: people have to learn the expression API (`pl.col("x").filter(...)`), and some libraries still want pandas (plotting, scikit-learn), so call `.to_pandas()` at the edges. For quick notebooks where everyone knows pandas, pandas 2 with the pyarrow backend is good enough.
sam: the polars error messages are also way nicer
ingrid: Agree. Just don't hop between both inside one transformation, the conversions eat the gains.

=== data-engineering wrangling
amara: how do I dedupe a customer table in SQL but keep the most complete row (fewest NULLs) per email?
ingrid: Rank by a completeness score: `row_number() over (partition by email order by (case when phone is null then 1 else 0 end) + (case when address is null then 1 else 0 end), updated_at desc)` and keep rn = 1. If you'd rather *merge* the duplicates (take any non-null value), aggregate per key: `max(phone)`, `max(address)`, or `first_value(phone ignore nulls)` where your warehouse supports it.

=== data-engineering wrangling
mei: Airflow task succeeded but downstream got no data; turns out it ran for the wrong date. am I misunderstanding `{{ ds }}`?
kwame: Probably the data interval semantics. A daily run for 2026-10-05 executes *after* its interval ends, on 2026-10-06, and `ds` is the start of the interval (2026-10-05). Use `data_interval_start` / `data_interval_end` in templates, they are much clearer than ds and execution_date. And a manual trigger gets "now" as its logical date unless you pass one.
mei: yep, it was a manual trigger with logical date = now. makes sense now

=== data-engineering wrangling
noah: pandas pivot gives me "Index contains duplicate entries, cannot reshape"
kwame: `pivot` needs unique index/column pairs. Use `df.pivot_table(index="day", columns="store", values="sales", aggfunc="sum")`, which aggregates duplicates. If duplicates are unexpected, look at them first: `df[df.duplicated(["day", "store"], keep=False)]`.
mehmet: pivot_table also has fill_value=0, handy for the empty cells

=== data-engineering wrangling
lucia: Parquet files written by Spark have different schemas across partitions (int32 in some, int64 in others). how can I read them all together?
kwame: With pyarrow: `pyarrow.dataset.dataset(path, format="parquet", schema=target_schema)` with an explicit unified schema (int64 for that column); it casts on read. In Spark, `mergeSchema=true` handles added columns but not conflicting types. Long term, enforce the schema at write time or move to a table format like Delta or Iceberg that tracks schema evolution.

=== data-engineering wrangling
hyunwoo: how do I compute a 7-day rolling average per user when some days are missing?
ingrid: Use a time-based window, not a row count: `df.set_index("date").groupby("user_id")["value"].rolling("7D").mean()`. "7D" looks back seven calendar days regardless of gaps, while `rolling(7)` takes seven *rows*, which spans more time when days are missing. If a missing day should count as zero, reindex each user onto a full daily range first (`.asfreq("D", fill_value=0)`).
olivia: ooh this was my bug last week too

=== data-engineering wrangling
tariq: SQL: counting distinct users per week over 2B rows is painfully slow. approximate would be fine
ingrid: Then use HyperLogLog: `APPROX_COUNT_DISTINCT(user_id)` in BigQuery, Snowflake and Spark, usually within 1-2%. Even better, store HLL sketches per day and merge them for weekly or monthly numbers without rescanning the raw table (`HLL_COUNT.INIT` / `HLL_COUNT.MERGE` in BigQuery).
kwame: Sketches per day are the real win, we cut a 40 min job to 2 min that way.

=== data-engineering wrangling
zainab: exporting to Excel from pandas turns my zip codes into numbers and drops the leading zeros
ingrid: They're already lost when you read the file: use `pd.read_csv(path, dtype={"zip": "string"})` and they stay strings through the export. Also check the source: Excel strips them too if someone opens the CSV and saves it again.
zainab: it was the read_csv. thanks, that fixed it! :pray:

=== data-engineering wrangling
elena: Great Expectations vs pandera vs plain asserts for validating data in our pipelines?
kwame: For pandas or Polars pipelines in Python I like pandera: the schema is a class, you decorate functions with `@pa.check_types`, and it's lightweight. Great Expectations is heavier; worth it if you want data docs and a UI for non-engineers. If your transformations live in dbt, use dbt tests (unique, not_null, accepted_values, relationships) plus the dbt-expectations package.
arjun: pandera + pytest here, works well

=== data-engineering wrangling
olivia: is there a nicer way to write long pandas transformations? my notebook is 40 cells of df2, df3, df_final_v2...
ingrid: Method chaining: wrap the pipeline in parentheses and use `.assign(revenue=lambda d: d.price * d.qty)`, `.query("country == 'NZ'")`, `.pipe(my_function)` for custom steps. Each step is named, there are no intermediate variables to go stale, and you can comment out a line to debug. Once it works, move the chain into a function and test it with a tiny hand-written frame.
olivia: rewrote one section as a chain, it's so much more readable

=== data-engineering wrangling
thanh: SQL question: LEFT JOIN returns fewer rows than the left table after I added a WHERE on the right table. why?
ingrid: A WHERE condition on a column of the right table throws away the rows where it is NULL, i.e. exactly the unmatched rows, so your LEFT JOIN quietly becomes an INNER JOIN. Move that condition into the ON clause: `LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'settled'`.
thanh: moved it to the ON clause and the counts match now
"""

CONTENT_POSTGRES = r"""
=== data-engineering postgres
elena: Postgres does a sequential scan on a 40M row table even though there's an index on customer_id. why would the planner ignore my index?
mariusz: Run `EXPLAIN (ANALYZE, BUFFERS)` and compare estimated vs actual rows. The usual causes: 1) stale statistics, so run `ANALYZE orders;` 2) the predicate isn't sargable, e.g. `WHERE customer_id::text = $1` or a function around the column; 3) a type mismatch, e.g. a bigint column compared with a numeric parameter, so the index can't be used; 4) the query really returns a big share of the table, and then a seq scan *is* cheaper. On SSDs, lowering `random_page_cost` to about 1.1 also makes the planner more willing to use indexes. <https://www.postgresql.org/docs/current/using-explain.html|Using EXPLAIN>
elena: it was #3, the ORM sends the id as numeric. casting the parameter fixed it
mehmet: the type mismatch one is so sneaky

=== data-engineering postgres
mei: autovacuum can't keep up on our events table, dead tuples are at 30%. which settings actually matter?
mariusz: Per-table settings first, the defaults are tuned for small tables: `ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_limit = 2000);`. The default scale factor of 0.2 waits for 20% dead rows, which on a big table means millions. Globally, raise `autovacuum_vacuum_cost_limit` (or lower `autovacuum_vacuum_cost_delay`) and maybe `autovacuum_max_workers`. Watch `n_dead_tup` and `last_autovacuum` in pg_stat_user_tables, and look for long-running transactions holding back the xmin horizon: vacuum cannot remove rows an old snapshot might still need.
mei: there was an "idle in transaction" session from a BI tool open since Tuesday :expressionless:
mariusz: Set `idle_in_transaction_session_timeout = '15min'` for that role then, so it can't happen again.

=== data-engineering postgres
tariq: How many connections should Postgres allow? We have 40 pods x pool of 20 = 800 connections and the database is struggling
mariusz: Far too many. Every connection is a backend process with its own memory, and beyond a few hundred active ones you get contention on locks and snapshots. Put PgBouncer in transaction pooling mode in front: the apps can keep 800 client connections while PgBouncer uses maybe 50-100 server connections. Caveats of transaction mode: no session state, so session-level SET, advisory locks held across transactions and LISTEN/NOTIFY don't work; prepared statements are supported since PgBouncer 1.21 via `max_prepared_statements`. <https://github.com/pgbouncer/pgbouncer|pgbouncer>
arjun: also shrink the per-pod pool, 20 per pod is usually way more than you need

=== data-engineering postgres
nadia: What's a partial index and when would I actually use one?
mariusz: An index with a WHERE clause that only covers some rows: `CREATE INDEX ON jobs (created_at) WHERE status = 'pending';`. Great when queries always filter on a rare value: 50k pending jobs out of 200M rows gives a tiny index that stays in cache, and updates to finished rows don't touch it. The query's WHERE clause must imply the index predicate for the planner to use it. <https://www.postgresql.org/docs/current/indexes-partial.html|Partial indexes>
nadia: that's perfect for our queue table

=== data-engineering postgres
amara: Creating an index on a big production table blocked writes for 10 minutes yesterday :grimacing: how do people do this safely?
mariusz: `CREATE INDEX CONCURRENTLY`. It doesn't block writes; it takes longer and can't run inside a transaction block, so migration tools need a flag for it (Django `atomic = False`, Alembic's `autocommit_block()`). If it fails it leaves an INVALID index behind: check `pg_index.indisvalid` and drop it before retrying. Also set `lock_timeout = '5s'` in migrations, so a DDL statement waiting for a lock doesn't make every other query queue up behind it.
amara: the lock_timeout tip is gold

=== data-engineering postgres
marcus: `ORDER BY created_at DESC LIMIT 20` is fast, but with `OFFSET 100000` the same query takes 8 seconds. why?
mariusz: OFFSET still has to produce and throw away all 100k rows before returning yours. Use keyset pagination: remember the last (created_at, id) of the page and ask for `WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT 20`, backed by a composite index on (created_at DESC, id DESC). Every page then costs the same. <https://use-the-index-luke.com/|Use The Index, Luke> has a great chapter on it.
sam: keyset pagination ftw

=== data-engineering postgres
isabella: Queries on our JSONB column are slow, we filter with `data->>'country' = 'KE'`
mariusz: Two options. A GIN index on the whole column (`CREATE INDEX ON events USING gin (data jsonb_path_ops);`) helps containment queries, but then you must write `data @> '{"country": "KE"}'`; the `->>` equality can't use GIN. Or an expression B-tree index, `CREATE INDEX ON events ((data->>'country'));`, which matches your current query as it is. If it's a hot field, promote it to a generated column: `country text GENERATED ALWAYS AS (data->>'country') STORED`.
isabella: expression index took it from 2 s to 3 ms :pray:

=== data-engineering postgres
hyunwoo: pg_stat_statements shows one query with a huge total_exec_time, but when I run it by hand it's fast. what gives?
mariusz: Look at `calls` and `mean_exec_time`: probably each call is fast but it runs millions of times a day, the classic ORM N+1. Also compare `shared_blks_read` with `shared_blks_hit`; if it reads from disk in production but hits the cache when you test, timings differ a lot. And for prepared statements there can be a generic-vs-custom plan difference: `SET plan_cache_mode = force_custom_plan` to test that theory.
hyunwoo: 3.8M calls a day. N+1 in a serializer. ugh

=== data-engineering postgres
elena: A table is 300 GB on disk but only ~90 GB of live data. VACUUM FULL would lock it for hours, alternatives?
mariusz: pg_repack: it rebuilds the table online and only takes short exclusive locks at the start and end. It needs a primary key or a unique not-null index, and roughly as much free disk as the live data while it runs. Afterwards fix why it bloated: autovacuum settings, long transactions, or heavy updates on wide rows (a lower fillfactor allows HOT updates).
mehmet: +1 pg_repack saved us more than once

=== data-engineering postgres
jamal: What does "Rows Removed by Filter: 4999990" mean in my EXPLAIN ANALYZE output?
mariusz: That node read about 5M rows and discarded almost all of them after checking your WHERE condition. The condition isn't used to *find* rows, only to filter them afterwards, which is the signature of a missing or unusable index for that predicate. Index the column named in the Filter line, or rewrite the predicate so an index can be used. <https://www.postgresql.org/docs/current/using-explain.html#USING-EXPLAIN-ANALYZE|EXPLAIN ANALYZE>

=== data-engineering postgres
kwame: Should we partition our 2 TB measurements table by time? Most queries look at the last 7 days and we delete data older than 13 months
mariusz: Sounds like a good fit: declarative range partitioning by month, and retention becomes `DROP TABLE measurements_2025_10` instead of a giant DELETE followed by vacuum. Queries need the partition key in the WHERE clause to get partition pruning. Don't go too granular, thousands of partitions slow down planning. pg_partman creates future partitions for you. One catch: primary keys and unique constraints must include the partition key.
kwame: the unique constraint part will hurt, our PK is just id. good to know before we start

=== data-engineering postgres
lucia: "deadlock detected" in our Postgres logs every few hours. how do I debug it?
mariusz: The log entry lists both statements and the locks they were waiting for; turn on `log_lock_waits = on` too. The usual cause is two transactions updating the same rows in a different order, e.g. bulk updates not sorted by id. Fix: always lock and update in a consistent order (`SELECT ... ORDER BY id FOR UPDATE`), keep transactions short, and retry on SQLSTATE 40P01 in the application.
lucia: the batch job wasn't sorting. sorted by id, no deadlocks since yesterday

=== data-engineering postgres
noah: is it ok to use UUIDs as primary keys in Postgres? heard they're bad for performance
mariusz: Random UUIDv4 keys scatter inserts across the whole B-tree, so on big tables you get more page splits, poor cache locality and more WAL from full-page writes. UUIDv7 fixes most of that because it's time-ordered; Postgres 18 has `uuidv7()` built in, on older versions generate it in the application. Store it as the `uuid` type (16 bytes), never as text.
leilani: uuidv7 is such a nice fix for this

=== data-engineering postgres
thanh: our COUNT(*) on a 100M row table takes 30 seconds, the dashboard shows it on every page load :upside_down_face:
mariusz: An exact count has to visit every visible row, there's no stored counter in Postgres. If an estimate is fine, read `reltuples` from pg_class (updated by ANALYZE and autovacuum), or `EXPLAIN` the query and take the planner's row estimate. If it must be exact and fast, keep a counter table updated by a trigger or a periodic job, and cache the number in the app for a minute.
thanh: an estimate is totally fine for a dashboard, switching to reltuples

=== data-engineering postgres
mehmet: what's a sane `work_mem`? we see "external merge Disk" in some plans
mariusz: `work_mem` applies per sort or hash node, per query, per connection, so a global 256MB can explode with 200 connections running multi-join queries. Keep the global value modest (16-64MB), and raise it only where needed: `SET LOCAL work_mem = '256MB'` inside the reporting transaction, or `ALTER ROLE reporting SET work_mem = '256MB'`. Check `log_temp_files = 0` to see which queries spill to disk.
"""

CONTENT_GIS = r"""
=== data-engineering gis
zainab: my points show up in the ocean off West Africa when I plot them :ocean: lat/lon come from a CSV
bjorn: Points at or near (0, 0), "Null Island", mean swapped or missing coordinates. GeoJSON and shapely use (x, y) = (lon, lat), while many CSVs list lat first. Build them explicitly: `gpd.points_from_xy(df.lon, df.lat)` with `crs="EPSG:4326"`. And drop rows where both are 0, those are missing values written as zeros.
zainab: lon/lat swapped, classic :woman-facepalming:

=== data-engineering gis
hyunwoo: how do I compute distances in meters between points with geopandas? I get tiny numbers like 0.0031
bjorn: Your data is in EPSG:4326, so `.distance()` returns degrees. Reproject to a projected CRS in meters first: `gdf.to_crs(gdf.estimate_utm_crs())` picks the right UTM zone for your data, and then distances are in meters. Don't use Web Mercator (EPSG:3857) for measuring, it inflates distances badly away from the equator. <https://geopandas.org/en/stable/docs/user_guide/projections.html|GeoPandas: managing projections>
hyunwoo: estimate_utm_crs is so handy

=== data-engineering gis
mei: PostGIS: "find all stores within 5 km of a user" is slow, we use ST_Distance(...) < 5000 in the WHERE
bjorn: Use `ST_DWithin`, which can use the spatial index, instead of comparing `ST_Distance`, which can't. With the geography type: `WHERE ST_DWithin(s.geog, ST_MakePoint(lon, lat)::geography, 5000)`, the distance is in meters. And make sure there's a GiST index: `CREATE INDEX ON stores USING gist (geog);` <https://postgis.net/docs/ST_DWithin.html|ST_DWithin>
mei: from 4 s to 12 ms

=== data-engineering gis
isabella: what's the best format to store a large vector dataset? shapefiles are driving me crazy
bjorn: GeoParquet for analytics (columnar, compressed, fast to read with geopandas or DuckDB's spatial extension), GeoPackage when you need a single file that QGIS and other desktop tools open everywhere. Shapefiles have 10-character field names, a 2 GB limit and a handful of sidecar files, retire them. FlatGeobuf is nice if you stream subsets over HTTP.
leilani: GeoParquet + duckdb spatial is a great combo

=== data-engineering gis
elena: I need to assign 10M GPS points to city district polygons. geopandas sjoin is slow, any tricks?
bjorn: `gpd.sjoin(points, districts, predicate="within")` uses an STRtree index already, so first make sure both frames are in the same CRS and carry only the columns you need. Polygon vertex count dominates the cost: simplify detailed boundaries (`districts.simplify(1)` in a meter-based CRS) if centimetre precision doesn't matter. For 10M points, DuckDB spatial or PostGIS with a GiST index on the polygons is usually faster than geopandas.
elena: duckdb spatial did the whole thing in under a minute

=== data-engineering gis
olivia: what's the difference between a CRS "datum" and a "projection"? the docs assume I know
bjorn: The datum (e.g. WGS 84) defines the shape of the earth model and where lat/lon coordinates sit on it. A projection (e.g. UTM zone 33N, Web Mercator) flattens those lat/lon coordinates onto a plane in meters, always distorting area, distance or angles somewhere. EPSG codes name a combination: EPSG:4326 is WGS 84 lat/lon with no projection, EPSG:32633 is WGS 84 projected to UTM 33N.
olivia: ok that finally clicked
"""

CONTENT_K8S = r"""
=== devops-k8s k8s
jamal: my pod keeps getting OOMKilled but the app only uses ~300MB locally. memory limit is 512Mi
mateus: `kubectl describe pod` should show Last State: Terminated, Reason: OOMKilled, exit code 137, which confirms the container hit its cgroup memory limit. The container's memory is more than your app's heap: page cache, the runtime, and every worker process count. JVMs size the heap from node memory unless you set `-XX:MaxRAMPercentage`, Node needs `--max-old-space-size`, and gunicorn multiplies everything by the number of workers. Watch `container_memory_working_set_bytes` for the pod, that's the number the OOM killer and kubelet eviction act on. <https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/|Resource management for pods and containers>
jamal: 4 gunicorn workers x ~120MB each... that's it
mateus: Yep. Either run 1-2 workers per pod and scale horizontally, or raise the limit. Also set the memory request equal to the limit so the scheduler reserves what you actually use.

=== devops-k8s k8s
olivia: what's the difference between readiness and liveness probes? our pods restart during every deploy
mateus: Readiness answers "should I get traffic?": failing it removes the pod from the Service endpoints, no restart. Liveness answers "am I stuck?": failing it restarts the container. If liveness fires during a slow startup you get restart loops, so add a startupProbe whose `failureThreshold * periodSeconds` covers the worst-case startup. Keep liveness cheap and local, no database checks: if the DB is down, restarting every pod only makes things worse. <https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/|Configure liveness, readiness and startup probes>
leilani: "no db check in liveness probes" should be tattooed somewhere

=== devops-k8s k8s
tariq: Docker image for our python app is 1.4GB. tips to shrink it?
aiko: Multi-stage build: a build stage with compilers installs your dependencies into a venv, and the final stage `FROM python:3.12-slim` only copies that venv over (`COPY --from=build /opt/venv /opt/venv`). Add a .dockerignore (the .git directory and local datasets are the usual culprits), use `pip install --no-cache-dir`, and never install build-essential in the final image. 150-250MB is typical afterwards. `docker history <image>` or dive shows which layer is fat. <https://docs.docker.com/build/building/multi-stage/|Multi-stage builds>
tariq: 1.4GB -> 210MB. the .git folder alone was 600MB lol

=== devops-k8s k8s
marcus: pod in CrashLoopBackOff and `kubectl logs` shows nothing at all. where do I even start?
mateus: `kubectl logs <pod> --previous` shows the output of the last crashed container. If that's empty too, the process dies before it logs anything: check `kubectl describe pod` for the exit code and events. 137 is SIGKILL (usually OOM), 1 is an application error, 127 means command not found, so a wrong entrypoint or missing binary. To poke around, start a debug copy with a shell: `kubectl debug -it <pod> --copy-to=dbg --container=app -- sh`.
marcus: exit code 127, a typo in the entrypoint path after the Dockerfile change. thanks!

=== devops-k8s k8s
nadia: Helm values for different environments: one values file per env, or something smarter?
aiko: Base `values.yaml` plus small overlays like `values-staging.yaml` and `values-prod.yaml`, passed with several `-f` flags (later files win). Keep secrets out of values files, use external-secrets or sops via helm-secrets. If you manage many environments or clusters, helmfile or Argo CD ApplicationSets make the matrix declarative. And run `helm template` piped into `kubeconform` in CI to catch broken manifests before a deploy does.
mehmet: helmfile is so underrated

=== devops-k8s k8s
amara: Pod stuck in Pending, events say `0/6 nodes are available: 6 Insufficient cpu`. but the nodes sit at 20% CPU usage??
mateus: The scheduler looks at *requests*, not actual usage. If every pod requests 1 CPU and uses 0.1, the nodes are full on paper. `kubectl describe node` shows the sum of requests under "Allocated resources". Right-size requests from real usage (p95 over a week; the VPA in recommendation mode is handy for that) and enable the cluster autoscaler so Pending pods trigger new nodes.
amara: requests were copy-pasted as 2000m everywhere. oops

=== devops-k8s k8s
elena: Docker layer cache doesn't work in GitHub Actions, every build reinstalls all dependencies from scratch
aiko: GitHub runners are ephemeral, so the local layer cache is gone on every run. Use buildx with a remote cache backend: `docker/build-push-action` with `cache-from: type=gha` and `cache-to: type=gha,mode=max`. And order the Dockerfile so dependencies come first: `COPY pyproject.toml uv.lock ./`, install, and only then `COPY . .`; otherwise every code change invalidates the dependency layer.
elena: we copied everything before installing. fixed both, builds went from 9 min to 2

=== devops-k8s k8s
fatima: How do I give a pod AWS permissions without putting access keys into a Secret? our model server needs to read from S3
mateus: On EKS use IRSA (IAM roles for service accounts) or the newer EKS Pod Identity. With IRSA you annotate the ServiceAccount with the role ARN; with Pod Identity you create an association between the ServiceAccount and the role. Either way the AWS SDK picks up short-lived credentials automatically, there are no static keys, and every workload gets its own narrowly scoped role. GKE's equivalent is Workload Identity.
fatima: Pod Identity it is, much nicer than the key rotation we do now

=== devops-k8s k8s
hyunwoo: Is running containers as root actually a problem if it's "just inside the container"?
aiko: Yes, still a problem: a container escape or a mounted host path turns root-in-the-container into root-ish on the node. Add `USER 10001` in the Dockerfile (create the user in the build), and in the pod spec set `securityContext` with `runAsNonRoot: true`, `allowPrivilegeEscalation: false`, `readOnlyRootFilesystem: true` and `capabilities: {drop: ["ALL"]}`. The Pod Security Admission "restricted" level enforces most of this per namespace.
sam: readOnlyRootFilesystem breaks a surprising number of apps that write to /tmp, mount an emptyDir there

=== devops-k8s k8s
lucia: My Service works through `kubectl port-forward` but through the Ingress I get 502 from nginx
mateus: A 502 from the ingress controller means it found no healthy backend to talk to. Check in order: 1) `kubectl get endpoints <svc>`: empty means the Service selector doesn't match the pod labels or the pods aren't Ready; 2) the Service `targetPort` matches the port the app really listens on; 3) the app binds 0.0.0.0 and not 127.0.0.1. port-forward works with a localhost-only bind, real traffic doesn't. Number 3 is the classic.
lucia: it was #3!!! uvicorn's default host. thanks, that fixed it! :pray:

=== devops-k8s k8s week=1
noah: minikube vs kind vs k3d for a local kubernetes cluster?
aiko: kind for CI and throwaway clusters: fast, multi-node inside Docker, and what Kubernetes itself uses for its tests. k3d if you want something lightweight with a built-in registry and load balancer for everyday development. minikube if you need its addons or a VM driver. In CI I do `kind create cluster --config kind.yaml` and then `kind load docker-image myapp:dev` so no registry is needed. <https://github.com/kubernetes-sigs/kind|kubernetes-sigs/kind>
pkeane: k3d here, `k3d registry create` saved me a lot of fiddling

=== devops-k8s k8s
zainab: what's the point of PodDisruptionBudgets? our node upgrade took down all replicas of a service at once
mateus: That's exactly what a PDB prevents. With `minAvailable: 2` (or `maxUnavailable: 1`) selecting your deployment's pods, `kubectl drain` and managed node upgrades only evict pods while the budget allows, waiting for replacements to become Ready. Combine it with `topologySpreadConstraints` so the replicas aren't all on the same node in the first place. Careful: a PDB with `maxUnavailable: 0` blocks drains forever.

=== devops-k8s k8s
tariq: helm upgrade failed halfway and now every deploy says `another operation (install/upgrade/rollback) is in progress`
aiko: The release is stuck in pending-upgrade. `helm history <release>` shows it; then `helm rollback <release> <last-good-revision>`. If even the rollback refuses, the status in the release Secret is stuck and you can delete the newest `sh.helm.release.v1.<name>.vN` Secret (back it up first!). For the future, run `helm upgrade --atomic --timeout 10m` so a failed upgrade rolls itself back.
tariq: rollback worked, and --atomic is in the pipeline now

=== devops-k8s k8s
isabella: How do we do zero-downtime deploys when the app needs ~60 s to warm up?
mateus: RollingUpdate with `maxUnavailable: 0` and `maxSurge: 1`, so old pods keep serving until new ones are Ready; a readinessProbe that only passes after warm-up; and a startupProbe so the liveness probe doesn't kill the pod during those 60 s. For shutdown, add a `preStop` hook that sleeps ~10 s so the endpoint is removed from the load balancers before the app stops accepting connections, and make `terminationGracePeriodSeconds` longer than your slowest request.
mehmet: the preStop sleep trick fixed our random 502s during deploys

=== devops-k8s k8s
emma: Multi-arch images (arm64 for the new Graviton nodes plus amd64), how do you build them?
aiko: `docker buildx build --platform linux/amd64,linux/arm64 -t repo/app:tag --push .` builds both and pushes a manifest list. QEMU emulation works but is painfully slow for compiled dependencies; building natively on arm64 runners (GitHub has them now) and merging the per-arch images with `docker buildx imagetools create` is much faster. Watch out for base images or wheels that have no arm64 build.
emma: emulation took 40 min :grimacing: going with native runners

=== devops-k8s k8s
marcus: kubectl apply vs kubectl create vs server-side apply, when do I use which?
aiko: `create` fails if the object already exists. `apply` does a client-side three-way merge using the last-applied-configuration annotation. Server-side apply (`kubectl apply --server-side`) moves that merge into the API server and tracks which manager owns which field, which is better when several actors (you, the HPA, a controller) touch the same object, and there's no giant annotation. GitOps tools like Argo CD and Flux use it more and more.
mateus: SSA also gives you a real conflict error when two managers fight over a field, instead of silently flapping.

=== devops-k8s k8s
thanh: HPA isn't scaling our deployment, `kubectl get hpa` shows `<unknown>/70%` for CPU
mateus: `<unknown>` means the HPA gets no metrics. Two usual reasons: metrics-server isn't installed or healthy (`kubectl top pods` fails too), or the containers have no CPU *request*: utilisation is computed as a percentage of the request, so without one there's nothing to compare against. Set requests on every container in the pod, including sidecars.
thanh: no cpu requests on the sidecar. fixed, it scales now

=== devops-k8s k8s
mei: where should app config live in k8s: ConfigMap, env vars, or baked into the image?
aiko: Not in the image, so the same image can be promoted from staging to prod unchanged. Non-secret config in a ConfigMap, exposed as env vars (`envFrom`) or mounted as files; secrets in Secrets, ideally synced from a real secret manager with external-secrets. Note that env vars from a ConfigMap only update when the pod restarts; add a checksum annotation of the config to the pod template in your Helm chart so changes trigger a rollout.
"""

CONTENT_OBSERVABILITY = r"""
=== devops-k8s observability
marcus: Should I use a Prometheus histogram or a summary for request latency?
siobhan: Histogram, almost always. A summary computes quantiles inside each process, and you can't aggregate them across instances: the average of ten p99s is meaningless. A histogram exports buckets, so you compute `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))` across all pods. Choose buckets around your SLO threshold (e.g. 0.05, 0.1, 0.25, 0.5, 1, 2.5). Native histograms in recent Prometheus versions remove most of the bucket-picking pain. <https://prometheus.io/docs/practices/histograms/|Histograms and summaries>
marcus: makes sense, switching to histograms

=== devops-k8s observability
arjun: our Prometheus memory keeps growing, 40GB now. is this the cardinality thing people talk about?
siobhan: Almost certainly. Check `prometheus_tsdb_head_series` and the TSDB status page in the UI for the metrics and labels with the most series. The usual offenders are user IDs, raw request paths containing IDs, and pod names on high-churn jobs. Drop or rewrite those labels with `metric_relabel_configs` (labeldrop, or replace the path with the route template) and fix the instrumentation so it labels by route, not by raw URL.
arjun: http_requests_total with a `path` label that includes order ids. 2.3M series from that one metric :see_no_evil:

=== devops-k8s observability
elena: How do I get trace IDs into our Python logs so we can jump from a log line to the trace?
siobhan: With OpenTelemetry: install `opentelemetry-instrumentation-logging` and set `OTEL_PYTHON_LOG_CORRELATION=true`. It injects `otelTraceID` and `otelSpanID` into every log record; add them to your format string or JSON formatter. With structlog, add a processor that reads `trace.get_current_span().get_span_context()`. Then configure a derived field on the Loki data source in Grafana that links the trace ID to Tempo. <https://opentelemetry.io/docs/languages/python/|OpenTelemetry for Python>
elena: env var + the JSON formatter worked. clicking from log to trace feels like magic

=== devops-k8s observability
tariq: our alerts are so noisy that people ignore them. how do you decide what should page someone?
siobhan: Page on symptoms users feel, not on causes: error rate and latency against an SLO, ideally with multi-window burn-rate alerts (e.g. 2% of the monthly error budget burned within 1 hour, confirmed over the last 5 minutes). CPU at 90% is not a page, it's a dashboard or a ticket. Every page must be actionable; if the runbook says "wait and see", delete the alert. The Google SRE book chapter is still the classic: <https://sre.google/sre-book/monitoring-distributed-systems/|Monitoring distributed systems>
sam: we deleted half our alerts after reading that, nobody missed them

=== devops-k8s observability
mei: OpenTelemetry collector: should we sample in the SDK or in the collector?
siobhan: Head sampling in the SDK (`parentbased_traceidratio`) is cheap, but it decides before anyone knows whether the request will fail. Tail sampling in the collector (the `tail_sampling` processor) can keep every error and every slow trace plus, say, 5% of the rest, but all spans of a trace must reach the same collector instance, so you need a two-tier setup with the loadbalancing exporter in front. Many teams combine both: light head sampling, tail sampling for the interesting traces.

=== devops-k8s observability
lucia: Loki queries are super slow when I search for a single request id
siobhan: Loki only indexes labels, not log content, so `{app="api"} |= "req-123"` scans every chunk in the selected time range. Narrow the time range and the label selector as much as you can. Don't turn request_id into a label (cardinality explosion); structured metadata and the bloom filters in Loki 3 help with exactly this kind of needle search. Or start from the trace and jump to the logs instead of grepping.
lucia: narrowing to 1h and the right namespace made it fast enough

=== devops-k8s observability
noah: rate() vs irate() vs increase() in PromQL? I always mix them up
siobhan: `rate(x[5m])` is the per-second average over the window and handles counter resets; use it for alerts and most graphs. `irate` only uses the last two samples: spiky, and only useful for zoomed-in graphs of fast-moving counters. `increase(x[1h])` is rate times the window length, so "how many in the last hour" (it can be fractional because of extrapolation). And always rate() a counter before you sum() it, never the other way round.

=== devops-k8s observability
amara: what's a good SLO for an internal API? everyone says 99.99
siobhan: Start from what your consumers need and what you achieve today, not from nines you'd like to have. If the last 90 days measured 99.7% successful requests and nobody complained, an SLO between 99.5 and 99.9% is realistic. 99.99% leaves about 4.3 minutes of error budget per month, which takes multi-region redundancy and on-call response in minutes. Define the SLI precisely first, e.g. "proportion of requests with status below 500 and latency under 300ms, measured at the load balancer".

=== devops-k8s observability
kwame: Is it worth adding metrics to our nightly batch jobs? Prometheus scraping doesn't really fit short-lived jobs
siobhan: Yes, but push instead of scrape: send the result to a Pushgateway at the end of the job, e.g. `job_last_success_timestamp_seconds` and `job_duration_seconds`, then alert on `time() - job_last_success_timestamp_seconds > 26 * 3600`. Use the Pushgateway only for job-level results, never for per-instance metrics. If you already run an OpenTelemetry collector, pushing OTLP metrics to it works too.
kwame: alerting on last success time is a great idea. we just found a job that silently stopped two weeks ago

=== devops-k8s observability
jamal: log levels: what belongs in INFO vs DEBUG for a production service?
siobhan: INFO is one line per meaningful event: request handled (with status and duration), job started or finished, config loaded. DEBUG is internal detail you only need while investigating, off in production. WARNING means something unexpected happened but was handled; ERROR means a request or job failed and someone may need to look. Log structured JSON with consistent keys, and don't log per item inside hot loops, that's what metrics are for.
leilani: "logs for events, metrics for counts" is a good rule of thumb

=== devops-k8s observability
hyunwoo: our Grafana dashboards have 40 panels each and nobody knows where to look during an incident
siobhan: Build one top-level dashboard per service around the RED method: Rate, Errors, Duration, with the SLO and remaining error budget at the very top. Everything else moves to drill-down dashboards linked from those panels. Template variables (cluster, namespace) instead of copies per environment, and keep dashboards as code (Jsonnet/Grafonnet or the Grafana Terraform provider) so they get reviewed like everything else.
"""

CONTENT_MLOPS = r"""
=== ml-ops mlops
isabella: Training loss goes to NaN after a few hundred steps with mixed precision. Plain fp32 is fine. ideas?
wei: With fp16 that's almost always overflow. If your GPU supports bf16 (Ampere or newer), use `torch.autocast(device_type="cuda", dtype=torch.bfloat16)`: same exponent range as fp32, no loss scaling needed. If you must stay on fp16, use `torch.amp.GradScaler` and call `scaler.unscale_(optimizer)` before gradient clipping. Also check the learning-rate warm-up, and any hand-written log/exp/softmax that runs in fp16. <https://pytorch.org/docs/stable/amp.html|Automatic mixed precision>
isabella: bf16 on the A100s, no NaNs since

=== ml-ops mlops
hyunwoo: How do you all track experiments? our results live in spreadsheets :grimacing:
fatima: MLflow is the low-friction default: `mlflow.autolog()` for sklearn, LightGBM or PyTorch Lightning, plus explicit params, metrics and the model artifact. Run the tracking server with a Postgres backend store and S3 for artifacts. Weights & Biases if you want the nicest UI and SaaS is ok. Whatever you choose, also log the git commit and the data version (DVC hash or table snapshot id), otherwise runs aren't reproducible. <https://mlflow.org/docs/latest/index.html|MLflow documentation>
wei: +1, logging the data version is the part everyone forgets
hyunwoo: setting up mlflow this week

=== ml-ops mlops
nadia: GPU utilisation is only around 30% during training. how do I find the bottleneck?
wei: Nine times out of ten it's the input pipeline. Check with `nvidia-smi dmon` or the PyTorch profiler: if the GPU idles between steps, the DataLoader can't keep up. Set `num_workers` to roughly the number of CPU cores, `pin_memory=True` and `persistent_workers=True`, and move heavy decoding or augmentation onto the GPU (DALI, or torchvision v2 transforms on tensors). A bigger batch size helps too if memory allows.
nadia: num_workers was 0 :sweat_smile: now at 85%

=== ml-ops mlops
tariq: what's the simplest way to serve a scikit-learn model as an API?
fatima: Simplest robust path: a FastAPI app that loads the model once at startup with `joblib.load`, a pydantic schema for the input, `/predict` and `/healthz` endpoints, packaged in a Docker image with the exact scikit-learn version pinned, because pickles aren't portable across versions. If you already use MLflow, `mlflow models serve -m models:/churn@champion` gives you a REST endpoint without writing code. For many models or heavy traffic, look at BentoML or KServe.
arjun: pin the sklearn version, learned that the hard way

=== ml-ops mlops
emma: How do you detect data drift in production?
fatima: Log model inputs and predictions (sampled if volume is high), then compare recent windows against the training reference: PSI or a KS test per numerical feature, chi-square for categorical ones, and watch the prediction distribution as well. Evidently generates these reports for you: <https://github.com/evidentlyai/evidently|evidentlyai/evidently>. Drift alone isn't a reason to retrain; once labels arrive, tie alerts to a performance metric, otherwise you end up with alert fatigue.
emma: good point about not retraining on every drift alert

=== ml-ops mlops
olivia: is fine-tuning a 7B model on a single 24GB GPU even possible?
wei: Yes, with QLoRA: load the base model in 4-bit through bitsandbytes (`BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")`), train LoRA adapters with peft (r=16, targeting the attention projections), enable gradient checkpointing, and use a batch size of 1-4 with gradient accumulation. A 7B model fits in roughly 12-16GB that way; full fine-tuning would need many times that. Start with a small, clean dataset: a few thousand good examples beat 100k noisy ones.
isabella: we did exactly this on a 4090, worked fine

=== ml-ops mlops
zainab: do we need a feature store? we have 3 models in production
fatima: With three models, probably not. A feature store pays off when many models share features and you suffer from training/serving skew (features computed differently offline and online), or you need point-in-time-correct joins for training sets. Until then, compute features in one shared library or dbt model and build training sets with point-in-time joins (`pd.merge_asof`, or `ASOF JOIN` in DuckDB). Feast is the lightweight option when you get there. Good read: <https://engineering.example.com/posts/feature-store-lessons|Lessons from two years of running a feature store>

=== ml-ops mlops
mei: distributed training: DDP or FSDP? we have one node with 8 GPUs
wei: DDP keeps a full copy of the model on every GPU and only all-reduces gradients: simplest and fastest as long as the model, gradients and optimizer state fit on one GPU. FSDP shards parameters, gradients and optimizer state across GPUs, so you can train models that don't fit on one card, at the price of more communication. Start with DDP via `torchrun --nproc_per_node=8 train.py`; switch to FSDP (or DeepSpeed ZeRO-3) when you run out of memory.

=== ml-ops mlops
jamal: our model looks great offline but performs badly in production. where do I start looking?
fatima: Training/serving skew first: are features computed by the same code online and offline? Classic bugs are a different default for missing values, a timezone shift in date features, or a feature that leaks future information into training because it was computed with data from after the prediction time. Log the online features for a sample of requests and diff them against what the offline pipeline produces for the same entities and timestamps.
wei: and check that the label definition matches what prod measures. we once trained on "clicked within 7 days" and evaluated on same-session clicks
jamal: found a leaky feature: days_since_last_order was computed at the end of the month :upside_down_face:

=== ml-ops mlops
noah: how do I version datasets? git lfs?
fatima: Git LFS gets painful beyond a few GB. DVC keeps small pointer files in git and the data in S3 or GCS: `dvc add data/train.parquet`, `dvc push`, and the commit pins the exact data version. For tables in a lakehouse, Delta or Iceberg time travel does the same job, just log the snapshot id with every training run. <https://dvc.org/doc/start|Get started with DVC>

=== ml-ops mlops
isabella: HF Trainer: how do I resume after a crash, including optimizer and scheduler state?
wei: `trainer.train(resume_from_checkpoint=True)` picks the latest `checkpoint-*` folder in output_dir and restores the model, optimizer, LR scheduler, RNG states and the global step. Make sure `save_strategy`/`save_steps` are set and that `save_total_limit` doesn't delete the checkpoint you need. On spot or preemptible instances, write checkpoints to durable storage, not the local disk. <https://huggingface.co/docs/transformers/main_classes/trainer|Trainer>

=== ml-ops mlops
amara: How should we test ML pipelines? unit tests feel weird for models
fatima: Split it up: plain pytest unit tests for feature code (deterministic functions), data tests on inputs (schema, ranges, null rates, with pandera or Great Expectations), and model tests as gates in CI: a minimum metric on a fixed holdout set, a few behavioural tests (invariance: changing the customer's name doesn't change the prediction; directional: higher income doesn't lower the credit score), and a comparison against the current production model before promotion.
amara: behavioural tests are a new concept for me, love it

=== ml-ops mlops
tariq: Batch inference for 50M rows every day: Spark, Ray, or something else?
fatima: If it's an sklearn or XGBoost model and the data already sits in a warehouse or lake, a pandas UDF in Spark (`mapInPandas`) with the model broadcast to the executors works well. Ray Data is nicer when you need GPUs or heavy Python preprocessing. But 50M rows of a tabular model might also be a chunked job on one big machine reading Parquet with DuckDB, measure before you build a cluster.
kwame: fwiw we score 80M rows/day with duckdb + lightgbm on a single 32-core box, ~20 min

=== ml-ops mlops
lucia: what is model quantization and will it make inference faster on CPU?
wei: Quantization stores weights (and sometimes activations) as int8 or int4 instead of fp32. On CPU, dynamic int8 quantization (`torch.ao.quantization.quantize_dynamic` for the Linear layers, or ONNX Runtime's quantizer) typically gives a 2-4x speed-up for transformer models with a small accuracy drop. Exporting to ONNX and running with ONNX Runtime is another easy win. Always re-evaluate accuracy on your own data after quantizing.

=== ml-ops mlops
elena: How do you promote models from staging to production in the MLflow registry? I read that stages are deprecated?
fatima: Yes, stages are deprecated in favour of aliases and tags. Register the model version, give it an alias such as `champion` (`client.set_registered_model_alias("churn", "champion", version)`) and have the serving side load `models:/churn@champion`. Promotion becomes moving the alias once the CI checks pass, and rollback is moving it back.
elena: aliases are much nicer than stages actually

=== ml-ops mlops
hyunwoo: class imbalance of 1:200. oversampling, class weights, or something else?
wei: Start with class weights (`class_weight="balanced"`, or `scale_pos_weight` in XGBoost) and evaluate with PR-AUC rather than accuracy or ROC-AUC. Then tune the decision threshold on a validation set for your real cost trade-off, that matters more than any resampling. SMOTE rarely helps tree models in my experience.
fatima: and calibrate the probabilities afterwards if downstream systems use them as scores (CalibratedClassifierCV or isotonic regression)

=== ml-ops mlops
nadia: our model server on k8s takes 3 minutes to start because it downloads a 6GB model from S3 on every pod start. better pattern?
fatima: Load the model from a volume instead of downloading per pod: an init container that syncs to a node-local cache or a ReadOnlyMany PVC, or bake smaller models into the image. For big LLM-style models, KServe's model cache or a modelcar (model packaged as an OCI image) avoid repeated downloads. And set a startupProbe long enough for the load, so the pod isn't killed while it's still reading weights.
nadia: the PVC with the weights brought startup down to 25 seconds

=== ml-ops mlops
thanh: what's the difference between a validation set and a test set? my tutorial uses them interchangeably
wei: Validation data is what you look at while developing: early stopping, hyperparameter tuning, picking the threshold. The test set is touched once, at the end, to estimate performance on unseen data. If you tune against the test set, your reported number is optimistic. For time-series data split by time, not randomly: train on the past, validate and test on later periods.
"""

CONTENT_FRONTEND = r"""
=== frontend frontend
lucia: useEffect runs twice on mount in dev. is my code broken?
chloe: No, that's React StrictMode in development: it deliberately mounts, unmounts and remounts components to surface missing cleanups. It doesn't happen in production builds. If the double run causes a bug (a duplicate fetch or subscription), your effect needs a cleanup: abort the request with an AbortController, unsubscribe listeners. And often you don't need an effect at all: <https://react.dev/learn/you-might-not-need-an-effect|You Might Not Need an Effect>
lucia: added the AbortController cleanup, all good

=== frontend frontend
jamal: TypeScript: how do I type a function whose callback type depends on a string argument?
sofia: A lookup type is cleaner than overloads: `type EventMap = { click: MouseEvent; keydown: KeyboardEvent }`, then `function on<K extends keyof EventMap>(name: K, cb: (e: EventMap[K]) => void)`. TS infers K from the string literal and gives the callback the right event type. Overloads work too, but they get verbose and the implementation signature isn't checked against them.
jamal: the keyof pattern is beautiful

=== frontend frontend
thanh: our React app re-renders the whole list when one item changes. 2000 rows, very laggy
chloe: Measure first with the React DevTools Profiler (turn on "record why each component rendered"). Usual fixes: stable `key`s (ids, not the array index), wrap the row component in `React.memo` and keep its props stable, so no new inline objects or callbacks on every render (`useCallback` for handlers). For 2000 rows, virtualise the list so only visible rows are rendered, with `@tanstack/react-virtual` or react-window. That alone usually makes it smooth.
sofia: also check whether the whole list lives in a context that changes on every keystroke, that defeats memo completely
thanh: virtualization + memo, buttery smooth now

=== frontend frontend
noah: CORS error when calling my API from localhost:5173, but the same request works in Postman
sofia: Postman isn't a browser, so it doesn't enforce CORS. Your API must answer with `Access-Control-Allow-Origin: http://localhost:5173` and respond to the preflight OPTIONS request with the allowed methods and headers. In development it's easier to use Vite's proxy (`server.proxy: { "/api": "http://localhost:8000" }`) so the browser sees same-origin requests. Never combine `*` with credentials, browsers reject that. <https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS|MDN: Cross-Origin Resource Sharing>
noah: the vite proxy did it

=== frontend frontend
emma: state management in 2026: Redux, Zustand, Context, TanStack Query? so many opinions
chloe: Separate server state from client state. Server state (API data: caching, refetching, invalidation) goes to TanStack Query, which removes most of what people used Redux for. For the remaining client state: local useState, lift it up when needed, Context for rarely-changing values (theme, current user), and Zustand for genuinely shared, frequently updated UI state. Redux Toolkit is fine in big existing apps, but I wouldn't start a new one with it. <https://tanstack.com/query/latest|TanStack Query>
sam: tanstack query changed my life honestly
mehmet: zustand for the small stuff, yep

=== frontend frontend
lucia: `Type 'string' is not assignable to type '"small" | "large"'` when I pass a variable to my component
sofia: The variable got widened to `string`. Declare it with a literal type, `const size = "small" as const`, or annotate it (`const size: Size = "small"`). For objects, `const config = { size: "small" } as const`, or better `satisfies Config`: it checks the shape against the type but keeps the literal types.
lucia: satisfies is new to me, nice

=== frontend frontend
isabella: Our JS bundle is 3MB. how do I find out what's in it?
sofia: With Vite, add `rollup-plugin-visualizer` and you get a treemap of the bundle. Usual suspects: moment.js with all locales (switch to date-fns or dayjs), the whole of lodash (use `lodash-es` or per-method imports), icon libraries that don't tree-shake, a charting library loaded on the landing page. Then split routes with `React.lazy(() => import("./Reports"))` so heavy pages load on demand.
isabella: moment + a full icon font. down to 900KB

=== frontend frontend
amara: How do you test React components nowadays? Enzyme is dead, right?
chloe: Enzyme is dead, yes. React Testing Library with Vitest (or Jest), testing behaviour the way a user sees it: `screen.getByRole("button", { name: /save/i })`, `await user.click(...)`, assertions on visible text, not on component internals or state. Mock the network with MSW instead of mocking fetch. Add Playwright end-to-end tests for the few flows that must never break.
amara: getByRole also forces us to fix our accessibility, bonus

=== frontend frontend
tariq: Next.js app router: when is a component a server component and when a client component?
chloe: In the app router everything is a Server Component by default. A file becomes client code when it starts with `"use client"` or is imported from a client component. Server components can be async and fetch data directly, but can't use state, effects or browser APIs. Keep `"use client"` at the leaves (the interactive button, the form) and pass server-rendered content into client components as children, so you don't ship the whole tree as JavaScript.

=== frontend frontend
marcus: is `any` ever OK in TypeScript? my lead wants to ban it completely
sofia: Use `unknown` at the boundaries instead (JSON.parse, catch clauses, third-party responses) and narrow it with a validator like zod: `Schema.parse(data)` hands you a typed value. `any` switches off checking and spreads silently through everything it touches. Enforce it with `@typescript-eslint/no-explicit-any` plus `noImplicitAny` (part of `strict`); the rare legitimate `any` gets an eslint-disable comment with a reason. <https://www.typescriptlang.org/docs/handbook/2/narrowing.html|TypeScript handbook: Narrowing>
leilani: zod + unknown is the combo

=== frontend frontend
nadia: accessible modal dialog: what do I actually need to handle?
chloe: The easiest route is the native `<dialog>` element with `showModal()`: you get Escape to close, a backdrop, and the rest of the page becomes inert, for free. If you build your own: `role="dialog"`, `aria-modal="true"`, `aria-labelledby` pointing at the title, move focus into the dialog on open and back to the trigger on close, keep Tab inside, close on Escape. Test with a screen reader (VoiceOver or NVDA) at least once. <https://developer.mozilla.org/en-US/docs/Web/Accessibility/ARIA|MDN: ARIA>

=== frontend frontend
hyunwoo: Migrating from create-react-app to Vite, any gotchas?
sofia: The main ones: env vars become `import.meta.env.VITE_*` instead of `process.env.REACT_APP_*`; index.html moves to the project root and loads `/src/main.tsx` with a module script tag; importing SVGs as components needs vite-plugin-svgr; and the Jest setup doesn't carry over, so switching to Vitest is easiest since it reuses the Vite config. The dev server starts in well under a second instead of 30, worth it. <https://vite.dev/guide/|Vite guide>
hyunwoo: done in an afternoon!

=== frontend frontend
jamal: CSS modules, Tailwind, or styled-components for a new project?
chloe: Runtime CSS-in-JS (styled-components, emotion) is falling out of favour: it costs render time and doesn't work well with React Server Components. Tailwind if the team likes utility classes and you want consistency through a design-token config; CSS Modules if you prefer plain CSS with local scoping. Both have zero runtime cost. Pick one and write the conventions down.
sofia: and modern CSS (nesting, :has(), container queries) makes plain CSS modules much nicer than a few years ago

=== frontend frontend
priya: Frontend question from a backend person :slightly_smiling_face: how do I write a TS function that takes an object and one of its keys and returns the right value type?
sofia: `function get<T, K extends keyof T>(obj: T, key: K): T[K] { return obj[key]; }`. K is constrained to the keys of T, and the indexed access type `T[K]` gives the exact property type, so `get(user, "age")` is a number. For nested paths you'd need recursive template literal types, which get hairy fast, so check whether you really need them.
priya: neat, that's basically a TypeVar bound plus Literal in Python terms

=== frontend frontend
olivia: form with 30 fields re-renders on every keystroke and feels sluggish
chloe: Controlled inputs backed by one big useState re-render the entire form on every keystroke. React Hook Form uses uncontrolled inputs with refs, so typing only re-renders what subscribes to that field. It's built for large forms and integrates with zod via `@hookform/resolvers`. If you stay controlled, split the form into memoised sections with local state and lift values up on blur or submit.
olivia: react-hook-form + zod, much snappier

=== frontend frontend
emma: `useMemo` everywhere or not at all? our codebase has both extremes
chloe: Neither. Memoise when a calculation is measurably expensive, or when referential identity matters, i.e. the value is a dependency of an effect or a prop of a memoised child. Wrapping everything adds noise and its own overhead. And if you're on React 19 with the React Compiler enabled, it inserts most of these memoisations automatically, so new code can mostly drop manual useMemo/useCallback.

=== frontend frontend
lucia: TypeScript: how do I make a type where either `id` or `email` must be present but not both?
sofia: A discriminated union with `never` for the excluded key: `type Lookup = { id: string; email?: never } | { email: string; id?: never }`. Passing both fails because one side requires the other key to be absent. If you do this a lot, a small helper type like `XOR<A, B>` keeps it readable. Narrow with `"id" in lookup` or by checking `lookup.id !== undefined`.
lucia: the `?: never` trick is exactly what I needed
"""

CONTENT_CAREER = r"""
=== career career
jamal: bootcamp grad here, applied to 120 jobs and got 3 interviews. what am I doing wrong?
daniel: At that ratio the problem sits before the interview: resume and targeting. Lead each bullet with impact and specifics ("cut API p95 latency from 900ms to 200ms by adding a cache") instead of task lists. Show 2-3 real projects with a live link and a README that explains your decisions. Mirror the job posting's keywords, many companies filter with an ATS. And referrals convert several times better than cold applications: meetups, open-source contributions, communities like this one :slightly_smiling_face:
grace: Also apply to fewer, better-matched roles, with a two-line note to the hiring manager. 20 targeted applications beat 120 generic ones.
jamal: rewriting my bullets this weekend. thank you both

=== career career
zainab: how do I prepare for a system design interview? my first one is next week :scream:
daniel: Practise a structure: clarify requirements and scale (users, requests per second, data size), sketch the API and the data model, draw the high-level design, then go deep on 1-2 components (storage choice, caching, queues, sharding) and talk through trade-offs and failure modes. Say numbers out loud, back-of-the-envelope estimates show judgement. Do 3-4 mock sessions talking aloud; a URL shortener, a news feed and a rate limiter cover a lot of ground. <https://www.techinterviewhandbook.org/|Tech Interview Handbook>
mehmet: Designing Data-Intensive Applications is the book for this
zainab: did two mocks with friends, feeling much better

=== career career
elena: my manager asked me to write a self-review for the promotion to senior. how do I not undersell myself?
grace: Write it as evidence against the next level's expectations, not as a list of tasks. Get your company's career ladder, take each dimension (scope, technical depth, influence, mentoring) and give one or two concrete examples with impact: "designed the new billing pipeline, adopted by 3 teams, cut failed payments by 18%". Keep a brag document during the year so you aren't reconstructing everything from memory. And ask your manager directly which gaps they see, so there are no surprises in calibration.
elena: I never kept a brag doc. starting one today

=== career career
tariq: Got an offer, the recruiter asks for my current salary. do I have to tell them?
grace: You don't have to, and in several places it's illegal for them to ask. Redirect to expectations: "I'm targeting a total compensation of X to Y based on the role and market data." Research the band (levels.fyi and similar sites); if they share a range, anchor near its top. Negotiate total compensation (base, equity, signing bonus) and the level, not just the base salary; the level matters most in the long run.
daniel: And get the offer in writing before you negotiate. A polite negotiation basically never gets an offer pulled.

=== career career
sofia: staff engineer path vs engineering management: how did you decide?
daniel: I tried both. Management multiplies impact through people: hiring, feedback, career growth, org design, and your calendar stops being yours. The staff path multiplies it through technical direction: cross-team architecture, writing the design doc everyone aligns on, unblocking the hardest problems. Ask yourself which kind of problem energises you on a Friday afternoon. The staff archetypes help to see which staff roles your company actually has: <https://staffeng.com/guides/staff-archetypes|Staff archetypes>
grace: and it isn't a one-way door. Swinging between IC and manager roles is common and healthy, I've done it twice.
sofia: that's reassuring, thank you both

=== career career
olivia: I'm the only junior on my team and I feel like I ask way too many questions
grace: Asking questions is your job right now; the real risk is staying stuck in silence. Habits that make it easy for seniors: timebox (try 30-45 minutes alone, then ask), show what you tried ("I checked X and Y, I think it's Z, am I on the right track?"), batch non-urgent questions, and write the answers down so you ask each one only once. Also ask your manager for a regular 1:1 with a senior engineer as a mentor.
leilani: seniors usually like questions, honestly. it's the silent struggling that worries us
olivia: this helps a lot :yellow_heart:

=== career career
noah: leetcode grind: how many problems until I'm "ready"?
daniel: Count patterns, not problems. 100-150 well-chosen problems covering the main patterns (two pointers, sliding window, BFS/DFS, binary search on the answer, heaps, dynamic programming on sequences, intervals, union-find), revisited with spaced repetition, beat 500 random ones. After each problem write down the pattern and the complexity in one sentence. And practise explaining while you code: interviewers grade communication as much as correctness.

=== career career
amara: how do I give critical feedback to a peer who is more senior than me?
grace: Use SBI: Situation, Behaviour, Impact. "In Tuesday's design review (S), when you cut off the question from the new joiner (B), she didn't speak up for the rest of the meeting (I)." Do it privately and soon after, then ask for their view, curious rather than accusatory. Seniority doesn't change the format; it just makes sticking to observable facts more important.
amara: the SBI framing makes it feel way less scary

=== career career
mei: the take-home says "about 4 hours" but realistically it's two days of work. red flag?
daniel: A bit. It's fine to ask the recruiter what they expect to see after 4 hours and then deliver exactly that, plus a README section "what I'd do next with more time". Good companies grade trade-offs and clarity, not completeness. If a company expects multi-day unpaid work from every candidate, that tells you how they value people's time.

=== career career
marcus: my first on-call rotation starts next month, any tips? pretty nervous
grace: Make sure you've shadowed at least one rotation and that there's a clear escalation path: nobody expects you to fix everything alone. Before your week, check that you can reach the dashboards, runbooks and VPN, and that paging works on your phone. During an incident, communicate early in the incident channel, even just "looking into it". Afterwards, write down what confused you and improve the runbook, that's the most valuable contribution a new on-caller makes.
siobhan: and a good on-call culture is blameless. if anyone makes you feel bad for escalating at 3am, that's on them, not you

=== career career
thanh: I want to move from mobile to backend development. how do I make that switch inside my company?
grace: Tell your manager explicitly, it's a normal career conversation. Then create overlap: pick up backend tickets that touch the mobile API, pair with a backend engineer, review their PRs. A concrete goal like "own the push notification service by Q2" turns it into a plan rather than a wish. Your mobile experience is an asset, you know what API consumers actually need.
thanh: "own the notification service" is a great concrete target, I'll propose it in my next 1:1

=== career career
isabella: behavioural interviews: how do I answer "tell me about a conflict with a colleague"?
daniel: STAR, but spend most of the time on Action and Result: Situation and Task in two or three sentences, then what *you* did specifically (not "we"), and the outcome with a number if possible, plus what you learned. Prepare 6-8 stories you can adapt (conflict, failure, ambiguity, influence without authority). For conflict, pick a technical disagreement that ended well and show that you understood the other side's position.

=== career career
hyunwoo: how do you say no to a stakeholder without damaging the relationship? I get pulled into every "quick analysis"
grace: Say no to the timing or scope, not to the person: "I can do this next sprint, or today if we drop X; which matters more?" makes the trade-off visible and lets them choose. Keep a visible list of what you're working on so priorities are negotiated openly, and loop in your manager when two stakeholders collide, resolving that is their job. Over time, build self-serve dashboards for the questions that keep coming back.

=== career career
emma: how do you structure 1:1s with your manager? mine are just status updates and feel like a waste of time
grace: Make the 1:1 yours: keep a shared running doc, put your topics in before the meeting, and move status updates to async (a short weekly note). Good 1:1 topics are the ones that don't fit anywhere else: feedback in both directions, career goals, what's frustrating you, decisions you'd like context on. Once a quarter, use one for a bigger look back: what did I learn, what do I want to be doing in a year.
emma: shared running doc starting next week, thanks

=== career career
lucia: is it worth doing a master's degree to get into ML, or better to build projects?
daniel: Depends on the role. For research-heavy positions a master's or PhD is often a hard filter. For ML engineering and applied roles, shipped projects and production experience weigh more: an end-to-end project with data collection, a trained model, an API and monitoring says more than coursework. If you can do a part-time or employer-funded degree while working, that's the best of both.
"""

CONTENT_RUST = r"""
=== python-help rust
nadia: Has anyone here written a Python extension in Rust? Our pure-Python tokenizer is the bottleneck of the whole pipeline
hemi: Yes, PyO3 + maturin is a great fit for exactly this. `maturin new -b pyo3 fasttok`, write the function with `#[pyfunction]`, register it in the `#[pymodule]`, and `maturin develop --release` builds and installs it into your venv. For a tokenizer, take a `&str` and return token offsets as `Vec<(usize, usize)>` rather than a list of new Python strings, which avoids lots of allocations. Release the GIL for big inputs (`py.allow_threads`, renamed `py.detach` in recent PyO3). `maturin build --release` plus the maturin GitHub Action give you wheels for every platform. <https://pyo3.rs/|PyO3 user guide>
nadia: first prototype is 35x faster than the python version :exploding_head:

=== frontend rust
lucia: anyone used WebAssembly from a React app? I want to run an image-processing library in the browser
hemi: wasm-pack is the usual route if the library is Rust: mark the exported functions with `#[wasm_bindgen]`, run `wasm-pack build --target web`, and import the generated JS glue in your app (call the `init()` it exports first; with Vite, vite-plugin-wasm also works). Run it inside a Web Worker so heavy processing doesn't block the main thread, and pass image data as a `Uint8Array`: crossing the JS/Wasm boundary copies memory, so minimise round-trips. <https://rustwasm.github.io/docs/wasm-bindgen/|The wasm-bindgen guide>
chloe: +1 on the Web Worker; Comlink makes the worker feel like normal async function calls
lucia: it runs in a worker via comlink now and the UI stays smooth

=== python-help rust
tariq: Rust newbie: `cannot borrow *self as mutable because it is also borrowed as immutable` inside a loop over self.items. how do I get around it?
hemi: You're iterating `self.items` (an immutable borrow of self) while calling a `&mut self` method inside the loop. Options: loop over indices (`for i in 0..self.items.len()`) and index inside; collect what you need first (`let ids: Vec<_> = self.items.iter().map(|it| it.id).collect();`) and mutate afterwards; or narrow the method so it takes `&mut` only on the field it changes, because borrowing disjoint fields of a struct is fine. `std::mem::take(&mut self.items)` and putting the Vec back afterwards is another common trick.
tariq: changing the method to take &mut self.cache instead of &mut self worked

=== python-help rust
emma: PyO3: how can I return a numpy array from Rust without copying the data?
hemi: Use the `numpy` crate (rust-numpy): build an `ndarray::Array` and call `.into_pyarray(py)`, which hands ownership to NumPy without a copy. For inputs, take a `PyReadonlyArray2<f64>` and call `.as_array()` to get a zero-copy view. Make sure the dtypes line up (f64 is float64), otherwise you get a TypeError at the boundary.
emma: into_pyarray works, and the readonly view for inputs halved our runtime

=== frontend rust
marcus: Is it worth compiling our Rust CLI to WebAssembly to offer a playground on the docs site?
hemi: It works nicely as long as the core doesn't need the filesystem, threads or networking, since wasm32-unknown-unknown has none of those. Split the crate into a pure `core` library and the CLI wrapper, compile the core with wasm-pack, and keep an eye on binary size: `opt-level = "z"`, `lto = true` and a pass of `wasm-opt -Oz` usually take a few MB down to a few hundred KB.
marcus: our core is pure so this should be straightforward

=== python-help rust
noah: for a Python dev, what's the best way to start learning Rust? the borrow checker scares me
hemi: Read chapters 4 (ownership) and 10 (generics, traits, lifetimes) of the Rust Book twice, then do small exercises with rustlings. Write something you know well in Python, e.g. a CLI that parses a CSV with serde and clap, and let the compiler errors teach you; they are unusually helpful. Avoid linked lists and self-referential structs at the start, they fight ownership in ways that aren't representative.
noah: rustlings is fun, 30 exercises in
"""

CONTENT_LINKS = r"""
=== python-help link
sam: bookmarking this for the next "do I need setup.py" question: <https://packaging.python.org/en/latest/guides/writing-pyproject-toml|pyproject.toml guide>

=== python-help link
tomas: The PyPA pyproject guide now covers the PEP 639 license fields (`license = "MIT"` as an SPDX expression plus `license-files`), worth a re-read if you maintain packages: <https://packaging.python.org/en/latest/guides/writing-pyproject-toml/?utm_source=slack&utm_medium=chat|Writing your pyproject.toml>
priya: finally, the old license classifiers were such a mess

=== python-help link
priya: Reminder that the typing docs got a lot of new material in 3.12/3.13 (TypeIs, ReadOnly for TypedDict, type parameter defaults). Worth a skim: <https://docs.python.org/3/library/typing.html>

=== python-help link
arjun: the uv docs on projects and workspaces are really good, wish I had read them before our migration <https://docs.astral.sh/uv/concepts/projects/|uv: projects>

=== python-help link
hemi: For the Rust-curious Pythonistas: the maturin user guide is short and covers mixed Rust/Python projects really well <https://www.maturin.rs/|maturin user guide>

=== python-help link
leilani: PEP 751 was accepted: a standard lock file format (pylock.toml) that any installer can read <https://peps.python.org/pep-0751/|PEP 751>
tomas: uv can already export to it with `uv export --format pylock.toml`, nice for tools that don't speak uv.lock

=== data-engineering link
mehmet: if you only read one thing about SQL indexing this year: <http://use-the-index-luke.com|Use The Index, Luke>
mariusz: Seconded. The chapters on column order in composite indexes and on pagination are the ones I link most often.

=== data-engineering link
mariusz: Good write-up on autovacuum tuning for big, update-heavy tables, matches what I've seen in practice: <https://blog.example.org/2026/10/postgres-vacuum-tuning/|Autovacuum tuning for large tables>

=== data-engineering link
ingrid: from this week's newsletter, in case you missed it: <https://blog.example.org/2026/10/postgres-vacuum-tuning?utm_source=newsletter&utm_medium=email&utm_campaign=oct-digest|Postgres vacuum tuning>

=== data-engineering link
mariusz: The official docs on routine vacuuming and transaction ID wraparound. Boring title, essential reading if you run Postgres: <https://www.postgresql.org/docs/current/routine-vacuuming.html|Routine Vacuuming>

=== data-engineering link
kwame: DuckDB can query Parquet and CSV straight from S3 with globs; this replaced half of our small Spark jobs. Docs: <https://duckdb.org/docs/|DuckDB documentation>

=== data-engineering link
elena: someone shared this in another community, good refresher on composite indexes <https://Use-The-Index-Luke.com/?utm_source=slack&utm_medium=chat>

=== data-engineering link
bjorn: Handy whenever you need to look up a CRS, its units and area of use: <https://epsg.io/3857|EPSG:3857 on epsg.io> (and please don't measure distances in 3857 :slightly_smiling_face:)

=== data-engineering link
ingrid: the pandas merging guide is underrated: `validate=` and `indicator=` would prevent half the bugs I review <https://pandas.pydata.org/docs/user_guide/merging.html#checking-for-duplicate-keys>

=== data-engineering link
mariusz: Postgres 18 release notes are worth reading for the async I/O subsystem alone, sequential scans and vacuum got noticeably faster on our test boxes: <https://www.postgresql.org/docs/18/release-18.html|PostgreSQL 18 release notes>

=== devops-k8s link
arjun: good refresher on requests vs limits and what happens when you exceed each <https://KUBERNETES.io/docs/concepts/configuration/manage-resources-containers/>

=== devops-k8s link
leilani: bookmarking the resource management docs again because I always forget how CPU throttling works <http://kubernetes.io/docs/concepts/configuration/manage-resources-containers|k8s: resource management>
mateus: CPU limits mean throttling via the CFS quota, memory limits mean OOM kills. Many teams drop CPU limits entirely and set good requests instead.

=== devops-k8s link
siobhan: Metric naming conventions: units in the name, `_total` for counters, base units (seconds, bytes). Please read before adding new metrics :pray: <https://prometheus.io/docs/practices/naming/|Prometheus: metric and label naming>

=== devops-k8s link
aiko: The Helm chart template guide is worth going through once end to end, especially the parts on `include`, `tpl` and named templates: <https://helm.sh/docs/chart_template_guide/|Chart Template Guide>

=== devops-k8s link
mateus: Old but still right: keep config in the environment, not in the image. <https://12factor.net/config|The Twelve-Factor App: Config>

=== devops-k8s link
siobhan: Loki label best practices: static, low-cardinality labels only. Saves you from most "why is Loki slow" threads :slightly_smiling_face: <https://grafana.com/docs/loki/latest/get-started/labels/bp-labels/|Loki label best practices>

=== ml-ops link
fatima: For drift and data quality reports on tabular models, Evidently is what we use in our weekly model review: <https://github.com/evidentlyai/evidently|evidently>

=== ml-ops link
isabella: sharing again since it came up in standup: <https://engineering.example.com/posts/feature-store-lessons/?utm_source=slack&utm_medium=chat|feature store lessons>

=== ml-ops link
wei: The PyTorch AMP docs now use the device-generic `torch.amp` API; the `torch.cuda.amp` spellings are deprecated: <https://pytorch.org/docs/stable/amp.html>

=== ml-ops link
wei: The PEFT docs on LoRA configuration are the clearest explanation of r, alpha and target_modules I know: <https://huggingface.co/docs/peft/index|PEFT documentation>

=== frontend link
sofia: The React docs page every team should read once: <https://react.dev/learn/you-might-not-need-an-effect?utm_source=slack&utm_medium=chat&utm_campaign=frontend-weekly|You Might Not Need an Effect>
chloe: The section on chains of computations fixed a whole class of bugs in our checkout.

=== frontend link
sam: bookmarking <https://react.dev/learn/you-might-not-need-an-effect/>

=== frontend link
chloe: MDN's ARIA guide, including the first rule of ARIA: don't use ARIA if a native element does the job <https://developer.mozilla.org/en-US/docs/Web/Accessibility/ARIA|MDN: ARIA>

=== frontend link
sofia: TanStack Query's guide on query keys is the best explanation of server-state caching I know <https://tanstack.com/query/latest/docs/framework/react/guides/query-keys|Query keys>

=== career link
grace: Useful for checking compensation bands before a negotiation (take single data points with a grain of salt): <https://www.levels.fyi/|levels.fyi>

=== career link
daniel: For anyone thinking about the staff path, the staffeng guides are still the best free resource <https://staffeng.com/guides/staff-archetypes/>

=== general link week=4
hemi: Rust reading group starts next week: the Rust Book, chapters 4 (ownership) and 10 (generics, traits, lifetimes). Everyone welcome! <https://doc.rust-lang.org/book/|The Rust Programming Language>
leilani: love this, I'm in
noah: joining! never touched rust before

=== ml-ops link
fatima: For anyone asking about serving on Kubernetes: the KServe docs on InferenceService and autoscaling are solid <https://kserve.github.io/website/|KServe docs>

=== career link
daniel: Re-sharing the Tech Interview Handbook since it came up again; the system design and behavioural sections are a good free starting point: <https://www.techinterviewhandbook.org/?utm_source=slack&utm_medium=chat>
"""

CONTENT_COMMUNITY = r"""
=== general community day=0
grace: Welcome to Lantern Commons! :wave: Introduce yourself in this thread: name, where you're based, what you work on and what you'd like to learn.
pkeane: Patrick, London. Backend dev, mostly Go and Python, a bit of infra. Want to get better at Terraform
noah: Noah from Denver, CS student, learning Python and databases
thanh: Thanh, Ho Chi Minh City. Mobile dev (Kotlin and Swift), trying to move into backend
zainab: Zainab from Lagos, data analyst. Mostly SQL and Excel so far, learning pandas
marcus: Marcus, Toronto, just started as an SRE and drinking from the firehose
isabella: Isabella from Rome, junior ML engineer, fine-tuning all the things

=== general community week=3
grace: Mentoring round 3 sign-ups are open until Oct 16! Mentors and mentees: reply here or DM me. We match pairs by topic and time zone :handshake:
olivia: signing up as a mentee! would love someone for SQL and pandas
hemi: happy to mentor on Rust again, one slot
daniel: count me in for system design and interview prep, two slots
jamal: mentee here: interviewing and TypeScript

=== general community week=5
leilani: Community call on Thursday at 17:00 UTC: <@siobhan> talks about "Observability on a budget". Drop your questions in this thread :tada:
marcus: will it be recorded? 17 UTC is during my commute
leilani: yes, the recording goes into #general afterwards
siobhan: I'll cover Prometheus, Loki and Tempo on one small VM, and what I'd cut first when the budget is tight

=== general community week=6
leilani: The recording of Siobhán's observability call is up: <https://videos.example.org/lantern-commons/observability-on-a-budget|Observability on a budget (recording)>
marcus: thanks!! watching tonight

=== general community week=8
grace: Friendly reminder of our code of conduct: be kind, assume good intent, and put long logs and stack traces in threads :pray:

=== general community week=9
leilani: End-of-year community survey is out, 5 minutes, anonymous: <https://forms.example.org/lantern-commons/2026-survey|Lantern Commons survey 2026>. Results will shape next year's calls and mentoring rounds.
arjun: done! the mentoring round was the best part of this year for me

=== random social week=0
pkeane: Anyone have a Terraform state locking horror story? asking for a friend :upside_down_face:
sam: force-unlock at 2am, never again
mehmet: the DynamoDB lock table saved us once we finally set it up properly

=== random social
sam: what's everyone's go-to mechanical keyboard switch? mine just died
mehmet: browns, forever
arjun: silent reds, my partner insisted
leilani: I went full ergonomic split last year, my wrists are thankful
hemi: lubed tactiles, and yes I have opinions about stabilisers

=== random social
arjun: weekend reading recommendations? non-tech very welcome
grace: The Ministry for the Future. Heavy but great
sam: Project Hail Mary if you haven't read it yet
nadia: anything by Ted Chiang

=== random social week=2
mehmet: Anyone going to a conference this autumn? thinking about PyCon or KubeCon
mateus: KubeCon NA for me, speaking about pod autoscaling :crossed_fingers:
priya: PyCon India, I'm running a typing workshop there
leilani: let's do a meetup thread for whoever goes!

=== random social
leilani: show us your rubber duck :duck: (literal or metaphorical)
arjun: my cat. she listens to all my debugging monologues
sam: a whiteboard I never erase
elena: an actual yellow duck named Segfault

=== random social day=29
sam: PSA: it's Friday, don't deploy :no_entry_sign:
arjun: deploying right now, pray for me
mehmet: :fire: this is fine :fire:

=== random social
emma: coffee or tea for the afternoon slump? I'm trying to cut down on coffee
leilani: genmaicha, the toasted rice makes it feel like a snack
wei: oolong, and a short walk works better than both
ingrid: coffee, but I stop at 14:00 or I don't sleep

=== random social week=9
lucia: spring has properly arrived in Buenos Aires :cherry_blossom: what's the weather like where you are?
bjorn: 4 degrees and dark at 15:30. send sun
olivia: 28 in Sydney already, summer is coming fast
"""

CONTENT_BLOCKS = [CONTENT_PACKAGING, CONTENT_DATA, CONTENT_POSTGRES, CONTENT_GIS, CONTENT_K8S, CONTENT_OBSERVABILITY,
                  CONTENT_MLOPS, CONTENT_FRONTEND, CONTENT_CAREER, CONTENT_RUST, CONTENT_LINKS, CONTENT_COMMUNITY]

if __name__ == "__main__":
    main()
