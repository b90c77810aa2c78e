"""The operator commands (``onesme-bot …``), run in-process through ``main`` and, once, as the
installed console script, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import main
from storage.db import Database
from storage.migrate import head_revision
from tests.integration.test_storage_catalog import dump

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "catalog.sample.yaml"

CONTRACT_EXAMPLE = """\
services:
  - code: SMARTCA            # unique; [A-Z0-9_-]
    name: "VNPT SmartCA"
    kind: ON                 # ON: paid online through VNPT Pay. OS: order service, paid in cash
    description: "Chữ ký số từ xa"
    plans:
      - code: SMARTCA-BASIC  # unique within the service
        name: "Gói Cơ bản"
        tax: "10%"           # KCT | 0% | 5% | 8% | 10%
        pricing: flat        # flat | unit (price × quantity); tier | volume | stairstep optional
        features: ["1 chứng thư số", "Ký không giới hạn"]
        cycles:              # one entry = a 1-cycle plan; several = a multi-cycle plan
          - {code: M12, every: 12, unit: month, price: 1800000}   # unit: day | week | month | year
        addons: [SMARTCA-TSA] # add-on codes that may be ticked with this plan
    addons:
      - code: SMARTCA-TSA
        name: "Dịch vụ cấp dấu thời gian"
        tax: "10%"
        type: periodic       # periodic: price per `unit`, billed for the plan's whole cycle
        unit: month          # (12 × price on a 12-month cycle); once: one-off `price`
        price: 30000
promotions:
  - code: KM-SMARTCA10
    name: "Giảm 10% gói SmartCA"
    scope: plan              # plan | addon | invoice
    percent: 10              # or: amount: 50000
    max_discount: 200000     # optional cap, đồng (percent only)
    applies_to: [SMARTCA-BASIC]  # plan codes (scope plan) or add-on codes (scope addon)
    starts: 2026-01-01       # optional; dates in Asia/Ho_Chi_Minh
    ends: 2026-12-31         # optional, inclusive
    min_amount: 0            # optional: minimum line (plan/addon) or subtotal (invoice) in đồng
    quota: 1000              # optional: total uses
    per_customer: 1          # optional: uses per enterprise
"""

#: one file with five different problems, and the path each one must be reported at
INVALID = """\
services:
  - code: SVC
    name: "Dịch vụ"
    kind: XX
    plans:
      - code: P1
        name: "Gói 1"
        tax: "10%"
        pricing: flat
        cycles:
          - {code: M1, every: 1, unit: month, price: -5}
        addons: [NOPE]
      - code: P1
        name: "Gói 2"
        tax: "10%"
        pricing: flat
        cycles:
          - {code: M1, every: 1, unit: month, price: 1000}
promotions:
  - code: KM
    name: "KM"
    scope: invoice
    amount: 1000
    ends: "31/12/2026"
