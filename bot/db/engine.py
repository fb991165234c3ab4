"""Async engines for the embedded SQLite default and PostgreSQL."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.errors import UserError

SQLITE_BUSY_MS = 10_000
_PASSWORD_OPTION = re.compile(r"([?&]password=)[^&#\s]*", re.IGNORECASE)
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def shown_url(url: str) -> str:
    """A database URL as messages show it: without its password, even where it is no URL to parse."""
    url = _PASSWORD_OPTION.sub(r"\1***", url)  # ?password=… (libpq takes it there too)
    head, at, tail = url.rpartition("@")  # the user part ends at the last @ (a password may hold one unencoded)
    if not at:
        return url
    start = head.find("//") + 2 if "//" in head else 0
    user, colon, _ = head[start:].partition(":")
    return f"{head[:start]}{user}{':***' if colon else ''}@{tail}"


def async_url(url: str) -> str:
    """`sqlite:///x.db` and `postgresql://...` as users write them, with the async driver filled in (in place of a
    synchronous one, psycopg2's say, that another tool's URL names)."""
    url = url.strip()
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
        why = "has a port that is not a number" if isinstance(exc, ValueError) else "is not a URL"
        # A file's path given as it is (`--db connective.db`): say how to name it.
        hint = f"; a SQLite file is named sqlite:///{Path(url).expanduser().absolute()}" \
            if "://" not in url and "@" not in url else ""  # "@": a password, perhaps, never echoed
        raise UserError(f"database URL (--db / CONNECTIVE_DATABASE_URL) {why}: {shown_url(url)!r}{hint}") from None
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise UserError(
            f"database URL (--db / CONNECTIVE_DATABASE_URL) must be sqlite:// or postgresql://, not {backend}://"
        )
    parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    if backend != "sqlite":
        parsed = _libpq_options(parsed)
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise UserError(f"database URL (--db / CONNECTIVE_DATABASE_URL): folder {folder} does not exist")
    return parsed.render_as_string(hide_password=False)


IN_MEMORY = ("database URL (--db / CONNECTIVE_DATABASE_URL) {url} is an in-memory SQLite database: it starts empty "
             "and is gone when the command ends (an import into it would be lost); name a file, e.g. "
             "sqlite:///{example}")


def in_memory(url: str) -> bool:
    """A SQLite database that lives in the process (sqlite://, sqlite:///:memory:, a file: URI in mode=memory)."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:") or parsed.query.get("mode") == "memory"


def refuse_in_memory(url: str) -> None:
    """Every command that opens the configured database keeps what it does there, or reads what was kept: an in-memory
    one kept nothing (`import` said it stored thousands of messages, and they were gone; `ask` then said "import
    first")."""
    if in_memory(url):
        example = Path.cwd() / "connective.db"
        raise UserError(IN_MEMORY.format(url=shown_url(url.strip()), example=example))


# libpq's (psycopg2's) URL options as asyncpg takes them: its connect() refused them ("unexpected keyword argument").
_LIBPQ_RENAMED = {"sslmode": "ssl", "connect_timeout": "timeout"}
_LIBPQ_ONLY = ("options", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "sslcert",
               "sslkey", "sslrootcert", "sslpassword", "gssencmode", "client_encoding", "fallback_application_name")


def _libpq_options(parsed):  # noqa: ANN001, ANN202  (a sqlalchemy URL)
    for name, instead in _LIBPQ_RENAMED.items():
        if name in parsed.query and instead not in parsed.query:
            parsed = parsed.update_query_dict({instead: parsed.query[name]}).difference_update_query([name])
    for name in _LIBPQ_ONLY:
        if name in parsed.query:
            raise UserError(f"database URL (--db / CONNECTIVE_DATABASE_URL): option {name!r} is libpq's (psycopg2); "
                            "connective's driver, asyncpg, does not take it: remove it")
    for name in parsed.query:  # anything else asyncpg's connect() would refuse with a traceback
        if name not in _ASYNCPG_OPTIONS:
            raise UserError(f"database URL (--db / CONNECTIVE_DATABASE_URL): option {name!r} is not one the driver, "
                            "asyncpg, takes (it takes ssl, timeout, command_timeout, application_name, host, …): "
                            "remove it")
    return parsed


# What a URL's query may hold: asyncpg.connect()'s keyword arguments that a text can give, SQLAlchemy's own
# (prepared_statement_cache_size), and application_name, which _connect_args passes on as a server setting.
_ASYNCPG_OPTIONS = frozenset({
    "host", "port", "user", "password", "passfile", "service", "servicefile", "database", "timeout",
    "statement_cache_size", "max_cached_statement_lifetime", "max_cacheable_statement_size", "command_timeout", "ssl",
    "direct_tls", "target_session_attrs", "krbsrvname", "gsslib", "prepared_statement_cache_size", "application_name",
})


def _connect_args(parsed) -> dict[str, Any]:  # noqa: ANN001  (a sqlalchemy URL)
    """What a PostgreSQL URL says that asyncpg takes only typed: seconds as numbers, the application's name."""
    args: dict[str, Any] = {}
    for name in ("timeout", "command_timeout"):
        if name in parsed.query:
            try:
                args[name] = float(parsed.query[name])
            except (TypeError, ValueError):
                raise UserError(f"database URL (--db / CONNECTIVE_DATABASE_URL): {name} is not a number of seconds: "
                                f"{parsed.query[name]!r}") from None
    if "application_name" in parsed.query:
        args["server_settings"] = {"application_name": str(parsed.query["application_name"])}
    return args


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def create_engine(url: str, *, statement_timeout: float | None = None, **kwargs: Any) -> AsyncEngine:
    """`statement_timeout`: seconds a PostgreSQL statement may run before the server cancels it (None or 0: no limit;
    a job that runs long lifts it for its own statements: unlimited())."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "postgresql" and (typed := _connect_args(parsed)):
        parsed = parsed.difference_update_query(["timeout", "command_timeout", "application_name"])
        kwargs["connect_args"] = {**typed, **kwargs.get("connect_args", {})}
    if parsed.get_backend_name() == "postgresql" and statement_timeout:
        # A server setting of each connection: the server cancels the statement, and the connection goes on (a
        # client-side timeout leaves the server working and the connection to be thrown away).
        connect_args = dict(kwargs.get("connect_args", {}))
        connect_args["server_settings"] = {**connect_args.get("server_settings", {}),
                                           "statement_timeout": str(max(1, round(statement_timeout * 1000)))}
        kwargs["connect_args"] = connect_args
    # A failed statement's error names its parameters (message text, names, tokens' owners) unless hidden, and the
    # tracebacks of failed events are logged: an outage mid-insert wrote members' messages into the logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "postgresql":
        # After a PostgreSQL restart or a failover every pooled connection is dead, and the first request on each
        # failed: a connection is checked (a round trip) as it leaves the pool, and replaced if it is gone.
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def unlimited(conn: AsyncConnection | AsyncSession) -> None:
    """No statement timeout for the rest of this transaction (PostgreSQL): for the work that is meant to run long
    (a migration, the vector index's build, moving every imported link), not cut off at the pool's limit."""
    dialect = conn.dialect if isinstance(conn, AsyncConnection) else conn.bind.dialect
    if dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL statement_timeout = 0"))


QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (by statement_timeout, or an admin)


def unreachable(exc: BaseException) -> str | None:
    """The kind of error (ConnectionRefusedError, TimeoutError, …) when `exc` says the database could not be reached
    or the connection was lost, or did not answer within the statement timeout (`run`'s), rather than that a
    statement failed: during an outage or a slow spell, what is worth one line, not a traceback per event or per
    scheduled job, and a member waiting on an answer is told to try again."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:  # it did not answer within the statement timeout
            return "statement timeout"
        exc = exc.orig if exc.orig is not None else exc
    return type(exc).__name__ if isinstance(exc, OSError | TimeoutError) else None


class Database:
    """One engine and its session factory; services open sessions and own the transaction."""

    def __init__(self, url: str, *, statement_timeout: float | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.statement_timeout = statement_timeout or None
        self.engine = create_engine(url, statement_timeout=statement_timeout, **engine_kwargs)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
