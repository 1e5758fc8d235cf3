"""The FastAPI application factory: every channel and API is mounted here, nothing at import.

``create_app(settings)`` builds the store, the index and the agent, mounts each channel's
router, and in its lifespan starts the inbound SMTP server and the outbox worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, StringConstraints
from starlette.concurrency import run_in_threadpool

from agent.core import Agent
from agent.db import Store
from base.clock import Clock
from base.settings import Settings
from channels.base import ChannelAdapter
from channels.concurrency import bounded
from channels.credential_guesses import CredentialGuesses, CredentialThrottle
from channels.customer_mail import CustomerMail
from channels.email_in import EmailChannel, InboundSmtpServer
from channels.email_out import SmtpSender
from channels.handover import HandoverMail
from channels.mailbox import Mailbox
from channels.messaging import MessagingChannel
from channels.metrics import ServiceMetrics
from channels.openapi_errors import document_errors
from channels.outbox import OutboundSender, OutboxWorker
from channels.rate_limit import SenderRateLimiter, limit_storage, rate_limited
from channels.recovery import answer_stranded
from channels.request_bodies import RequestBodyGuard, service_body_limits
from channels.security_headers import SecurityHeaders
from channels.seller_mail import CaseAnswerer, SellerMail
from channels.smtp_port import SharedSmtpPort
from channels.unavailable import answer_503_when_the_database_is_unavailable
from channels.validation_errors import answer_validation_errors_without_input
from channels.voice import VoiceChannel
from channels.web_chat import WebChatChannel
from knowledge.index import KnowledgeIndex
from portal.routers import seller_account_router, seller_portal_router, seller_reports_router
from seller.ingest import load_demo_data

log = logging.getLogger(__name__)

OUTBOX_INTERVAL_SECONDS = 5.0


class EvidenceOut(BaseModel):
    asin: str
    marketplace: str
    language: str
    field: str
    text: str
    score: float


def mailboxes(store: Store, *, domain: str, clock: Clock,
              answer_case: CaseAnswerer | None = None,
              handover_addresses: Mapping[str, str] | None = None,
              case_secret: bytes | None = None) -> list[Mailbox]:
    """The email channel's mailboxes, most specific first: a mail to a hand-over address is a
    seller's forward (only with hand-over addresses), a reply to a case notification is that
    case's answer (only with the agent's ``answer_case``; else sellers answer in the portal),
    and every other mail is a customer's."""
    boxes: list[Mailbox] = []
    if handover_addresses:
        boxes.append(HandoverMail(store, handover_addresses, domain=domain, clock=clock))
    if answer_case is not None:
        boxes.append(SellerMail(store, answer_case, domain=domain, clock=clock,
                                secret=case_secret))
    boxes.append(CustomerMail(store, domain=domain, clock=clock))
    return boxes


def email_channel(settings: Settings, store: Store, sender: SmtpSender,
                  answer_case: CaseAnswerer) -> EmailChannel:
    secret = settings.mail_secret.get_secret_value().encode() if settings.mail_secret else None
    return EmailChannel.from_settings(settings, store=store, sender=sender, mailboxes=mailboxes(
        store, domain=sender.domain, clock=settings.clock, answer_case=answer_case,
        handover_addresses=settings.handover_addresses, case_secret=secret))


