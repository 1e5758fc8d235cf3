"""What ``GET /metrics`` exposes, in Prometheus' text format.

Turns are counted and timed where every channel meets the agent (one wrapped handler), so the
figures are the same whichever channel a message came by. Backlogs (outbox, open cases) are
read from the database at scrape time: they are state, not events, and stay right across
restarts and across several server processes.

With several worker processes on one port (``csba serve --workers N``) a scrape reaches
whichever worker accepts it, so each worker's counters alone would jump between scrapes.
There, ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus_client's multiprocess mode): every
worker writes its counters and histograms to its own files in that directory, and every
worker's ``/metrics`` sums all of them, those of workers that died and were replaced included
(so the totals only grow, as a counter must).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, OutboxRow
from base.clock import Clock, wall_clock
from channels.base import MessageHandler

# Buckets around what a turn costs: tens of milliseconds, and Twilio's 15 s budget at the top.
# Set for the workers of `csba serve --workers N` (csba/serving.py); read by prometheus_client.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)


class StoreBacklog(Collector):
    """Outbox rows waiting to be sent (and the age of the oldest), cases awaiting a seller."""

    def __init__(self, store: Store, clock: Clock = wall_clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        backlog = GaugeMetricFamily("csba_outbox_backlog", "outbox rows not sent yet",
                                    labels=["channel"])
        oldest = GaugeMetricFamily("csba_outbox_oldest_unsent_seconds",
                                   "age of the oldest unsent outbox row")
        failing = GaugeMetricFamily("csba_outbox_failing", "unsent rows that failed at least once")
        cases = GaugeMetricFamily("csba_cases", "seller cases by status", labels=["status"])
        with self.store.reads() as session:
            for channel, count in session.execute(
                    select(OutboxRow.channel, func.count()).where(OutboxRow.sent_at.is_(None))
                    .group_by(OutboxRow.channel)):
                backlog.add_metric([channel], count)
            first = session.scalar(select(func.min(OutboxRow.created_at))
                                   .where(OutboxRow.sent_at.is_(None)))
            failing.add_metric([], session.scalar(
                select(func.count()).select_from(OutboxRow)
                .where(OutboxRow.sent_at.is_(None), OutboxRow.attempts > 0)) or 0)
            for status, count in session.execute(
                    select(CaseRow.status, func.count()).group_by(CaseRow.status)):
                cases.add_metric([status], count)
        if first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
        oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first else 0.0)
        yield from (backlog, oldest, failing, cases)


class ServiceMetrics:
    """One registry per application, so two apps in one process never share counters."""

    def __init__(self, store: Store, clock: Clock = wall_clock) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter("csba_turns", "customer messages answered",
                             ["channel", "intent", "outcome"], registry=self.registry)
        self.failures = Counter("csba_turn_failures", "turns that raised (the message is kept "
                                "for the retry)", ["channel"], registry=self.registry)
        self.latency = Histogram("csba_turn_seconds", "time to answer one message",
                                 ["channel"], buckets=TURN_BUCKETS, registry=self.registry)
        self.rate_limited = Counter("csba_rate_limited", "messages answered with the rate-limit "
                                    "reply instead of the agent", ["channel"],
                                    registry=self.registry)
        self.mail_auth_failed = Counter(
            "csba_mail_auth_failed", "mails whose sender the DKIM/SPF/DMARC checks did not "
            "prove, by what they claimed to be", ["kind"], registry=self.registry)
        backlog = StoreBacklog(store, clock)
        self.registry.register(backlog)
        # What /metrics shows: this registry, or every worker's counters summed and the
        # backlog (read once, from the database) when workers share the port.
        self.exposed = self.registry
        directory = os.environ.get(MULTIPROCESS_DIR_ENV)
        if directory:
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                self.exposed, path=directory)
            self.exposed.register(backlog)

    def timed(self, handle: MessageHandler) -> MessageHandler:
        def measured(msg: InboundMessage) -> Reply:
            started = time.perf_counter()
            try:
                reply = handle(msg)
            except Exception:
                self.failures.labels(msg.channel).inc()
                raise
            finally:
                self.latency.labels(msg.channel).observe(time.perf_counter() - started)
            if reply.intent == "rate_limited":
                self.rate_limited.labels(msg.channel).inc()
            else:
                self.turns.labels(msg.channel, reply.intent, reply.outcome).inc()
            return reply

        return measured
