"""Twilio webhooks in: the signature check, the form they post, and the number they reached.

Every Twilio route reads its parameters only through ``TwilioSignature``; an unsigned or forged
request is refused with 403 before anything is parsed further or stored. Nothing here logs text.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from agent.messages import InboundMessage, Reply
from channels.base import MessageHandler

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
# Twilio's largest inbound text is WhatsApp's 4096 characters; percent-encoded non-Latin text
# takes up to 12 bytes a character, so a form is never near this size unless it is not Twilio.
MAX_FORM_BYTES = 128 * 1024
MAX_INBOUND_CHARS = 4096

TwilioParams = ImmutableMultiDict[str, str]

# What every Twilio webhook may answer besides its TwiML, as the OpenAPI schema lists it.
WEBHOOK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a required parameter is missing, or the form does not decode"},
    403: {"description": "the X-Twilio-Signature header is missing or does not match"},
    413: {"description": "the form or the customer's text is too large"},
    415: {"description": "not application/x-www-form-urlencoded"},
    503: {"description": "the message could not be answered now; Twilio retries"},
}

# The marketplace a customer reached, from the country calling code of the number they called
# or wrote to: no setting is needed to add a number. Longest codes first (none overlap today).
CALLING_CODES: tuple[tuple[str, str], ...] = (
    ("+49", "DE"), ("+34", "ES"), ("+44", "UK"), ("+33", "FR"), ("+39", "IT"), ("+1", "US"),
)
DEFAULT_MARKETPLACE = "US"
_NOT_DIALLED = re.compile(r"[^\d+]")


def marketplace_for_number(number: str) -> str:
    """``+4930...`` -> ``DE``; ``whatsapp:+34...`` -> ``ES``; anything unknown -> ``US``."""
    digits = _NOT_DIALLED.sub("", number.removeprefix("whatsapp:"))
    for code, marketplace in CALLING_CODES:
        if digits.startswith(code):
            return marketplace
    return DEFAULT_MARKETPLACE


class TwilioSignature:
    """A FastAPI dependency: the webhook's form parameters, once its signature is proven.

    Twilio signs the URL it requested (``CSBA_PUBLIC_BASE_URL`` + path + query, as the
    server behind a proxy never sees the public URL itself) followed by the sorted form
    parameters, with HMAC-SHA1 keyed by the account's auth token.
    """

    def __init__(self, auth_token: str, public_base_url: str) -> None:
        if not auth_token:
            raise ValueError("a Twilio auth token is required to check webhook signatures")
        if not public_base_url.startswith(("http://", "https://")):
            raise ValueError(f"public_base_url must be an http(s) URL, got {public_base_url!r}")
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")

    def signed_url(self, request: Request) -> str:
        query = request.url.query
        return f"{self.public_base_url}{request.url.path}" + (f"?{query}" if query else "")

    async def __call__(self, request: Request) -> TwilioParams:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise HTTPException(403, f"{SIGNATURE_HEADER} header is missing: "
                                     "only Twilio may call this webhook")
        params = await read_form(request)
        url = self.signed_url(request)
        if not self.validator.validate(url, params, signature):
            # The operator's clue stays in the server log: the caller learns nothing of the
            # deployment's public URL.
            log.warning("refused a Twilio webhook with a wrong signature for %s: checked "
                        "against %s%s; if Twilio itself sent it, check CSBA_TWILIO_AUTH_TOKEN "
                        "and CSBA_PUBLIC_BASE_URL", request.url.path, self.public_base_url,
                        request.url.path)
            raise HTTPException(403, f"{SIGNATURE_HEADER} does not match this request")
        return params


async def read_form(request: Request) -> TwilioParams:
    """The form Twilio posts, bounded in size, decoded strictly as UTF-8."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form has {declared} bytes; at most {MAX_FORM_BYTES}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form has {len(body)} bytes; at most {MAX_FORM_BYTES}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # An empty body is an empty form whatever its type: the route then names what is missing.
    if body and content_type != FORM_TYPE:
        raise HTTPException(415, f"Twilio webhooks post {FORM_TYPE}, got {content_type!r}")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"the form is not valid URL-encoded UTF-8: {exc}") from exc
    return ImmutableMultiDict(pairs)


def require_param(params: TwilioParams, name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise HTTPException(400, f"{name} is required in a Twilio webhook and is missing")
    return value


def check_text(text: str, field: str) -> str:
    """A customer's text, bounded: an oversized one is refused before anything is stored."""
    if len(text) > MAX_INBOUND_CHARS:
        raise HTTPException(413, f"{field} has {len(text)} characters; "
                                 f"at most {MAX_INBOUND_CHARS}")
    return text


def answer(handle: MessageHandler, msg: InboundMessage) -> Reply:
    """The agent's reply; when it fails, a 503 so Twilio retries (or uses its fallback URL).

    The agent has already stored the message by then, so the retry is answered once.
    """
    try:
        return handle(msg)
    except Exception as exc:
        log.error("agent failed on %s message %s: %s", msg.channel, msg.provider_message_id,
                  type(exc).__name__, exc_info=True)
        raise HTTPException(503, "the message could not be answered now; retry later") from exc


def twiml(document: object) -> Response:
    """A TwiML document (``VoiceResponse``, ``MessagingResponse``) as the HTTP answer."""
    return Response(content=str(document), media_type="application/xml")
