"""Reading a customer's message out of a mail a seller forwarded to the hand-over address.

Three shapes are recognised: the customer's mail attached as ``message/rfc822``; an inline
forward in the common clients' formats (Gmail, Outlook, Apple Mail, Thunderbird; English,
German, Spanish, French, Italian); and a reply chain quoting the customer under "On ...
wrote:". Pure functions over the parsed mail: nothing is stored, sent or logged here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses
from typing import Literal

from agent.messages import MAX_TEXT_CHARS
from channels.mime import (
    HEADER_ERRORS,
    REPLY_HEADER,
    UnreadableEmail,
    header,
    message_ids,
    part_text,
    strip_reply,
)

ForwardKind = Literal["attached", "inline", "reply_chain"]

# The separator line each client writes above an inline forward.
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|mensaje reenviado"
    r"|message transf[ée]r[ée]|messaggio inoltrato|original message"
    r"|urspr[üu]ngliche nachricht|mensaje original|message d'origine|messaggio originale)"
    r"\s*-{2,}"
    r"|begin forwarded message\s*:|anfang der weitergeleiteten nachricht\s*:"
    r"|inicio del mensaje reenviado\s*:|d[ée]but du message r[ée]exp[ée]di[ée]\s*:"
    r"|inizio messaggio inoltrato\s*:"
    r"|_{10,})\s*$", re.IGNORECASE)
# "From:" and its translations; Gmail's plain text sets the names in asterisks.
_FIELD = re.compile(r"^\s*\*?\s*(?P<name>[^\W\d_][\w .]{0,20}?)\s*\*?\s*:\s*\*?\s*(?P<value>.*)$")
_FROM_NAMES = frozenset({"from", "von", "de", "da", "expéditeur", "absender"})
_SENT_NAMES = frozenset({"sent", "date", "datum", "gesendet", "enviado", "enviado el", "fecha",
                         "envoyé", "envoyé le", "date d'envoi", "data", "inviato", "sent on"})
_SUBJECT_NAMES = frozenset({"subject", "betreff", "asunto", "objet", "oggetto"})
_OTHER_NAMES = frozenset({"to", "an", "para", "à", "a", "cc", "kopie", "reply-to",
                          "antwort an", "responder a", "répondre à"})
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_QUOTE = re.compile(r"^\s*>\s?")


@dataclass(frozen=True, slots=True)
class ForwardedMessage:
    """What a forward holds: the customer's words, who they are, and the seller's own note."""

    kind: ForwardKind
    text: str  # the customer's message, its own quotes and signature removed
    customer: str | None  # the address the customer wrote from, as the forward shows it
    subject: str  # the customer's subject, "" when the forward does not show one
    message_id: str | None  # the customer's Message-ID (only an attached mail carries it)
    note: str  # what the seller wrote above the forward


def read_forward(message: EmailMessage) -> ForwardedMessage | None:
    """The forwarded customer message in a seller's mail, or None when there is none."""
    attached = _attached(message)
    if attached is not None:
        return attached
    text = _body_text(message)
    return _inline(text) or _reply_chain(text)


def _body_text(message: EmailMessage | MIMEPart) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except HEADER_ERRORS:
        return ""
    if part is None:
        return ""
    text = part_text(part, drop_quotes=False)  # a forward is quoted mail: keep it
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")


def _attached(message: EmailMessage) -> ForwardedMessage | None:
    for part in message.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        try:
            inner = part.get_content()
        except HEADER_ERRORS:
            continue
        if not isinstance(inner, EmailMessage):
            continue
        text = _clean(_body_text(inner))
        if not text:
            continue
        return ForwardedMessage(
            kind="attached", text=text, customer=_address(_inner_header(inner, "From")),
            subject=_inner_header(inner, "Subject"),
            message_id=next(iter(message_ids(_inner_header(inner, "Message-ID"))), None),
            note=strip_reply(_body_text(message)))
    return None


def _inline(text: str) -> ForwardedMessage | None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        separator = bool(_SEPARATOR.match(line))
        if not separator and not _starts_header_block(lines, i):
            continue
        start = i + 1 if separator else i
        fields, body_at = _header_block(lines, start)
        if "from" not in fields:
            continue
        body = _clean("\n".join(_unquote(lines[body_at:])))
        if not body:
            continue
        return ForwardedMessage(
            kind="inline", text=body, customer=_address(fields["from"]),
            subject=fields.get("subject", ""), message_id=None,
            note=strip_reply("\n".join(lines[:i])))
    return None


def _reply_chain(text: str) -> ForwardedMessage | None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        candidate = line.strip()
        wrote = candidate  # "On ... wrote:"
        skip = 1
        if not REPLY_HEADER.match(candidate) and i + 1 < len(lines):
            wrote, skip = f"{candidate} {lines[i + 1].strip()}", 2  # wrapped in two lines
        if len(wrote) > 300 or not REPLY_HEADER.match(wrote):
            continue
        after = lines[i + skip:]
        quoted = [line for line in after if _QUOTE.match(line)]
        body = _clean("\n".join(_unquote(quoted) if quoted else after))
        if not body:
            continue
        return ForwardedMessage(
            kind="reply_chain", text=body, customer=_address(wrote), subject="",
            message_id=None, note=strip_reply("\n".join(lines[:i])))
    return None


def _field(line: str) -> tuple[str, str] | None:
    match = _FIELD.match(line)
    if not match:
        return None
    name = " ".join(match.group("name").lower().split())
    value = match.group("value").strip().strip("*").strip()
    for key, names in (("from", _FROM_NAMES), ("sent", _SENT_NAMES),
                       ("subject", _SUBJECT_NAMES), ("other", _OTHER_NAMES)):
        if name in names:
            return key, value
    return None


def _starts_header_block(lines: list[str], i: int) -> bool:
    """Outlook writes no separator text: a "From:" line with a "Sent:" line close below."""
    first = _field(lines[i])
    if first is None or first[0] != "from" or not first[1]:
        return False
    return any((f := _field(following)) is not None and f[0] == "sent"
               for following in lines[i + 1:i + 5])


def _header_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The forwarded header fields from ``start`` on, and the index where the body begins."""
    fields: dict[str, str] = {}
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines):
        parsed = _field(lines[i])
        if parsed is None:
            if not lines[i].strip() or fields:
                break
            return {}, start  # text right under the separator: no header block
        key, value = parsed
        fields.setdefault(key, value)
        i += 1
    return fields, i


def _unquote(lines: list[str]) -> list[str]:
    """One level of "> " quoting off, when every non-empty line carries it."""
    filled = [line for line in lines if line.strip()]
    if filled and all(_QUOTE.match(line) for line in filled):
        return [_QUOTE.sub("", line, count=1) for line in lines]
    return lines


def _clean(text: str) -> str:
    # The customer's own quotes of earlier mails and their signature are not the message.
    return strip_reply(text)[:MAX_TEXT_CHARS]


def _address(value: str) -> str | None:
    for _, spec in getaddresses([value.replace("[mailto:", "<").replace("]", ">")]):
        if _ADDRESS.fullmatch(spec):
            return spec.lower()
    found = _ADDRESS.search(value)
    return found.group().lower() if found else None


def _inner_header(message: EmailMessage, name: str) -> str:
    """A header of the attached mail; one that cannot be decoded reads as missing, since the
    customer's words are still worth taking over."""
    try:
        return header(message, name)
    except UnreadableEmail:
        return ""
