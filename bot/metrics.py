"""Prometheus metrics of one bot process, served at ``GET /metrics``.

Each :class:`Metrics` has its own registry (built by the composition root), so several apps in
one process — tests start and restart the bot — never clash over the global default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.updates = Counter(
            "onesme_updates",
            "Updates handled, by kind of event (command, button, text, contact, stale, other)",
            ["kind"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "onesme_duplicate_updates",
            "Updates received again and skipped",
            registry=self.registry,
        )
        self.errors = Counter(
            "onesme_update_errors",
            "Updates whose handling failed, by stage (domain, engine, render)",
            ["stage"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "onesme_update_seconds",
            "Time to handle one update, from receipt to the last Bot API call",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bot_api_calls = Counter(
            "onesme_bot_api_calls",
            "Bot API requests made, by method and outcome (ok, error)",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.replayed = Counter(
            "onesme_replayed_requests",
            "Bot API requests of an update handled again (its replica died) answered from the "
            "update's journal instead of being sent twice",
            registry=self.registry,
        )
        self.bot_api_sends = Counter(
            "onesme_bot_api_sends",
            "Bot API call attempts (getUpdates excepted) by result: ok; retry (5xx, timeout or "
            "network error, tried again); 429 (Telegram asked to wait); forbidden (403: blocked "
            "or never started); failed (a call given up: 400 and the like, or retries exhausted)",
            ["result"],
            registry=self.registry,
        )
        self.flood_wait = Histogram(
            "onesme_flood_wait_seconds",
            "Time a message waited for its flood-control slots (per chat and global)",
            buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.catalog_reloads = Counter(
            "onesme_catalog_reloads",
            "In-memory catalog reloads after the stored catalog changed",
            registry=self.registry,
        )

        self.outbox_depth = Gauge(
            "onesme_outbox_depth",
            "Outbox rows waiting to be sent (as of the delivery worker's last look)",
            registry=self.registry,
        )
        self.outbox_oldest_age = Gauge(
            "onesme_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row waiting to be sent; 0 when none waits",
            registry=self.registry,
        )
        self.outbox_deliveries = Counter(
            "onesme_outbox_deliveries",
            "Outbox delivery attempts, by result (sent, retry, forbidden, failed)",
            ["result"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
