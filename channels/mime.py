"""Reading raw mail: RFC 5322 parsing, the sender's own words, and mail never to answer.

A leaf of the mail modules: pure functions over bytes and parsed messages, nothing stored,
sent or logged. The customer mailbox, seller replies to cases and hand-over forwards all read
mail with these names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses
from types import MappingProxyType

from bs4 import BeautifulSoup

from agent.messages import MAX_TEXT_CHARS
from agent.outgoing_mail import trim_references
from channels.hidden_text import remove_hidden

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_MESSAGE_ID_CHARS = 250  # keeps thread keys and provider ids inside their 512-char columns


# Headers should_not_reply reads, kept on ParsedEmail by lower-case name.
_FILTER_HEADERS = ("auto-submitted", "precedence", "list-id", "list-unsubscribe", "return-path",
                   "x-autoreply", "x-autorespond", "x-failed-recipients")
HEADER_ERRORS = (email_errors.MessageError, ValueError, LookupError, TypeError, AttributeError)
_MSGID = re.compile(r"<[^<>\s]+>")

# A reply header must carry a digit (its date), so "Am Montag schrieb ich:" is not one.
REPLY_HEADER = re.compile(
    r"^(?=[^\n]*\d)(?:on\s.+\swrote|am\s.+\sschrieb.*|el\s.+\sescribi[oó]|le\s.+\sa\s+[ée]crit"
    r"|il\s.+\sha\s+scritto)\s*:\s*$", re.IGNORECASE | re.DOTALL)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|urspr[üu]ngliche nachricht|mensaje original"
    r"|message d'origine|messaggio originale)\s*-{2,}\s*$", re.IGNORECASE)
_QUOTED_FROM = re.compile(r"^\s*\*?(from|von|de|da)\s*\*?\s*:\s*\S", re.IGNORECASE)
_QUOTED_SENT = re.compile(r"^\s*\*?(sent|gesendet|enviado(\s+el)?|envoy[ée]|inviato)\s*\*?\s*:",
                          re.IGNORECASE)
_HTML_BLOCKS = ("p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                "pre", "section", "article", "header", "footer")


# --- errors ---------------------------------------------------------------------------------

class UnreadableEmail(ValueError):
    """A mail this channel cannot process; retrying the same bytes cannot help."""


class NoSender(UnreadableEmail):
    pass


class NoMessageId(UnreadableEmail):
    pass


class NoText(UnreadableEmail):
    pass


# --- parsing --------------------------------------------------------------------------------

_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    sender: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    text: str  # what the customer wrote, quotes and signature removed; MAX_TEXT_CHARS at most
    attachments: tuple[str, ...]  # file names, "" for an unnamed part
    content_type: str
    headers: Mapping[str, str]  # the headers that mark mail never to be answered
    # The whole message as parsed, for a reader that needs more than the fields above (the
    # forward inside a seller's hand-over); one parse serves every mailbox.
    message: EmailMessage = field(compare=False, repr=False)
    # The addresses it was written to, lower case, by the headers: the webhook has no SMTP
    # envelope, and an MTA records the original recipient in these.
    recipients: frozenset[str] = frozenset()

    @property
    def thread_root(self) -> str:
        """The thread's first Message-ID as far as this mail knows it."""
        if self.references:
            return self.references[0]
        return self.in_reply_to or self.message_id


MAX_MIME_DEPTH = 20  # real mail nests a few levels; a forward of a forward, a dozen at most


def parse_email(raw: bytes, *, require_text: bool = True) -> ParsedEmail:
    """Read one RFC 5322 message; raises ``UnreadableEmail`` saying what is missing."""
    message = read_message(raw)
    sender = _sender(message)
    message_id = _message_id(message)
    body = body_part(message)
    text = strip_reply(part_text(body)) if body is not None else ""
    parsed = ParsedEmail(
        sender=sender, message_id=message_id,
        in_reply_to=next(iter(message_ids(header(message, "In-Reply-To"))), None),
        references=trim_references(message_ids(header(message, "References"))),
        subject=header(message, "Subject"),
        text=text[:MAX_TEXT_CHARS],
        attachments=tuple(_attachment_names(message, body)),
        content_type=message.get_content_type(),
        headers=MappingProxyType({name: value for name in _FILTER_HEADERS
                                  if (value := header(message, name)) or name in message}),
        recipients=frozenset(spec.lower() for _, spec in getaddresses(
            [str(message.get(name, "")) for name in _RECIPIENT_HEADERS]) if spec),
        message=message)
    if require_text:
        require_text_of(parsed)
    return parsed


