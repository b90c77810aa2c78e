"""Driving the sandbox's web chat page the way a person does: pick a user, type, click.

Every action waits until the bot has reacted and gone quiet (the page's event cursor,
``window.__webchat.lastEventSeq``, moved and then stayed still), and most take the text the
bot's newest message must then show, which is the step's assertion.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page, expect

QUIET_SECONDS = 0.3
REACTION_TIMEOUT_MS = 10_000
SHARE_CONTACT = "📱 Chia sẻ số điện thoại"


class Chat:
    def __init__(self, page: Page, base_url: str, user_id: int) -> None:
        self.page = page
        self.user_id = user_id
        page.goto(f"{base_url}/?user={user_id}")
        page.wait_for_function("window.__webchat && window.__webchat.ready")
        expect(page.get_by_test_id("user-picker")).to_have_value(str(user_id))

    # -- what is on screen ------------------------------------------------------------------------

    @property
    def bot_messages(self) -> Locator:
        return self.page.locator('[data-testid="message"][data-from="bot"]')

    @property
    def last(self) -> Locator:
        """The bot's newest message."""
        return self.bot_messages.last

    def last_text(self) -> str:
        return self.last.get_by_test_id("message-text").inner_text()

    def button(self, label: str | re.Pattern[str]) -> Locator:
        """The newest inline button with exactly this label (or matching the pattern)."""
        messages = self.page.get_by_test_id("messages")
        return messages.get_by_role("button", name=label, exact=True).last

    def link(self, label: str) -> Locator:
        """The newest URL button with this label (the page marks it with an arrow after it)."""
        messages = self.page.get_by_test_id("messages")
        buttons = messages.locator('[data-testid="inline-button"][data-kind="url"]')
        return buttons.filter(has_text=re.compile(f"^{re.escape(label)}$")).last

    def shows(self, text: str, *, anywhere: bool = False) -> None:
        """Wait until the bot's newest message (or any of its messages) shows ``text``."""
        target = self.bot_messages.filter(has_text=text).last if anywhere else self.last
        expect(target).to_contain_text(text, timeout=REACTION_TIMEOUT_MS)

    # -- actions ----------------------------------------------------------------------------------

    def send(self, text: str, *, then: str | None = None) -> None:
        before = self._cursor()
        composer = self.page.get_by_test_id("composer")
        composer.fill(text)
        composer.press("Enter")
        self._settle(before, then)

    def press(self, label: str | re.Pattern[str], *, then: str | None = None) -> None:
        before = self._cursor()
        self.button(label).click()
        self._settle(before, then)

    def share_contact(self, *, then: str | None = None) -> None:
        before = self._cursor()
        self.page.get_by_test_id("reply-keyboard").get_by_role(
            "button", name=SHARE_CONTACT, exact=True
        ).click()
        self._settle(before, then)

    def reply_button(self, label: str) -> Locator:
        """The reply keyboard's button with exactly this label."""
        keyboard = self.page.get_by_test_id("reply-keyboard")
        return keyboard.get_by_role("button", name=label, exact=True)

    def pick_user(self, name: str, *, then: str | None = None) -> None:
        """In the open picker of a ``request_users`` button, pick the user shown as ``name``."""
        before = self._cursor()
        options = self.page.get_by_test_id("share-users").get_by_test_id("share-user")
        options.filter(has_text=name).click()
        self._settle(before, then)

    # -- waiting ----------------------------------------------------------------------------------

    def _cursor(self) -> int:
        return int(self.page.evaluate("window.__webchat.lastEventSeq"))

    def _settle(self, before: int, then: str | None) -> None:
        self.page.wait_for_function(
            "seq => window.__webchat.lastEventSeq > seq", arg=before, timeout=REACTION_TIMEOUT_MS
        )
        seen = self._cursor()
        deadline = time.monotonic() + REACTION_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(QUIET_SECONDS * 1000)
            now = self._cursor()
            if now == seen:
                break
            seen = now
        if then is not None:
            self.shows(then)
