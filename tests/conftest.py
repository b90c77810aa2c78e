"""Shared fixtures: databases on SQLite and PostgreSQL, and Redis, unique to each test run.

Databases
    ``db_backend``   "sqlite" or "postgresql" (a test using any database fixture runs on both).
    ``db_url``       a database at the latest migration with no rows. SQLite: a copy of a migrated
                     template file, private to the test. PostgreSQL: this run's database, all
                     rows deleted before the test (so never change its schema in a test, and
                     close every connection by the end of the test).
    ``empty_db_url`` an empty database (no tables), private to the test: for migration tests.
    ``database``     a :class:`storage.db.Database` on ``db_url`` (engine disposed afterwards).
    ``uow``          its :class:`storage.db.SqlUnitOfWork`.
    ``pg_db_url`` / ``pg_empty_db_url``  the same on PostgreSQL only (tests of PostgreSQL
                     behaviour; mark them ``@pytest.mark.postgres``).

PostgreSQL is reached as user ``postgres`` at 127.0.0.1:5432 (or ``TEST_PG_DSN``); every
database this run creates is named ``onesme_t_<pid>_<random>…`` and dropped at the end.

Redis
    ``redis_url``    the server (``TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``).
    ``redis_prefix`` a key prefix private to the test; every key of the run is deleted at the end.
    ``redis_client`` an async ``redis.asyncio.Redis`` client (closed afterwards).

When PostgreSQL or Redis cannot be reached the tests needing them are skipped, except when the
environment variable ``CI`` is ``true``: then they fail (a skipped test is not a pass in CI).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").strip().lower() == "true"
PG_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = f"onesme_t_{os.getpid()}_{secrets.token_hex(3)}"

_names = itertools.count(1)


def run_in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh event loop in a worker thread.

    Sync fixtures use it so that they never disturb the event loop pytest-asyncio gives tests.
    """

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip")
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class PgServer:
    """Creates and drops this run's databases through the server's maintenance database."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.created: list[str] = []

    def url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.dsn).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)

    def execute(self, *statements: str) -> None:
        import asyncpg

        async def run() -> None:
            connection = await asyncpg.connect(self.dsn, timeout=5)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        run_in_thread(run)

    def create(self, name: str, template: str | None = None) -> str:
        suffix = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{suffix}')
        self.created.append(name)
        return self.url(name)

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(PG_DSN)
    try:
        server.execute("SELECT 1")
    except Exception as error:
        unavailable("PostgreSQL", error)
    yield server
    for name in list(server.created):
        server.drop(name)


@pytest.fixture(scope="session")
def pg_shared(pg_server: PgServer) -> str:
    """This run's PostgreSQL database at the latest migration, emptied before each test that
    uses it (cloning a database costs ~0.5 s; deleting the rows a few milliseconds)."""
    from storage.migrate import upgrade_to_head

    url = pg_server.create(f"{RUN_ID}_db")
    run_in_thread(lambda: upgrade_to_head(url))
    return url


def empty_tables(url: str) -> None:
    """Delete every row of the application's tables (one TRUNCATE of them all, so foreign keys
    between them, cycles included, need no order); the schema stays."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from storage.models import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        connection = await asyncpg.connect(dsn, timeout=5)
        try:
            await connection.execute("SET lock_timeout = '10s'")
            names = ", ".join(f'"{table}"' for table in tables)
            await connection.execute(f"TRUNCATE {names}")
        finally:
            await connection.close()

    run_in_thread(run)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storage.migrate import upgrade_to_head

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    run_in_thread(lambda: upgrade_to_head(sqlite_url(path)))
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# ---------------------------------------------------------------------------------------------
# Databases for a test


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _new_pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"{RUN_ID}_{next(_names)}"
    url = server.create(name)
    yield url
    server.drop(name)


def _shared_pg_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("pg_shared")
    empty_tables(url)
    return url


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield sqlite_url(path)
    else:
        yield _shared_pg_database(request)


@pytest.fixture
def empty_db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if db_backend == "sqlite":
        yield sqlite_url(tmp_path / "empty.db")
    else:
        yield from _new_pg_database(request)


@pytest.fixture
def pg_db_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL-only ``db_url``, for tests of PostgreSQL behaviour (row locks, advisory
    locks); mark such tests ``@pytest.mark.postgres``."""
    return _shared_pg_database(request)


@pytest.fixture
def pg_empty_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _new_pg_database(request)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Any]:
    from storage.db import Database

    db = Database(db_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def uow(database: Any) -> Any:
    return database.uow


# ---------------------------------------------------------------------------------------------
# Redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    from redis.asyncio import Redis

    async def ping() -> None:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def cleanup() -> None:
        client = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{RUN_ID}:*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    try:
        run_in_thread(ping)
    except Exception as error:
        unavailable("Redis", error)
    yield REDIS_URL
    run_in_thread(cleanup)


@pytest.fixture
def redis_prefix(redis_url: str) -> str:
    return f"{RUN_ID}:{next(_names)}:"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


_LAYER_MARKERS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "browser": "e2e"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer (``unit``, ``integration``, ``e2e``) from its folder, so
    ``pytest -m unit`` runs the fast ones and ``-m "not e2e"`` leaves out the real bot; browser
    tests are also ``e2e``. ``slow`` is set by the tests that take tens of seconds on purpose."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            layer = Path(str(item.fspath)).resolve().relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        marker = _LAYER_MARKERS.get(layer)
        if marker is not None:
            item.add_marker(marker)
