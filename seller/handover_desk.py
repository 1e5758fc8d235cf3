"""The hand-over desk: a customer's direct inquiry a seller hands over, answered by the service.

A seller forwards the customer's mail to its region's hand-over address (read by
``channels/handover.py``), or pastes the message and the order number in the portal or the
API. The service checks that the seller is
the order's seller and that the inquiry is one it covers, answers the customer on the order's
own contact (email, or SMS when only a phone is known) by the usual turn, and confirms the
take-over to the seller. Refusals name their rule and disclose nothing about other sellers'
orders. Logs carry ids only: never a customer's words or contact details.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.cases import SELLER_FALLBACK, queue_customer_message, seller_language
from agent.db import Store
from agent.enrolment import enrolment_history
from agent.handover_scope import handover_refusal
from agent.messages import InboundMessage, MessageHandler, Reply
from agent.models import ConversationRow, HandoverRow, MessageRow
from agent.outgoing_mail import MAIL_DOMAIN, late_reply_key, queue_email, reply_subject
from agent.records import Order, Seller
from agent.replies import render, templates
from base.clock import Clock, wall_clock
from seller.handovers import handover_rows

log = logging.getLogger(__name__)

HandoverSource = Literal["email", "portal", "api"]
HandoverStatus = Literal["taken_over", "refused"]
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # as case ids: no 0/O, 1/I
HANDOVER_ID_PATTERN = f"HO-[{_ID_ALPHABET}]{{7}}"
CUSTOMER_KIND = "handover_answer"
# The one wording for "not your order", "no such order" and "you are not a seller": a
# refusal must not tell anyone whether an order exists or whose it is.
UNKNOWN_ORDER = "handover.unknown_order"

# What the seller is told, by rule, and the customer's first line and subject are templates
# ``handover_*`` in ``agent/templates/``; the seller's are written in the seller's language
# (``seller_language``), English when the sender is no seller.


def seller_text(rule: str, language: str = SELLER_FALLBACK, **slots: object) -> str:
    # "Not your order" is the stranger's refusal word for word, in the one language a
    # stranger gets: its language must not tell a seller from anyone else either.
    language = SELLER_FALLBACK if rule == UNKNOWN_ORDER else language
    return render(_seller_key(rule), language, **slots)


def _seller_key(rule: str) -> str:
    """"scope.invoice" -> "handover_scope_invoice", "handover.no_forward" ->
    "handover_no_forward", "taken_over" -> "handover_taken_over"."""
    return "handover_" + rule.removeprefix("handover.").replace(".", "_")


def taken_over_text(order_id: str, handover_id: str, *, answered_by: str,
                    case_id: str | None, outcome: str | None,
                    language: str = SELLER_FALLBACK) -> str:
    """What the seller is told of a message taken over: how, and what follows."""
    more = ""
    if case_id:
        more = seller_text("taken_over_case", language, case_id=case_id)
    elif outcome == "needs_info":
        more = seller_text("taken_over_needs_info", language)
    return seller_text("taken_over", language, order_id=order_id, handover_id=handover_id,
                       answered_by="email" if answered_by == "email" else "SMS", more=more)


@dataclass(frozen=True, slots=True)
class HandoverResult:
    """What became of one hand-over; ``message`` is the text the seller is given."""

    handover_id: str
    status: HandoverStatus
    message: str
    rule: str | None = None
    order_id: str | None = None
    outcome: str | None = None
    case_id: str | None = None
    answered_by: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class HandoverRequest:
    """A customer's message a seller hands over, however it arrived."""

    source: HandoverSource
    source_key: str
    text: str
    order_ids: Sequence[str]  # candidates in the order found; the seller's own one is taken
    subject: str = ""
    customer_message_id: str | None = None  # to thread the answer under the customer's mail


# A hook that queues the seller's reply (the email answering a forward) in the hand-over's
# own transaction; the API answers in its response instead.
SellerReply = Callable[[Session, str], None]


def new_handover_id() -> str:
    return "HO-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))


def handover_address_for(addresses: Mapping[str, str], seller: Seller) -> str | None:
    """The hand-over address of the seller's region (its country, else the '*' default)."""
    return addresses.get(seller.country) or addresses.get("*")


