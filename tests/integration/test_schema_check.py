"""The start-up schema check (storage/schema.py): it agrees with Alembic, and a process whose
database is already at head never imports Alembic."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from storage.migrate import current_revision, downgrade_to_base, head_revision
from storage.schema import database_revisions, ensure_schema, newest_revision


def test_the_newest_revision_read_from_the_files_is_alembics_head() -> None:
    assert newest_revision() == head_revision()


def test_a_merge_or_two_heads_leave_the_decision_to_alembic(tmp_path: Path) -> None:
    header = 'revision: str = "{}"\ndown_revision: str | None = {}\n'
    (tmp_path / "a.py").write_text(header.format("a", "None"))
    (tmp_path / "b.py").write_text(header.format("b", '"a"'))
    assert newest_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text(header.format("c", '"a"'))
    assert newest_revision(tmp_path) is None  # two heads
    (tmp_path / "c.py").write_text(header.format("c", '("a", "b")'))
    assert newest_revision(tmp_path) is None  # a merge revision


async def test_ensure_schema_migrates_only_when_behind(empty_db_url: str) -> None:
    assert await database_revisions(empty_db_url) == set()
    assert await ensure_schema(empty_db_url) is True
    assert await current_revision(empty_db_url) == head_revision()
    assert await ensure_schema(empty_db_url) is False
    await downgrade_to_base(empty_db_url)
    assert await ensure_schema(empty_db_url) is True
    assert await database_revisions(empty_db_url) == {head_revision()}


async def test_a_process_at_head_does_not_import_alembic(empty_db_url: str) -> None:
    await ensure_schema(empty_db_url)
    code = (
        "import asyncio, sys; from storage.schema import ensure_schema; "
        "migrated = asyncio.run(ensure_schema(sys.argv[1])); "
        "print(migrated, 'alembic' in sys.modules)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, empty_db_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    assert out.decode().split() == ["False", "False"]
