"""Prometheus metrics of the core, platform-neutral. Labels are closed sets (platform, event kind,
outcome): never message text, user ids or tokens. Served by the ops server (adapters/ops/server.py)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's own (resident memory, CPU seconds, open files, start time; the interpreter's version and collections),
# as deploy/README.md promises: a registry of our own had none, so no memory alert could see a replica near its limit.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

EVENTS = Counter("connective_events_ingested", "Platform events handed to the core (after de-duplication)",
                 ["platform", "kind"], registry=REGISTRY)
DUPLICATES = Counter("connective_events_duplicate", "Events already processed (retries, other replicas)",
                     ["platform"], registry=REGISTRY)
ASKS = Counter("connective_asks_served", "Who-knows questions answered", ["platform", "found"], registry=REGISTRY)
ASK_SECONDS = Histogram("connective_ask_seconds", "Time to rank experts for one question", ["platform"],
                        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
INTROS = Counter("connective_intros", "Intro state changes by outcome (requested, accepted, declined, "
                 "not_my_area, expired, withdrawn)", ["outcome"], registry=REGISTRY)
DIGESTS = Counter("connective_digests", "Digest runs by outcome (posted, empty, failed, skipped, not-due, paused)",
                  ["outcome"], registry=REGISTRY)
EMBED_QUEUE = Gauge("connective_embedding_queue_depth", "Messages waiting to be embedded", registry=REGISTRY)
EMBED_BATCH = Histogram("connective_embedding_batch_size", "Messages embedded per batch",
                        buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000), registry=REGISTRY)
HANDLE_ERRORS = Counter("connective_event_errors", "Events whose handling failed (logged)", ["platform"],
                        registry=REGISTRY)
INBOX = Counter("connective_inbox_replays", "Acknowledged events left unhandled, replayed from the inbox, by outcome "
                "(handled, left: failed or still under way, set_aside: failed every replay, dropped: no adapter of its "
                "platform ran to replay it for 7 days)", ["platform", "outcome"],
                registry=REGISTRY)

OUTBOX = Counter("connective_outbox_actions", "Actions kept for the running bot (bot.outbox; `connective outbox` lists "
                 "them), by outcome (kept: failed live and kept, sent, refused: for good by the platform, failed: "
                 "to be tried again, given_up: failed every attempt and removed)", ["platform", "outcome"],
                 registry=REGISTRY)


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


__all__ = ["ASKS", "ASK_SECONDS", "CONTENT_TYPE", "DIGESTS", "DUPLICATES", "EMBED_BATCH", "EMBED_QUEUE", "EVENTS",
           "HANDLE_ERRORS", "INBOX", "INTROS", "OUTBOX", "REGISTRY", "exposition"]
