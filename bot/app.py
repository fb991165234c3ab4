"""The one wiring module: settings in, database, embedder, services and adapters out."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from bot.db.engine import Database
from bot.embedder import SentenceEmbedder
from bot.settings import Settings
from matching.vector_index import NumpyVectorIndex, VectorIndex

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    embedder: SentenceEmbedder
    vectors: VectorIndex
    expertise: ExpertiseService  # noqa: F821
    ingest: IngestService  # noqa: F821
    importer: ImportService  # noqa: F821
    core: Core  # noqa: F821
    scheduler: Scheduler  # noqa: F821  (started by `connective run`, not by one-shot commands)
    intros: IntroService | None = None  # noqa: F821
    home: HomeService | None = None  # noqa: F821
    outbox: Outbox | None = None  # noqa: F821  (actions a command line kept for the running bot: bot.outbox)
    digests: DigestService | None = None  # noqa: F821
    mentoring: MentoringService | None = None  # noqa: F821
    health: Health | None = None  # noqa: F821  (/healthz: the runners say whether the platform is connected)
    stop_by: float | None = None  # the event loop's time by which a stop (SIGTERM) must be over; set by bot.serve

    def seconds_to_stop(self) -> float:
        """What is left of the stop's grace period (all of it outside a stop). The scheduler, the runner and the core
        finish their work in hand within the one period, so that a stop is over in CONNECTIVE_SHUTDOWN_GRACE_SECONDS
        (below Kubernetes' terminationGracePeriodSeconds); each took a whole period of its own, and a runner's ran out
        as a TimeoutError that `connective run` reported as "cannot reach Slack", exit 2."""
        if self.stop_by is None:
            return self.settings.shutdown_grace_seconds
        import asyncio

        return max(0.0, self.stop_by - asyncio.get_running_loop().time())

    async def close(self) -> None:
        self.scheduler.shutdown()
        await self.expertise.stop_background()
        await self.db.dispose()


def choose_vector_index(settings: Settings, db: Database) -> VectorIndex:
    kind = settings.vector_index
    if kind == "auto":
        kind = "pgvector" if db.dialect == "postgresql" else "numpy"
    if kind == "pgvector":
        if db.dialect != "postgresql":
            from bot.errors import UserError

            raise UserError("vector_index (CONNECTIVE_VECTOR_INDEX) = pgvector needs a postgresql:// database")
        from bot.vector_pg import PgVectorIndex

        return PgVectorIndex(db)
    return NumpyVectorIndex()


def refit_job(expertise: ExpertiseService, core: Core):  # noqa: ANN201, F821
    """The running bot's refit: of the communities it serves (bot.serving). Winning the refit claim of another
    workspace's community (a shared database) loaded its whole corpus into this process, kept in memory for good."""
    from bot import serving

    async def refit() -> None:
        await expertise.refit_grown(communities=serving.community_ids(core.senders))

    return refit


def build_app(settings: Settings, *, embedder: SentenceEmbedder | None = None, db: Database | None = None) -> App:
    from bot.core import Core
    from bot.scheduler import Scheduler
    from bot.services.expertise import ExpertiseService
    from bot.services.importing import ImportService
    from bot.services.ingest import IngestService

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    db = db or Database(settings.database_url)
    embedder = embedder or SentenceEmbedder(settings.resolved_model_path(), batch_size=settings.embed_batch_size,
                                            runtime=settings.embedding_runtime, cache_dir=settings.model_cache_dir)
    vectors = choose_vector_index(settings, db)
    expertise = ExpertiseService(db, embedder, vectors, weekly_intro_cap=settings.weekly_intro_cap)
    ingest = IngestService(db, expertise)
    importer = ImportService(db, ingest, expertise, index_build_memory_mb=settings.index_build_memory_mb)
    core = Core(db=db, expertise=expertise, ingest=ingest, settings=settings)
    scheduler = Scheduler()
    app = App(settings, db, embedder, vectors, expertise, ingest, importer, core, scheduler)
    from bot.health import Health

    app.health = Health(db)
    from bot.services.expertise import REFIT_SECONDS

    scheduler.every("ranking:refit", REFIT_SECONDS, refit_job(expertise, core))
    scheduler.every("corpus:prune-changes", 3600, expertise.prune_changes)
    scheduler.every("events:prune", 3600, core.prune_processed_events)
    scheduler.every("reactions:prune-pending", 3600, core.prune_pending_reactions)
    from bot.inbox import SWEEP_SECONDS

    # Events acknowledged by a process that died before handling them: at start, then every minute.
    scheduler.every("inbox:sweep", SWEEP_SECONDS, core.inbox.sweep, start_now=True)
    from bot import outbox

    # What a command line kept for the platform (connective forget without the token): at start, then every minute.
    app.outbox = outbox.Outbox(db=db, core=core)
    scheduler.every("outbox:send", outbox.SWEEP_SECONDS, app.outbox.send_due, start_now=True)
    # Feature services register their commands, clicks and jobs here.
    from bot.services import community_settings, home, intros

    app.intros = intros.setup(app)
    app.home = home.setup(app)
    from bot.services.mentoring import setup as setup_mentoring
    app.mentoring = setup_mentoring(app)
    community_settings.setup(app)
    from bot.services.digest import setup as setup_digests

    app.digests = setup_digests(app)
    return app
