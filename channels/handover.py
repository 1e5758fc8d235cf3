"""Sellers forward a customer's mail to their region's hand-over address; the desk
(``seller/handover_desk.py``) takes it over or refuses it, and the sender gets one reply.

Only a seller's registered address, proven by DMARC alignment, hands a message over. Logs
carry ids only: never a customer's words or contact details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import Store
from agent.messages import MessageHandler
from agent.models import SellerRow
from agent.outgoing_mail import MAIL_DOMAIN, dedupe_key, queue_email, reply_subject
from agent.records import Seller
from agent.understanding import extract_order_ids
from base.clock import Clock, wall_clock
from channels.base import Delivery
from channels.forwards import read_forward
from seller.handover_desk import (
    UNKNOWN_ORDER,
    HandoverDesk,
    HandoverRequest,
    HandoverResult,
    HandoverStatus,
)

if TYPE_CHECKING:
    from channels.mail_auth import CheckKind
    from channels.mailbox import InboundMail

log = logging.getLogger(__name__)

SELLER_REPLY_KIND = "handover_seller_reply"


def seller_by_email(store: Store, address: str) -> Seller | None:
    """The seller whose registered address this is (bare address, case-insensitive)."""
    wanted = address.strip().lower()
    with store.reads() as session:
        for row in session.scalars(select(SellerRow)):
            if str(row.data.get("email", "")).strip().lower() == wanted:
                return Seller.model_validate(row.data)
    return None



class HandoverMailOut(BaseModel):
    """A seller's forward to a hand-over address; the sender was answered by mail."""

    handover: HandoverStatus
    handover_id: str


@dataclass(frozen=True, slots=True)
class HandoverMailOutcome:
    result: HandoverResult
    proven: bool  # whether the sender checks proved the From address

    @property
    def sender_unproven(self) -> bool:
        return not self.proven

    def response(self) -> HandoverMailOut:
        return HandoverMailOut(handover=self.result.status, handover_id=self.result.handover_id)


class HandoverMail:
    """The mailbox of the hand-over addresses: the forward is read, checked and taken over or
    refused, and the sender always gets one reply."""

    check: CheckKind = "handover"
    reply_kind = SELLER_REPLY_KIND
    response_model: type[BaseModel] = HandoverMailOut

    def __init__(self, store: Store, addresses: Mapping[str, str], *,
                 domain: str = MAIL_DOMAIN,
                 clock: Clock = wall_clock) -> None:
        if not addresses:
            raise ValueError("at least one hand-over address is required")
        self.addresses = frozenset(a.strip().lower() for a in addresses.values())
        self.domain = domain
        self.desk = HandoverDesk(store, domain=domain, clock=clock)
        self.store = store

    def accepts(self, mail: InboundMail) -> bool:
        """Whether a mail is for a hand-over address: by the envelope, else its headers (the
        webhook has no envelope; an MTA records the original recipient in them)."""
        return not self.addresses.isdisjoint(mail.recipients)

    def reply_to(self, row: Delivery) -> str | None:
        return None  # the answer to a forward asks nothing back

    def receive(self, mail: InboundMail, handle: MessageHandler) -> HandoverMailOutcome:
        """Only a seller's registered address, proven by DMARC alignment, hands a message
        over; only a proven sender gets a reply."""
        return HandoverMailOutcome(self._receive(mail, handle), proven=mail.proven is not None)

    def _receive(self, mail: InboundMail, handle: MessageHandler) -> HandoverResult:
        parsed = mail.parsed
        forward = read_forward(parsed.message)
        proven = mail.auth.verified_address
        seller = seller_by_email(self.store, proven) if proven is not None else None
        source_key = f"mail:{parsed.message_id}"

        def to_proven(session: Session, body: str) -> None:
            assert proven is not None
            queue_email(session, dedupe_key=dedupe_key("handover", parsed.message_id),
                        recipient=proven, subject=reply_subject(parsed.subject),
                        body=body, kind=SELLER_REPLY_KIND, now=self.desk.clock(),
                        in_reply_to=parsed.message_id, references=parsed.references,
                        domain=self.domain)

        # A forged sender gets no mail: the refusal is recorded, nobody is written to.
        reply = to_proven if proven is not None else None

        if forward is None:
            request = HandoverRequest(source="email", source_key=source_key, text="",
                                      order_ids=())
            # A stranger learns nothing, not even what was missing.
            rule = "handover.no_forward" if seller is not None else UNKNOWN_ORDER
            return self.desk.refuse(seller, request, rule, seller_reply=reply)
        # The order number may be in the customer's words, their subject, the seller's note
        # or the forward's own subject; the seller's own order among them is the one.
        order_ids = list(dict.fromkeys(
            [*extract_order_ids(forward.text), *extract_order_ids(forward.subject),
             *extract_order_ids(forward.note), *extract_order_ids(parsed.subject)]))
        request = HandoverRequest(source="email", source_key=source_key, text=forward.text,
                                  order_ids=order_ids, subject=forward.subject,
                                  customer_message_id=forward.message_id)
        log.info("hand-over mail %s: %s forward, %d order numbers, %d chars",
                 parsed.message_id, forward.kind, len(order_ids), len(forward.text))
        return self.desk.take_over(seller, request, handle, seller_reply=reply)

