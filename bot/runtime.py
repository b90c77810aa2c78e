"""What the container hands out besides the pieces built elsewhere: the in-memory catalog, the
conversation state stores, and what a background service is (see :mod:`bot.container`).
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.metrics import Metrics
from bot.replay import UpdateJournal
from domain.catalog import Catalog
from domain.ports import ChatLock, ConversationStore, UpdateDeduper, UpdateTurns
from storage.db import Database

log = logging.getLogger(__name__)


class Background(Protocol):
    """A service started after updates flow and stopped once they are drained."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class CatalogCache:
    """The catalog the engine reads, kept in memory; ``refresh`` reloads it when the stored
    revision moved (one cheap query when it did not)."""

    def __init__(self, database: Database, metrics: Metrics) -> None:
        self._database = database
        self._metrics = metrics
        self._catalog = Catalog()
        self._revision: int | None = None

    def get(self) -> Catalog:
        return self._catalog

    @property
    def revision(self) -> int | None:
        return self._revision

    async def refresh(self) -> bool:
        """Reload when the stored catalog changed; True if it did."""
        async with self._database.uow as uow:
            revision = await uow.catalog.revision()
            if revision == self._revision:
                return False
            catalog = await uow.catalog.load()
        self._catalog, self._revision = catalog, revision
        self._metrics.catalog_reloads.inc()
        log.info("catalog loaded (revision %s, %d services)", revision, len(catalog.services))
        return True


class StateStores:
    """Conversation state, per-chat locks, update de-duplication, the two together for an
    update's turn at its chat, and the journal of updates being handled (None without Redis:
    no other replica handles an update again)."""

    def __init__(
        self,
        store: ConversationStore,
        chat_lock: ChatLock,
        deduper: UpdateDeduper,
        journal: UpdateJournal | None,
        turns: UpdateTurns,
    ) -> None:
        self.store = store
        self.chat_lock = chat_lock
        self.deduper = deduper
        self.journal = journal
        self.turns = turns
