"""The operator's command line: ``onesme-bot …`` (also ``python -m bot``).

Exit codes: 0 success, 2 bad usage or invalid input (including invalid settings), 1 anything
else. Every error is one line on stderr (a catalog file gets one line per problem, ``path:
message``); never a traceback. Commands that use the database first bring its schema to the
latest migration (idempotent, safe when several run at once).

``run`` and ``sandbox`` are dispatched to ``bot.app.run_bot(settings)`` and
``bot.sandbox_cmd.main(argv)``, imported only when used.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

PROG = "onesme-bot"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: English wording of the validation reasons an operator can trigger
_REASONS = {
    "tax_code.required": "a tax code is required",
    "tax_code.format": "a tax code is 10 digits, or 13 written NNNNNNNNNN-NNN",
    "tax_code.branch": "a branch suffix runs from 001 to 999",
    "tax_code.zero": "digits 3 to 9 of a tax code cannot all be 0",
    "tax_code.checksum": "the check digit does not match (a typo?)",
    "phone.required": "a phone number is required",
    "phone.format": "not a phone number",
    "phone.invalid": "not a valid Vietnamese phone number",
    "phone.not_mobile": "not a Vietnamese mobile number",
    "email.required": "an e-mail address is required",
    "email.too_long": "too long",
    "email.format": "not an e-mail address",
    "name.required": "a name is required",
    "name.control_chars": "contains control characters",
    "name.too_long": "too long",
    "address.required": "required",
    "address.control_chars": "contains control characters",
    "address.too_long": "too long",
    "role.unknown": "unknown role (admin, agent, owner or member)",
    "role.enterprise_required": "owner and member need --enterprise TAX_CODE",
    "role.global": "admin and agent are global roles: do not give --enterprise",
    "telegram_id.invalid": "not a Telegram user id",
}


class UsageError(Exception):
    """Bad usage or invalid input: exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Telegram bot for registering, paying for and managing SaaS subscriptions.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "run",
        help="start the bot (polling, or webhook when WEBHOOK_URL is set) and its HTTP server",
    )
    sandbox = commands.add_parser(
        "sandbox",
        help="everything offline on one port: Bot API, web chat, VNPT Pay simulator, the bot",
    )
    sandbox.add_argument("--port", type=int, default=8080, help="the port (default 8080)")
    commands.add_parser("migrate", help="bring the database schema to the latest migration")

    catalog = commands.add_parser("catalog", help="the service catalog")
    catalog_commands = catalog.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = catalog_commands.add_parser(
        "load", help="validate a catalog file (YAML or JSON) and upsert it"
    )
    load.add_argument("file", metavar="FILE")

    enterprises = commands.add_parser("enterprises", help="businesses")
    enterprise_commands = enterprises.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = enterprise_commands.add_parser(
        "add", help="create a business (idempotent for the same tax code)"
    )
    add.add_argument("tax_code", metavar="TAX_CODE")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--address", help="registered address")
    add.add_argument("--email", help="invoice e-mail")
    add.add_argument("--phone", help="phone number")
    add.add_argument("--province", help="province or city")

    users = commands.add_parser("users", help="people and their roles")
    user_commands = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    grant = user_commands.add_parser(
        "grant", help="grant admin or agent, or owner/member of an existing business"
    )
    grant.add_argument("telegram_id", metavar="TELEGRAM_ID", type=int)
    grant.add_argument(
        "role", metavar="ROLE", type=str.lower, choices=["admin", "agent", "owner", "member"]
    )
    grant.add_argument("--enterprise", metavar="TAX_CODE", help="the business (owner, member)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sandbox"]:
        return _guard(lambda: _sandbox(args_list[1:]))
    try:
        args = build_parser().parse_args(args_list)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    return _guard(lambda: _dispatch(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run_bot()
    if args.command == "catalog":
        return _catalog_load(args.file)
    settings = _settings()
    if args.command == "migrate":
        return asyncio.run(_migrate(settings.database_url))
    if args.command == "enterprises":
        return asyncio.run(_enterprises_add(settings, args))
    if args.command == "users":
        return asyncio.run(_users_grant(settings, args))
    raise UsageError(f"unknown command {args.command}")  # pragma: no cover - argparse refuses


# ---------------------------------------------------------------------------------------------
# Commands


async def _migrate(url: str) -> int:
    from storage.migrate import current_revision, upgrade_to_head

    await upgrade_to_head(url)
    _out(f"database schema is at the latest migration ({await current_revision(url)})")
    return EXIT_OK


def _catalog_load(path: str) -> int:
    from bot.catalog_file import load_catalog_file
    from domain.errors import CatalogInvalid

    try:
        catalog = load_catalog_file(path)  # before anything is touched
    except CatalogInvalid:
        raise
    except Exception as error:
        raise CatalogInvalid([("<file>", f"cannot read {path}: {_one_line(str(error))}")]) from None
    settings = _settings()
    return asyncio.run(_catalog_store(settings, catalog, path))


async def _catalog_store(settings: Any, catalog: Any, path: str) -> int:
    from domain.usecases.admin import LoadCatalogRequest

    async def work(container: Any) -> int:
        result = await container.load_catalog(LoadCatalogRequest(catalog, source=path))
        counts = (
            f"{result.services} services, {result.plans} plans, {result.addons} add-ons, "
            f"{result.promotions} promotions"
        )
        if result.changed:
            _out(f"catalog loaded from {path}: {counts} (revision {result.revision})")
        else:
            _out(f"catalog unchanged: {path} is already loaded ({counts})")
        return EXIT_OK

    return await _with_container(settings, work)


async def _enterprises_add(settings: Any, args: argparse.Namespace) -> int:
    from domain.usecases.admin import AddEnterpriseRequest

    request = AddEnterpriseRequest(
        tax_code=args.tax_code,
        name=args.name,
        address=args.address,
        email=args.email,
        phone=args.phone,
        province=args.province,
    )

    async def work(container: Any) -> int:
        result = await container.add_enterprise(request)
        e = result.enterprise
        if result.created:
            _out(f"enterprise created: {e.tax_code} {e.name} (id {e.id})")
        else:
            _out(f"enterprise already exists, unchanged: {e.tax_code} {e.name} (id {e.id})")
        return EXIT_OK

    return await _with_container(settings, work)


async def _users_grant(settings: Any, args: argparse.Namespace) -> int:
    from domain.usecases.admin import GrantRoleRequest

    request = GrantRoleRequest(user_id=args.telegram_id, role=args.role, tax_code=args.enterprise)

    async def work(container: Any) -> int:
        result = await container.grant_role(request)
        where = (
            f" of {result.enterprise.tax_code} {result.enterprise.name}"
            if result.enterprise
            else ""
        )
        if result.changed:
            _out(f"user {result.user.id} is now {result.role}{where}")
        else:
            _out(f"user {result.user.id} already is {result.role}{where}: unchanged")
        return EXIT_OK

    return await _with_container(settings, work)


async def _with_container(settings: Any, work: Callable[[Any], Awaitable[int]]) -> int:
    """Migrate, then run ``work`` with the composition root (its use cases); close it."""
    from bot.container import Container
    from storage.migrate import upgrade_to_head

    await upgrade_to_head(settings.database_url)
    container = Container(settings)
    try:
        return await work(container)
    finally:
        await container.aclose()


def _run_bot() -> int:
    try:
        from bot.app import run_bot
    except ImportError as error:
        _err(f"the run command is not available yet ({error})")
        return EXIT_ERROR
    settings = _settings()
    factory = loop_factory(settings.event_loop)
    return _finish(run_bot(settings), factory)


def _sandbox(argv: list[str]) -> int:
    try:
        from bot.sandbox_cmd import main as sandbox_main
    except ImportError as error:
        _err(f"the sandbox command is not available yet ({error})")
        return EXIT_ERROR
    return _finish(sandbox_main(argv))


def _finish(
    result: Any, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
) -> int:
    """Run what a dispatched command returned (a coroutine is run to the end, on a loop of
    ``loop_factory``, default asyncio's); its exit code."""
    if inspect.isawaitable(result):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result = runner.run(_await(result))
    return result if isinstance(result, int) else EXIT_OK


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop of ``run`` for ``EVENT_LOOP``: None for asyncio's own, uvloop's when
    asked for (measured: about the same CPU per update for this bot, see docs/performance.md)."""
    if choice != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        raise UsageError(
            "EVENT_LOOP=uvloop, but uvloop is not installed (pip install 'onesme-bot[uvloop]')"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# ---------------------------------------------------------------------------------------------
# Settings, errors and output


def _settings() -> Any:
    from pydantic import ValidationError

    from bot.settings import format_settings_errors, load_settings

    try:
        return load_settings()
    except ValidationError as error:
        lines = format_settings_errors(error)
        raise _Lines(lines) from None


class _Lines(UsageError):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _guard(command: Callable[[], int]) -> int:
    """Run a command; turn every failure into one-line messages and an exit code."""
    from domain.errors import CatalogInvalid, DomainError, InvalidInput, NotFound

    try:
        return command()
    except _Lines as error:
        for line in error.lines:
            _err(line)
        return EXIT_USAGE
    except UsageError as error:
        _err(str(error))
        return EXIT_USAGE
    except CatalogInvalid as error:
        for path, message in error.problems:
            _err(f"{path}: {message}", prefix=False)
        return EXIT_USAGE
    except InvalidInput as error:
        _err(_invalid_input_line(error))
        return EXIT_USAGE
    except NotFound as error:
        _err(_one_line(str(error)))
        return EXIT_USAGE
    except DomainError as error:
        _err(_one_line(str(error)))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        _err(_describe(error))
        return EXIT_ERROR


def _invalid_input_line(error: Any) -> str:
    field = error.params.get("field", "input")
    reason = error.params.get("reason", "")
    text = _REASONS.get(reason, reason or str(error))
    if error.params.get("max_len"):
        text = f"{text} (at most {error.params['max_len']} characters)"
    example = error.params.get("example")
    suffix = f" (e.g. {example})" if example else ""
    return f"invalid {field}: {text}{suffix}"


def _describe(error: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from bot.settings import mask_url_password

    if isinstance(error, DBAPIError) and error.orig is not None:
        return f"database error: {mask_url_password(_one_line(str(error.orig)))}"
    if isinstance(error, SQLAlchemyError | OSError):
        return f"database error: {mask_url_password(_one_line(str(error)))}"
    return f"{type(error).__name__}: {_one_line(str(error))}"


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return first if len(first) <= 300 else first[:297] + "..."


def _out(line: str) -> None:
    print(line, file=sys.stdout)


def _err(line: str, *, prefix: bool = True) -> None:
    print(f"{PROG}: {line}" if prefix else line, file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
