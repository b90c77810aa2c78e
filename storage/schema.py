"""Start-up check of the schema revision without importing Alembic (about 11 MB of memory).

A process that starts against a database already at head only needs to know so: it reads
``alembic_version`` and compares it with the newest revision named in the headers of
``storage/migrations/versions``. Alembic (:mod:`storage.migrate`) is imported only when an
upgrade is needed or the headers cannot be read simply (a merge revision, say).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine

__all__ = ["database_revisions", "ensure_schema", "newest_revision"]

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"

_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?=\s*['\"]([^'\"]+)['\"]\s*$", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?=\s*(None|['\"]([^'\"]+)['\"])\s*$", re.M)


def newest_revision(directory: Path = VERSIONS_DIR) -> str | None:
    """The single head of the migration files, or None when that is not plain to see."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in directory.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            if path.name == "__init__.py":
                continue
            return None
        down = _DOWN.search(source)
        if down is None:  # a tuple (merge) or something else: let Alembic decide
            return None
        revisions.add(revision.group(1))
        if down.group(2) is not None:
            parents.add(down.group(2))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def database_revisions(url: str) -> set[str]:
    """The revisions in ``alembic_version`` (empty when there is no such table)."""
    engine = create_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            exists = await connection.run_sync(
                lambda sync: sync.dialect.has_table(sync, "alembic_version")
            )
            if not exists:
                return set()
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def ensure_schema(url: str) -> bool:
    """Bring the schema to head; True when Alembic had to run (False: already at head)."""
    head = newest_revision()
    if head is not None and await database_revisions(url) == {head}:
        return False
    from storage.migrate import upgrade_to_head  # Alembic only when needed

    await upgrade_to_head(url)
    return True