def create_app(settings: Settings, *, load_demo_if_empty: bool = False,
               smtp_server: bool = True, outbox_worker: bool = True,
               index: KnowledgeIndex | None = None) -> FastAPI:
    """The whole service. ``index`` lets a caller share one already-built index (tests, a
    process serving several apps); by default the settings open it."""
    store = Store.from_settings(settings)
    owns_index = index is None
    index = index or KnowledgeIndex.open(settings)
    agent = Agent.from_settings(settings, store, index)
    clock = settings.clock
    # One adapter per channel (the registry); voice follow-ups go out as SMS.
    # A seller's reply to a case notification is that case's answer. Every channel shares the
    # process's one database engine (one pool), its clock and its mail sender.
    mail = SmtpSender(settings.smtp_url)
    # Rate limits count in one storage per process: Redis, shared by every worker and host,
    # when it is configured.
    limits = limit_storage(settings.redis_url)
    email = email_channel(settings, store, mail, agent.answer_case)
    sms = MessagingChannel.from_settings(settings, store=store)
    channels: dict[str, ChannelAdapter] = {
        "email": email, "sms": sms, "voice": VoiceChannel(sms),
        "chat": WebChatChannel.from_settings(settings, mail=mail, limits=limits)}
    senders: dict[str, OutboundSender] = {**channels, "whatsapp": sms}

    # Every channel reaches the agent through this one handler: measured, rate-limited, then
    # a few turns at a time.
    metrics = ServiceMetrics(store, clock)
    email.on_auth_failure = lambda kind: metrics.mail_auth_failed.labels(kind).inc()
    handle = metrics.timed(rate_limited(bounded(agent.handle, settings.concurrent_turns),
                                        SenderRateLimiter(settings.rate_limit, limits), store))

    worker = OutboxWorker(store, senders,
                          claim_for=timedelta(seconds=settings.outbox_claim_seconds))
    stranded_after = timedelta(seconds=settings.stranded_after_seconds)
    several_workers = (settings.serve_workers or 1) > 1

    async def send_outbox(worker: OutboxWorker) -> None:
        while True:
            try:
                await run_in_threadpool(lambda: answer_stranded(store, handle, clock(),
                                                                older_than=stranded_after))
                await run_in_threadpool(worker.run_once, clock())
                await run_in_threadpool(agent.expire_cases, clock())
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round
                log.exception("outbox round failed")
            await asyncio.sleep(OUTBOX_INTERVAL_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load_demo_if_empty and not store.page_keys():
            load_demo_data(store, index, today=clock().date())
        server = shared_port = None
        if smtp_server and several_workers:
            # One worker of several listens on the port; the others stand by to take it.
            shared_port = SharedSmtpPort(
                lambda: InboundSmtpServer(email, handle, host=settings.smtp_host),
                host=settings.smtp_host, port=settings.smtp_port,
                retry_seconds=OUTBOX_INTERVAL_SECONDS)
        elif smtp_server:
            server = InboundSmtpServer(email, handle, host=settings.smtp_host)
            server.start()
        # The background round is safe in every worker at once: outbox rows and stranded
        # turns are claimed in write transactions (SKIP LOCKED on PostgreSQL, SQLite's one
        # writer), and a case expires in the transaction that reads it open.
        tasks = [asyncio.create_task(job) for job in (
            send_outbox(worker) if outbox_worker else None,
            shared_port.hold() if shared_port else None) if job is not None]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if server:
                server.stop()
            if shared_port:
                shared_port.stop()
            if owns_index:
                index.close()

    app = FastAPI(title="csba", version="0.1.0", lifespan=lifespan,
                  summary="Customer service for seller-fulfilled marketplace orders")
    app.state.store, app.state.index, app.state.agent = store, index, agent
    app.state.outbox = worker
    for channel in channels.values():
        app.include_router(channel.router(handle))
    app.include_router(seller_portal_router(agent, clock=clock))
    app.include_router(seller_account_router(store, settings))
    # A handed-over message takes the same handler as every channel's: measured and limited.
    app.include_router(seller_reports_router(store, handle,
                                             handover_addresses=settings.handover_addresses,
                                             clock=clock,
                                             seller_support_url=str(settings.seller_support_url)))

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus text format: turns, outcomes, latency, outbox backlog, cases."""
        return Response(generate_latest(metrics.exposed), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, object]:
        return {"status": "ok", "records": store.counts(), "chunks": index.chunk_count()}

    @app.get("/v1/knowledge/search", response_model=list[EvidenceOut])
    def knowledge_search(
        q: Annotated[str, Query(min_length=1, max_length=1000, description="a question")],
        marketplace: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
        asin: Annotated[list[Annotated[str, StringConstraints(min_length=10, max_length=10)]]
                        | None, Query(description="10-character ASINs")] = None,
        k: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> list[EvidenceOut]:
        """What the product pages say about a question: the evidence answers are built from."""
        hits = index.search(q, marketplace=marketplace, asins=asin, k=k)
        return [EvidenceOut(asin=h.asin, marketplace=h.marketplace, language=h.language,
                            field=h.field, text=h.text, score=h.score) for h in hits]

    answer_503_when_the_database_is_unavailable(app)
    answer_validation_errors_without_input(app)
    # Outermost last: every answer (a 413 or 429 too) gets the security headers; a client
    # past its guesses is refused before its body is read; no route sees an unchecked body.
    app.add_middleware(RequestBodyGuard, limits=service_body_limits(settings.max_body_bytes))
    app.add_middleware(CredentialThrottle,
                       guesses=CredentialGuesses(settings.credential_guess_limit, limits))
    app.add_middleware(SecurityHeaders)
    document_errors(app)
    return app