class HandoverDesk:
    """Takes over or refuses hand-overs; every path writes its record and its messages in one
    transaction, so a redelivered forward or a retried POST changes nothing."""

    def __init__(self, store: Store, *, domain: str = MAIL_DOMAIN,
                 clock: Clock = wall_clock) -> None:
        self.store = store
        self.domain = domain
        self.clock = clock

    # --- the one flow -------------------------------------------------------------------

    def take_over(self, seller: Seller | None, request: HandoverRequest,
                  handle: MessageHandler, *, seller_reply: SellerReply | None = None
                  ) -> HandoverResult:
        stored = self._stored(request.source_key)
        if stored is not None:
            log.info("hand-over %s already processed", stored.handover_id)
            return replace(stored, duplicate=True)
        handover_id = new_handover_id()
        if seller is None:
            return self._refuse(handover_id, request, None, None, UNKNOWN_ORDER, seller_reply)
        order = self._sellers_order(seller, request.order_ids)
        if order is None:
            rule = "handover.no_order_number" if not request.order_ids else UNKNOWN_ORDER
            return self._refuse(handover_id, request, seller, None, rule, seller_reply)
        text = request.text.strip()
        if not text:
            return self._refuse(handover_id, request, seller, order,
                                "handover.no_customer_message", seller_reply)
        with self.store.reads() as session:
            history = enrolment_history(session, seller.seller_id)
        refusal = handover_refusal(order, seller, history, text)
        if refusal is not None:
            return self._refuse(handover_id, request, seller, order, refusal, seller_reply)
        contact = _customer_contact(order)
        if contact is None:
            return self._refuse(handover_id, request, seller, order,
                                "handover.no_customer_contact", seller_reply)
        channel, address = contact
        msg = self._customer_message(request, order, channel, address, text)
        reply = handle(msg)
        if reply.intent == "rate_limited":
            return self._refuse(handover_id, request, seller, order, "handover.rate_limited",
                                seller_reply)
        if reply.outcome == "redirected":
            # The turn found it out of scope after all (a product the order does not hold):
            # the customer gets nothing from us, the seller the reason.
            rule = next((c.rule for c in reply.citations if c.kind == "policy" and c.rule),
                        "scope.pre_order_question")
            return self._refuse(handover_id, request, seller, order,
                                rule if _seller_key(rule) in templates("en")
                                else "scope.pre_order_question",
                                seller_reply)
        return self._record_take_over(handover_id, request, seller, order, msg, reply,
                                      seller_reply)

    def refuse(self, seller: Seller | None, request: HandoverRequest, rule: str, *,
               seller_reply: SellerReply | None = None) -> HandoverResult:
        """Refuse what was decided before the flow (a mail with no forward in it), once."""
        stored = self._stored(request.source_key)
        if stored is not None:
            return replace(stored, duplicate=True)
        return self._refuse(new_handover_id(), request, seller, None, rule, seller_reply)

    def _sellers_order(self, seller: Seller, order_ids: Sequence[str]) -> Order | None:
        for order_id in order_ids:
            order = self.store.order(order_id)
            if order is not None and order.seller_id == seller.seller_id:
                return order
        return None

    def _customer_message(self, request: HandoverRequest, order: Order, channel: str,
                          address: str, text: str) -> InboundMessage:
        """The customer's message as if it came on their own channel, in a conversation that
        starts with the order known and verified: the seller vouches for the customer."""
        now = self.clock()
        # Email: a conversation of its own, found again by our answer's Message-ID when the
        # customer replies. SMS: the customer's number is the thread, as on the SMS channel.
        thread_key = (f"handover:{_digest(request.source_key)}" if channel == "email"
                      else address)
        with self.store.sessions.begin() as session:
            conv = session.scalar(select(ConversationRow).where(
                ConversationRow.channel == channel, ConversationRow.thread_key == thread_key))
            if conv is None:
                conv = ConversationRow(id=_conversation_id(), channel=channel,
                                       thread_key=thread_key, contact=address,
                                       misunderstood=0, state={}, created_at=now,
                                       updated_at=now)
                session.add(conv)
            if not self.store.has_message(channel, _provider_id(request)):
                conv.marketplace = order.marketplace
                conv.order_id = conv.verified_order_id = order.order_id
                conv.pending = conv.pending_intent = None
                conv.asin = None
        return InboundMessage(
            channel=channel,  # type: ignore[arg-type]  # "email" or "sms"
            sender=address, text=text, thread_key=thread_key, received_at=now,
            provider_message_id=_provider_id(request), marketplace=order.marketplace,
            order_id=order.order_id,
            metadata=MappingProxyType({"handover": request.source, "subject": request.subject}))

    def _record_take_over(self, handover_id: str, request: HandoverRequest, seller: Seller,
                          order: Order, msg: InboundMessage, reply: Reply,
                          seller_reply: SellerReply | None) -> HandoverResult:
        now = self.clock()
        language = reply.language
        body = (render("handover_customer_intro", language, seller=seller.name,
                       order_id=order.order_id) + "\n\n" + reply.text)
        message = taken_over_text(order.order_id, handover_id, answered_by=msg.channel,
                                  language=seller_language(seller),
                                  case_id=reply.case_id, outcome=reply.outcome)
        def write(session: Session) -> None:
            conv = session.get_one(ConversationRow, reply.conversation_id)
            row = session.scalar(select(MessageRow).where(
                MessageRow.channel == msg.channel,
                MessageRow.provider_message_id == msg.provider_message_id))
            assert row is not None  # the turn stored it before answering
            # The key a late answer of the same message would use: one answer, ever.
            key = late_reply_key(row)
            if msg.channel == "email":
                subject = reply_subject(request.subject) or \
                    render("handover_customer_subject", language, order_id=order.order_id)
                queue_email(session, dedupe_key=key, recipient=msg.sender, subject=subject,
                            body=body, kind=CUSTOMER_KIND, now=now,
                            conversation_id=conv.id, case_id=reply.case_id,
                            in_reply_to=request.customer_message_id, domain=self.domain)
            else:
                queue_customer_message(session, conversation=conv, text=body,
                                       dedupe_key=key, now=now, case_id=reply.case_id)
            session.add(HandoverRow(
                id=handover_id, source_key=request.source_key, source=request.source,
                seller_id=seller.seller_id, order_id=order.order_id, status="taken_over",
                outcome=reply.outcome, case_id=reply.case_id,
                answered_by=msg.channel, conversation_id=conv.id, created_at=now))

        duplicate = self._save_once(request.source_key, write, seller_reply, message)
        if duplicate is not None:
            return duplicate
        log.info("hand-over %s taken over: seller=%s order=%s conversation=%s outcome=%s "
                 "case=%s chars=%d", handover_id, seller.seller_id, order.order_id,
                 reply.conversation_id,
                 reply.outcome, reply.case_id or "-", len(msg.text))
        return HandoverResult(handover_id, "taken_over", message, order_id=order.order_id,
                              outcome=reply.outcome, case_id=reply.case_id,
                              answered_by=msg.channel)

    def _refuse(self, handover_id: str, request: HandoverRequest, seller: Seller | None,
                order: Order | None, rule: str, seller_reply: SellerReply | None
                ) -> HandoverResult:
        message = seller_text(rule, seller_language(seller),
                              order_id=order.order_id if order else "-")

        def write(session: Session) -> None:
            session.add(HandoverRow(
                id=handover_id, source_key=request.source_key, source=request.source,
                seller_id=seller.seller_id if seller else None,
                # Only the seller's own order is kept: what else was named stays unknown.
                order_id=order.order_id if order else None, status="refused", rule=rule,
                created_at=self.clock()))

        duplicate = self._save_once(request.source_key, write, seller_reply, message)
        if duplicate is not None:
            return duplicate
        log.info("hand-over %s refused (%s) seller=%s order=%s", handover_id, rule,
                 seller.seller_id if seller else "-", order.order_id if order else "-")
        return HandoverResult(handover_id, "refused", message, rule=rule,
                              order_id=order.order_id if order else None)

    def _save_once(self, source_key: str, write: Callable[[Session], None],
                   seller_reply: SellerReply | None, message: str) -> HandoverResult | None:
        """``write`` and the seller's answer ``message`` in one transaction: None once saved;
        for a source handed over before, its stored result, marked as a duplicate."""
        try:
            with self.store.sessions.begin() as session:
                write(session)
                session.flush()  # a second hand-over of the source fails here, before mail
                if seller_reply is not None:
                    seller_reply(session, message)
        except IntegrityError:
            stored = self._stored(source_key)
            if stored is None:
                raise
            return replace(stored, duplicate=True)
        return None

    def _stored(self, source_key: str) -> HandoverResult | None:
        with self.store.reads() as session:
            row = session.scalar(select(HandoverRow).where(HandoverRow.source_key == source_key))
        if row is None:
            return None
        seller = self.store.seller(row.seller_id) if row.seller_id else None
        return result_of(row, seller_language(seller) if seller else SELLER_FALLBACK)


