"""Messages stored but never answered get answered, on the customer's channel.

Every channel stores a message before the agent answers it. When the turn fails (the process
died, the index was unreachable), some providers redeliver (an MTA, a chat client) and some
never do (Twilio goes to its fallback URL instead of retrying). So the server looks, now and
then, for messages older than a few minutes without a reply, runs their turn, and queues the
reply through the outbox like any later reply: nothing a customer said is left unanswered.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.cases import queue_customer_message
from agent.db import Store
from agent.inflight import MessageInFlight
from agent.messages import InboundMessage
from agent.models import ConversationRow, MessageRow, OutboxRow
from agent.outgoing_mail import late_reply_key
from channels.base import MessageHandler

log = logging.getLogger(__name__)

# Well past any webhook's answer time and an MTA's first retry: the channel had its chance.
STRANDED_AFTER = timedelta(minutes=2)
BATCH = 20


def stranded(store: Store, now: datetime, older_than: timedelta = STRANDED_AFTER
             ) -> list[tuple[MessageRow, ConversationRow]]:
    with store.reads() as session:
        found = session.execute(
            select(MessageRow, ConversationRow)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(MessageRow.reply.is_(None), MessageRow.received_at <= now - older_than)
            .order_by(MessageRow.id).limit(BATCH)).all()
        session.expunge_all()
    return [(message, conversation) for message, conversation in found]


def answer_stranded(store: Store, handle: MessageHandler, now: datetime | None = None, *,
                    older_than: timedelta = STRANDED_AFTER) -> int:
    """Answer what waited too long; returns how many replies were queued."""
    now = now or datetime.now(UTC)
    queued = 0
    for row, conv in stranded(store, now, older_than):
        msg = InboundMessage(
            channel=row.channel,  # type: ignore[arg-type]  # stored from a Channel
            sender=conv.contact, text=row.text, thread_key=conv.thread_key,
            received_at=row.received_at if row.received_at.tzinfo
            else row.received_at.replace(tzinfo=UTC),
            provider_message_id=row.provider_message_id, marketplace=conv.marketplace,
            # Judged again on the proof its channel had when it arrived.
            verified_contact=row.verified_contact or conv.verified_contact)
        try:
            reply = handle(msg)
        except MessageInFlight:
            continue  # a delivery is answering it right now
        except Exception as exc:  # noqa: BLE001 - one failing message must not stop the rest
            log.warning("stranded message %s still fails: %s", row.id, type(exc).__name__)
            continue
        try:
            with store.sessions.begin() as session:
                queued_now = _queue_late_reply(session, row, conv.id, reply.text,
                                               reply.case_id, now)
        except IntegrityError:
            continue
        if not queued_now:
            continue  # the channel queued the reply itself after all
        queued += 1
        log.info("stranded message %s answered late on %s (conversation %s)", row.id,
                 row.channel, conv.id)
    return queued + resend_undelivered(store, now, older_than=older_than)


def _queue_late_reply(session: Session, row: MessageRow, conversation_id: str, text: str,
                      case_id: str | None, now: datetime) -> bool:
    """Queue ``text`` as the late reply to ``row`` on its conversation's channel, unless a
    reply is queued under its key already; whether it was queued."""
    key = late_reply_key(row)
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == key)):
        return False
    queue_customer_message(session, conversation=session.get_one(
        ConversationRow, conversation_id), text=text, dedupe_key=key, now=now, case_id=case_id)
    return True


def mark_delivered(store: Store, channel: str, provider_message_id: str) -> None:
    """The webhook's answer carrying the reply has left: nothing more to send."""
    with store.sessions.begin() as session:
        session.execute(update(MessageRow).where(
            MessageRow.channel == channel, MessageRow.provider_message_id == provider_message_id,
            MessageRow.awaiting_delivery.is_(True)).values(awaiting_delivery=False))


def resend_undelivered(store: Store, now: datetime, *,
                       older_than: timedelta = STRANDED_AFTER) -> int:
    """Replies made for a webhook's answer that never left (the process died between the
    turn's commit and the answer): the stored reply is sent through the outbox instead. At
    least once: a process killed after answering but before marking sends it twice."""
    with store.reads() as session:
        waiting = session.execute(
            select(MessageRow.id, MessageRow.conversation_id)
            .where(MessageRow.awaiting_delivery.is_(True), MessageRow.reply.is_not(None),
                   MessageRow.received_at <= now - older_than)
            .order_by(MessageRow.id).limit(BATCH)).all()
    sent = 0
    for message_id, conversation_id in waiting:
        try:
            with store.sessions.begin() as session:
                row = session.get_one(MessageRow, message_id)
                if not row.awaiting_delivery or row.reply is None:
                    continue  # another worker took it
                row.awaiting_delivery = False
                queued_now = _queue_late_reply(session, row, conversation_id,
                                               row.reply["text"], row.reply.get("case_id"), now)
        except IntegrityError:
            continue
        if not queued_now:
            continue
        sent += 1
        log.info("reply to message %s never left in its webhook answer: sent by the outbox",
                 message_id)
    return sent