def read_message(raw: bytes) -> EmailMessage:
    """The parsed message, or ``UnreadableEmail`` for MIME nested past any real mail's depth
    (the standard parser recurses per level: thousands of levels exhaust the stack)."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError as exc:
        raise UnreadableEmail(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels") from exc
    assert isinstance(message, EmailMessage)
    level: list[tuple[EmailMessage | MIMEPart, int]] = [(message, 1)]
    while level:
        part, depth = level.pop()
        if depth > MAX_MIME_DEPTH:
            raise UnreadableEmail(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            level.extend((sub, depth + 1) for sub in payload if isinstance(sub, MIMEPart))
    return message


def require_text_of(parsed: ParsedEmail) -> None:
    if not parsed.text:
        raise NoText("no text: the mail has no text/plain or text/html part with content "
                     "outside quotes and signature")


def header(message: EmailMessage | MIMEPart, name: str) -> str:
    """A header's value with its folding and runs of whitespace made one space, "" when the
    mail has none; ``UnreadableEmail`` when it cannot be decoded."""
    try:
        value = message.get(name)
    except HEADER_ERRORS as exc:
        raise UnreadableEmail(f"unreadable {name} header") from exc
    return "" if value is None else " ".join(str(value).split())


def _sender(message: EmailMessage) -> str:
    try:
        header = message.get("From")
        addresses = header.addresses if isinstance(header, AddressHeader) else ()
    except HEADER_ERRORS as exc:
        raise NoSender("no sender: unreadable From header") from exc
    if header is None:
        raise NoSender("no sender: the mail has no From header")
    for address in addresses:
        spec = address.addr_spec.strip()
        if address.username and address.domain and len(spec) <= 254:
            return spec
    raise NoSender("no sender: the From header holds no email address")


def _message_id(message: EmailMessage) -> str:
    value = header(message, "Message-ID")
    if not value:
        raise NoMessageId("no Message-ID header: a mail without one cannot be processed once")
    ids = message_ids(value)
    # Some clients omit the angle brackets; the id is still the provider's own.
    message_id = ids[0] if ids else (f"<{value}>" if not re.search(r"[\s<>]", value) else "")
    if not message_id or len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise NoMessageId(f"invalid Message-ID header ({len(value)} characters)")
    return message_id


def message_ids(value: str) -> list[str]:
    return [m for m in _MSGID.findall(value) if len(m) <= MAX_MESSAGE_ID_CHARS]


def body_part(message: EmailMessage) -> MIMEPart | None:
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except HEADER_ERRORS:
        return None


def part_text(part: MIMEPart, *, drop_quotes: bool = True) -> str:
    try:
        content = part.get_content()
    except LookupError:  # an unknown charset: UTF-8 is the best guess there is
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = content if isinstance(content, str) else ""
    if part.get_content_subtype() == "html":
        return html_text(text, drop_quotes=drop_quotes)
    return text


def html_text(html: str, *, drop_quotes: bool = True) -> str:
    """The text of an HTML part; ``drop_quotes=False`` keeps quoted and forwarded mail, which
    a hand-over forward is made of."""
    soup = BeautifulSoup(html, "html.parser")
    remove_hidden(soup)  # what CSS hides from the reader is not the sender's message
    # Quoted earlier mails live in blockquotes and in the clients' own quote containers.
    for tag in soup(["script", "style", "head", "title", "template", "noscript",
                     *(["blockquote"] if drop_quotes else [])]):
        tag.decompose()
    if drop_quotes:
        for tag in soup.select(".gmail_quote, .yahoo_quoted, .moz-cite-prefix, #divRplyFwdMsg"):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    return soup.get_text()


def strip_reply(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _ends_own_text(lines, i):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(" ".join(line.split()))
    while kept and (not kept[-1] or set(kept[-1]) <= {"_", "-"}):  # Outlook's rule line
        kept.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _ends_own_text(lines: Sequence[str], i: int) -> bool:
    """Whether line i starts what is not the customer's own text (signature, quoted mail)."""
    line = lines[i]
    if line.rstrip() == "--" or _ORIGINAL_MESSAGE.match(line):
        return True
    candidate = line.strip()
    if len(candidate) <= 300 and REPLY_HEADER.match(candidate):
        return True
    # Clients wrap a long "On ... wrote:" line in two.
    if i + 1 < len(lines) and len(candidate) <= 300 and REPLY_HEADER.match(
            f"{candidate} {lines[i + 1].strip()}"):
        return True
    return bool(_QUOTED_FROM.match(line)) and any(
        _QUOTED_SENT.match(following) for following in lines[i + 1:i + 4])


def _attachment_names(message: EmailMessage, body: MIMEPart | None) -> list[str]:
    names: list[str] = []

    def visit(part: MIMEPart) -> None:
        if part.get_content_maintype() == "multipart":
            for sub in part.iter_parts():
                visit(sub)
            return
        if part is body:
            return
        filename = part.get_filename()
        if filename or part.is_attachment() or part.get_content_maintype() != "text":
            names.append(" ".join((filename or "").split()))

    if message.is_multipart():
        visit(message)
    return names


# --- mail never to answer -------------------------------------------------------------------

def should_not_reply(parsed: ParsedEmail) -> str | None:
    """Why this mail must never be answered (auto-reply, list, bounce), or None."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in {"bulk", "list", "junk", "auto_reply"}:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in headers:
            return f"mailing list ({name})"
    local_part = parsed.sender.rpartition("@")[0].lower()
    if local_part in {"mailer-daemon", "postmaster"}:
        return f"bounce (sender {local_part})"
    if parsed.content_type == "multipart/report":
        return "bounce (multipart/report)"
    if "return-path" in headers and re.fullmatch(r"<\s*>", headers["return-path"]):
        return "bounce (empty Return-Path)"
    for name in ("x-failed-recipients", "x-autoreply", "x-autorespond"):
        if name in headers:
            return f"automatic mail ({name})"
    return None
