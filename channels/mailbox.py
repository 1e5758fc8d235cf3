"""Where an inbound mail goes: the mailboxes of our mail domain, tried in order.

Each kind of mail we receive has its mailbox: a seller's forward to a hand-over address, a
seller's answer to a case notification, and a customer writing to the service. The app
factory registers them in order, most specific first, and the email channel gives each mail
to the first that accepts it, as a help desk routes inbound mail to its inboxes. The channel
itself only parses, filters what must never be answered, proves the sender and routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from channels.base import Delivery, MessageHandler
from channels.mail_auth import CheckKind, SenderAuth
from channels.mime import ParsedEmail


@dataclass(frozen=True, slots=True)
class InboundMail:
    """One mail as the channel received it: parsed, with what the sender checks proved."""

    parsed: ParsedEmail
    auth: SenderAuth
    envelope: Sequence[str] = ()  # the SMTP envelope's recipients; the webhook has none

    @property
    def proven(self) -> str | None:
        """The sender's address when the checks proved it is the From this mail shows."""
        return self.auth.verified_address if self.auth.proves(self.parsed.sender) else None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Whom it was written to: the envelope's, then the headers' (an MTA records the
        original recipient in them, and the webhook has no envelope)."""
        return (*(r.strip().strip("<>").lower() for r in self.envelope),
                *sorted(self.parsed.recipients))


class MailOutcome(Protocol):
    """What a mailbox made of one mail."""

    @property
    def sender_unproven(self) -> bool:
        """Whether the mail needed a proven sender and its sender was not proven: counted
        as a failed sender check under the mailbox's ``check``."""
        ...

    def response(self) -> BaseModel:
        """The webhook's answer for this mail."""
        ...


class Mailbox(Protocol):
    check: CheckKind  # the name a failed sender check is counted under
    reply_kind: str  # the outbox kind of the mail it writes back to whoever wrote
    response_model: type[BaseModel]  # what ``MailOutcome.response`` returns

    def accepts(self, mail: InboundMail) -> bool:
        """Whether the mail is this mailbox's (by its recipients, its thread or its subject)."""
        ...

    def receive(self, mail: InboundMail, handle: MessageHandler) -> MailOutcome:
        """Process the mail once however often it arrives. Raises ``UnreadableEmail`` for a
        mail that can never be processed; any other exception means "deliver again"."""
        ...

    def reply_to(self, row: Delivery) -> str | None:
        """The Reply-To a mail we send carries so that its answer comes to this mailbox
        (a case notification's secret address), or None."""
        ...
