"""Build small Slack exports on disk for tests (the real layout: users.json, channels.json, days)."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

TEAM = "TTEST0001"


def write_slack_export(root: Path, users: dict[str, str], threads: list[list[tuple[str, str]]], *,
                       channel: str = "general", start: float = 1_700_000_000.0, team: str = TEAM,
                       step: float = 3600.0, extra: list[dict] | None = None) -> Path:
    """users: id -> name. threads: each a list of (user id, text); the first message is the root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps([
        {"id": uid, "team_id": team, "name": name.lower(), "real_name": name, "deleted": False, "is_bot": False,
         "profile": {"real_name": name, "display_name": name}} for uid, name in users.items()
    ]))
    (root / "channels.json").write_text(json.dumps([{"id": "C0GENERAL", "name": channel, "created": int(start)}]))
    days: dict[str, list[dict]] = defaultdict(list)
    t = start
    for thread in threads:
        root_ts = f"{t:.6f}"
        for i, (user, text) in enumerate(thread):
            ts = f"{t + i * 60:.6f}"
            m = {"type": "message", "user": user, "text": text, "ts": ts}
            if len(thread) > 1:
                m["thread_ts"] = root_ts
                if i:
                    m["parent_user_id"] = thread[0][0]
            days[datetime.fromtimestamp(t, UTC).date().isoformat()].append(m)
        t += step
    for m in extra or []:
        days[datetime.fromtimestamp(float(m["ts"]), UTC).date().isoformat()].append(m)
    (root / channel).mkdir(exist_ok=True)
    for day, msgs in days.items():
        (root / channel / f"{day}.json").write_text(json.dumps(sorted(msgs, key=lambda m: float(m["ts"]))))
    return root


USERS = {"UASK1": "Asha", "UASK2": "Bruno", "UPG": "Petra", "UK8S": "Kenji", "UCSS": "Chloe", "UREG": "Reggie"}

THREADS = [
    [("UASK1", "Our postgres query is slow, the planner ignores the index on created_at"),
     ("UPG", "Run EXPLAIN ANALYZE; a btree index on created_at is skipped when the predicate casts the column"),
     ("UASK1", "thanks, that fixed it!")],
    [("UASK2", "Vacuum never finishes on a big postgres table, autovacuum seems stuck"),
     ("UPG", "Check pg_stat_activity for long transactions holding back xmin; tune autovacuum_vacuum_cost_limit")],
    [("UASK1", "How do I roll back a kubernetes deployment that went bad?"),
     ("UK8S", "kubectl rollout undo deployment/web, and kubectl rollout history to pick a revision")],
    [("UASK2", "My pods keep getting OOMKilled in kubernetes"),
     ("UK8S", "Set resources.limits.memory above the JVM heap; check kubectl describe pod for the last state")],
    [("UASK1", "How do I center a div with CSS grid?"),
     ("UCSS", "display: grid; place-items: center on the parent does it")],
    [("UASK2", "Flexbox items overflow their container in Safari"),
     ("UCSS", "Add min-width: 0 to the flex children; Safari keeps min-width:auto")],
    [("UASK1", "Anyone going to the meetup on Friday?"), ("UREG", "yes, see you there")],
    [("UASK2", "What's a good lunch place near the office?"), ("UREG", "the noodle bar on 5th is great")],
]