"""
INVALID_PATHS = (
    "services[0].kind",
    "services[0].plans[0].cycles[0].price",
    "services[0].plans[0].addons[0]",
    "services[0].plans[1].code",
    "promotions[0].ends",
)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: no stray .env file or bot variables from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("BOT_", "VNPTPAY_", "HTTP_", "WEBHOOK_")) or name in (
            "DATABASE_URL",
            "REDIS_URL",
            "CATALOG_FILE",
            "ADMIN_IDS",
            "LOG_LEVEL",
            "LOG_FORMAT",
        ):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def url(db_url: str, cli_env: pytest.MonkeyPatch) -> str:
    cli_env.setenv("DATABASE_URL", db_url)
    return db_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        database = Database(url)
        try:
            async with database.engine.connect() as connection:
                return [tuple(r) for r in await connection.execute(text(sql))]
        finally:
            await database.dispose()

    return asyncio.run(fetch())


def catalog_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    async def fetch() -> dict[str, list[tuple[Any, ...]]]:
        database = Database(url)
        try:
            return await dump(database)
        finally:
            await database.dispose()

    return asyncio.run(fetch())


def test_migrate_builds_the_schema_and_is_idempotent(
    empty_db_url: str, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.setenv("DATABASE_URL", empty_db_url)
    code, out, err = run(capsys, "migrate")
    assert (code, err) == (0, [])
    head = head_revision()
    assert out == [f"database schema is at the latest migration ({head})"]
    assert query(empty_db_url, "SELECT version_num FROM alembic_version") == [(head,)]
    assert run(capsys, "migrate")[0] == 0


@pytest.mark.parametrize("source", ["sample", "contract"])
def test_catalog_load_twice_changes_nothing_the_second_time(
    source: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if source == "sample":
        path = SAMPLE
    else:
        path = tmp_path / "catalog.yaml"
        path.write_text(CONTRACT_EXAMPLE, encoding="utf-8")

    code, out, err = run(capsys, "catalog", "load", str(path))
    assert (code, err) == (0, [])
    assert out[0].startswith(f"catalog loaded from {path}:")
    first = catalog_rows(url)
    assert first["catalog_services"]
    history = query(url, "SELECT count(*) FROM history_events")

    code, out, err = run(capsys, "catalog", "load", str(path))
    assert (code, err) == (0, [])
    assert out[0].startswith("catalog unchanged")
    assert catalog_rows(url) == first
    assert query(url, "SELECT count(*) FROM history_events") == history
    assert query(url, "SELECT value FROM counters WHERE name = 'catalog:revision'") == [(1,)]


def test_an_invalid_catalog_names_every_problem_and_changes_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(CONTRACT_EXAMPLE, encoding="utf-8")
    assert run(capsys, "catalog", "load", str(good))[0] == 0
    before = catalog_rows(url)

    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID, encoding="utf-8")
    code, out, err = run(capsys, "catalog", "load", str(bad))
    assert code == 2
    assert out == []
    assert sorted(line.split(": ")[0] for line in err) == sorted(INVALID_PATHS)
    assert "Traceback" not in "\n".join(err)
    assert catalog_rows(url) == before

    code, _, err = run(capsys, "catalog", "load", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("<file>: cannot read")

    impossible = tmp_path / "impossible-date.yaml"
    impossible.write_text(
        "promotions:\n  - {code: A, name: A, scope: invoice, amount: 1, ends: 2026-02-30}\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "catalog", "load", str(impossible))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("<file>:")
    assert catalog_rows(url) == before


def test_enterprises_add_validates_and_is_idempotent(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "enterprises",
        "add",
        "0314 409 058-002",
        "Công ty TNHH Thương mại ABC",
        "--address",
        "Số 57 Huỳnh Thúc Kháng, Hà Nội",
        "--email",
        "KeToan@ABC.VN",
        "--phone",
        "091 234 5678",
        "--province",
        "Hà Nội",
    )
    assert (code, err) == (0, [])
    assert out[0].startswith("enterprise created: 0314409058-002 Công ty TNHH Thương mại ABC")
    row = query(url, "SELECT tax_code, name, address, email, phone, province FROM enterprises")
    assert row == [
        (
            "0314409058-002",
            "Công ty TNHH Thương mại ABC",
            "Số 57 Huỳnh Thúc Kháng, Hà Nội",
            "KeToan@abc.vn",
            "+84912345678",
            "Hà Nội",
        )
    ]

    code, out, err = run(capsys, "enterprises", "add", "0314409058-002", "Tên khác")
    assert (code, err) == (0, [])
    assert out[0].startswith("enterprise already exists, unchanged")
    assert query(url, "SELECT name FROM enterprises") == [("Công ty TNHH Thương mại ABC",)]

    for argv, field in (
        (("0100233489", "Sai MST"), "tax_code"),
        (("01002334", "Ngắn"), "tax_code"),
        (("0100233488", "Công ty", "--phone", "12345"), "phone"),
        (("0100233488", "Công ty", "--email", "not-an-email"), "email"),
        (("0100233488", "   "), "name"),
    ):
        code, out, err = run(capsys, "enterprises", "add", *argv)
        assert code == 2, argv
        assert out == []
        assert len(err) == 1 and err[0].startswith(f"onesme-bot: invalid {field}:"), err
    assert query(url, "SELECT count(*) FROM enterprises") == [(1,)]


def test_users_grant_every_role(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "enterprises", "add", "0100233488", "Công ty ABC")[0] == 0
    for argv in (
        ("1001", "admin"),
        ("1002", "AGENT"),
        ("1003", "owner", "--enterprise", "0100233488"),
        ("1004", "member", "--enterprise", "0100-233-488"),
    ):
        code, out, err = run(capsys, "users", "grant", *argv)
        assert (code, err) == (0, []), argv
        assert out[0].startswith(f"user {argv[0]} is now {argv[1].lower()}")
    code, out, _ = run(capsys, "users", "grant", "1001", "admin")
    assert code == 0 and "unchanged" in out[0]

    assert query(url, "SELECT id, is_admin, is_agent FROM users ORDER BY id") == [
        (1001, True, False),
        (1002, False, True),
        (1003, False, False),
        (1004, False, False),
    ]
    assert query(url, "SELECT user_id, role FROM memberships ORDER BY user_id") == [
        (1003, "owner"),
        (1004, "member"),
    ]


def test_users_grant_refusals(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "enterprises", "add", "0100233488", "Công ty ABC")[0] == 0
    for argv, start in (
        (("42", "owner", "--enterprise", "0103326250"), "onesme-bot: enterprise: no enterprise"),
        (("42", "owner", "--enterprise", "0103326251"), "onesme-bot: invalid enterprise:"),
        (("42", "owner"), "onesme-bot: invalid enterprise:"),
        (("42", "admin", "--enterprise", "0100233488"), "onesme-bot: invalid enterprise:"),
        (("42", "boss"), "onesme-bot users grant: error: argument ROLE"),
        (("forty-two", "admin"), "onesme-bot users grant: error: argument TELEGRAM_ID"),
        (("0", "admin"), "onesme-bot: invalid telegram_id:"),
    ):
        code, out, err = run(capsys, "users", "grant", *argv)
        assert code == 2, argv
        assert out == []
        assert len(err) == 1 and err[0].startswith(start), (argv, err)
    assert query(url, "SELECT count(*) FROM users") == [(0,)]
    assert query(url, "SELECT count(*) FROM memberships") == [(0,)]


def test_usage_settings_and_database_errors_are_one_line(
    cli_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in ((), ("nonsense",), ("catalog",), ("enterprises", "add", "0100233488")):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert out == [] and len(err) == 1, (argv, err)
    assert run(capsys, "--help")[0] == 0

    cli_env.setenv("DATABASE_URL", "sqlite+aiosqlite:///" + str(tmp_path / "x.db"))
    cli_env.setenv("HTTP_PORT", "abc")
    cli_env.setenv("LOG_FORMAT", "xml")
    code, _, err = run(capsys, "migrate")
    assert code == 2
    assert len(err) == 2 and all(line.startswith("onesme-bot: ") for line in err)
    assert {line.split(": ")[1] for line in err} == {"HTTP_PORT", "LOG_FORMAT"}

    cli_env.delenv("HTTP_PORT")
    cli_env.delenv("LOG_FORMAT")
    cli_env.setenv("DATABASE_URL", "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/none")
    code, _, err = run(capsys, "migrate")
    assert code == 1
    assert len(err) == 1 and err[0].startswith("onesme-bot: database error:")
    assert "s3cret" not in err[0]

    cli_env.setenv("DATABASE_URL", "sqlite+aiosqlite:///" + str(tmp_path / "no" / "dir.db"))
    code, _, err = run(capsys, "enterprises", "add", "0100233488", "ABC")
    assert code == 1
    assert len(err) == 1 and "Traceback" not in err[0]


def test_run_and_sandbox_dispatch_lazily(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Any] = []

    async def run_bot(settings: Any) -> None:
        calls.append(("run", settings.database_url))

    def sandbox_main(argv: list[str]) -> int:
        calls.append(("sandbox", argv))
        return 3

    cli_env.setitem(sys.modules, "bot.app", types.SimpleNamespace(run_bot=run_bot))
    cli_env.setitem(sys.modules, "bot.sandbox_cmd", types.SimpleNamespace(main=sandbox_main))
    assert run(capsys, "run") == (0, [], [])
    assert run(capsys, "sandbox", "--port", "9090") == (3, [], [])
    assert calls == [("run", "sqlite+aiosqlite:///onesme.db"), ("sandbox", ["--port", "9090"])]

    cli_env.setitem(sys.modules, "bot.app", None)  # the import fails
    cli_env.setitem(sys.modules, "bot.sandbox_cmd", None)
    for command in ("run", "sandbox"):
        code, _, err = run(capsys, command)
        assert code == 1
        assert err == [err[0]] and "not available yet" in err[0]


def test_run_takes_the_event_loop_of_the_settings(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    loops: list[Any] = []

    async def run_bot(settings: Any) -> None:
        loops.append(asyncio.get_running_loop())

    class FakeUvloopLoop(asyncio.SelectorEventLoop):
        pass

    fake_uvloop = types.SimpleNamespace(new_event_loop=FakeUvloopLoop)
    cli_env.setitem(sys.modules, "bot.app", types.SimpleNamespace(run_bot=run_bot))
    cli_env.setitem(sys.modules, "uvloop", fake_uvloop)
    assert run(capsys, "run") == (0, [], [])
    cli_env.setenv("EVENT_LOOP", "uvloop")
    assert run(capsys, "run") == (0, [], [])
    assert [type(loop) for loop in loops] == [type(loops[0]), FakeUvloopLoop]
    assert not isinstance(loops[0], FakeUvloopLoop)  # the default: asyncio's own

    cli_env.setitem(sys.modules, "uvloop", None)  # not installed
    code, _, err = run(capsys, "run")
    assert code == 2
    assert err == [
        "onesme-bot: EVENT_LOOP=uvloop, but uvloop is not installed"
        " (pip install 'onesme-bot[uvloop]')"
    ]
    assert len(loops) == 2
    cli_env.setenv("EVENT_LOOP", "libuv")
    code, _, err = run(capsys, "run")
    assert code == 2 and err == ["onesme-bot: EVENT_LOOP: must be asyncio or uvloop (got 'libuv')"]


def test_the_console_script_and_python_m_bot(
    db_url: str, cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = shutil.which("onesme-bot", path=str(Path(sys.executable).parent))
    assert script is not None, "the onesme-bot console script is not installed"
    env = {**os.environ, "DATABASE_URL": db_url}
    done = subprocess.run(
        [script, "users", "grant", "77", "agent"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("user 77 is now agent")
    assert query(db_url, "SELECT is_agent FROM users WHERE id = 77") == [(True,)]

    bad = subprocess.run(
        [sys.executable, "-m", "bot", "enterprises", "add", "123", "X"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "onesme-bot: invalid tax_code: a tax code is 10 digits, or 13 written NNNNNNNNNN-NNN"
        " (e.g. 0100233488)"
    ]
