"""Fixtures for browser tests: the sandbox (``onesme-bot sandbox``, in-process on a free port,
fresh per test) and Debian's Chromium driven by Playwright.

Browser tests are synchronous: while Playwright's synchronous API is open it runs an event loop
in the test's thread, so it is closed at the end of each module (an ``async`` test there, or a
session-wide browser, would break pytest-asyncio's loops).

``sandbox``     a :class:`RunningSandbox`: the whole product on one port (``.url``), run by
                :func:`bot.sandbox_cmd.running_sandbox` on its own event loop in a thread, so
                that the synchronous Playwright API drives the page from the test's thread.
                At teardown the test fails if the bot sent a request Telegram would refuse.
``browser``     one headless Chromium per module (``/usr/bin/chromium``, or
                ``CHROMIUM_PATH``): Playwright's own browser downloads are never used. Without
                it the tests are skipped, except in CI (``CI=true``), where they fail.
``page``        a new page in a fresh context (phone-sized viewport), closed afterwards.
``shots``       a :class:`Screenshots` writer: into ``ONESME_SCREENSHOTS`` when set (the README's
                pictures: ``ONESME_SCREENSHOTS=docs/screenshots pytest tests/browser``), else
                into the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from bot.sandbox_cmd import Sandbox, running_sandbox
from tests.conftest import IN_CI
from tests.e2e.harness import free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 430, "height": 860}
START_TIMEOUT = 30.0

T = TypeVar("T")


class RunningSandbox:
    """:func:`running_sandbox` on an event loop of its own, in a daemon thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sandbox: Sandbox | None = None
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)

    @property
    def sandbox(self) -> Sandbox:
        assert self._sandbox is not None, "the sandbox is not running"
        return self._sandbox

    @property
    def url(self) -> str:
        return self.sandbox.url

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the sandbox's event loop (the bot's database, the Bot API server's
        state) and wait for its result."""
        assert self._loop is not None, "the sandbox is not running"
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(START_TIMEOUT)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the sandbox did not start within {START_TIMEOUT} s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)
        assert not self._thread.is_alive(), "the sandbox did not stop"
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self._error = error
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_sandbox(port=self.port) as sandbox:
            self._sandbox = sandbox
            self._ready.set()
            await self._stop.wait()


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    running = RunningSandbox(free_port())
    running.start()
    try:
        yield running
        refused = [f"{v.method}: {v.description}" for v in running.sandbox.botapi.violations]
        assert refused == [], f"the bot sent requests Telegram would refuse: {refused}"
    finally:
        running.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


class Screenshots:
    """Saves ``<name>.png`` into :attr:`directory`; a chat is scrolled to its newest message
    first (an edited message may have grown below the fold)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str) -> Path:
        path = self.directory / f"{name}.png"
        page.evaluate(
            "() => { const box = document.querySelector('[data-testid=\"messages\"]');"
            " if (box) box.scrollTop = box.scrollHeight; }"
        )
        page.screenshot(path=str(path))
        return path


@pytest.fixture
def shots(tmp_path: Path) -> Screenshots:
    configured = os.environ.get("ONESME_SCREENSHOTS")
    return Screenshots(Path(configured) if configured else tmp_path / "screenshots")