def result_of(row: HandoverRow, language: str = SELLER_FALLBACK) -> HandoverResult:
    """A stored hand-over as its seller is told about it, in ``language``."""
    if row.status == "refused":
        rule = row.rule or UNKNOWN_ORDER
        message = seller_text(rule, language, order_id=row.order_id or "-")
        return HandoverResult(row.id, "refused", message, rule=rule, order_id=row.order_id)
    message = taken_over_text(row.order_id or "-", row.id, answered_by=row.answered_by or "",
                              case_id=row.case_id, outcome=row.outcome, language=language)
    return HandoverResult(row.id, "taken_over", message, order_id=row.order_id,
                          outcome=row.outcome, case_id=row.case_id,
                          answered_by=row.answered_by)


def handovers_of(store: Store, seller_id: str, order_id: str | None = None
                 ) -> list[tuple[HandoverRow, HandoverResult]]:
    language = seller_language(store.seller(seller_id))
    return [(row, result_of(row, language))
            for row in handover_rows(store, seller_id, order_id)]


def _customer_contact(order: Order) -> tuple[str, str] | None:
    """Where the answer goes: the order's email address, or its phone by SMS."""
    if order.customer.email:
        return "email", order.customer.email.strip().lower()
    if order.customer.phone:
        return "sms", order.customer.phone.strip()
    return None


def _provider_id(request: HandoverRequest) -> str:
    # Not a Message-ID of the customer's: the customer's thread never answers it.
    return f"handover:{request.source_key}"[:512]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _conversation_id() -> str:
    return secrets.token_hex(16)
