"""Phone calls over Twilio Voice: each caller turn (speech or keypad) in, TwiML
``<Say>`` + ``<Gather>`` out, in the language of the marketplace the caller dialled.

It decides nothing and keeps no call state in memory (the turn and silence counts travel in the
signed action URL); follow-ups to a caller go by SMS. It never logs speech or phone numbers.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Self

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from twilio.twiml.voice_response import Gather, VoiceResponse

from agent.messages import InboundMessage, Reply
from agent.models import ConversationRow, MessageRow, OutboxRow
from agent.replies import address, render
from agent.understanding import fold
from base.money import MARKETPLACE_LANGUAGE
from base.settings import Settings
from channels.base import Delivery, MessageHandler
from channels.for_the_ear import for_the_ear, say_parts, without_address
from channels.messaging import NUMBER_KEY, MessagingChannel, remember_number
from channels.spoken_digits import ORDER_DIGITS, order_number, spoken_order_numbers
from channels.twilio_auth import (
    WEBHOOK_ERRORS,
    TwilioParams,
    answer,
    check_text,
    marketplace_for_number,
    require_param,
    twiml,
)

log = logging.getLogger(__name__)

TURN_PATH = "/twilio/voice/turn"
MAX_REPROMPTS = 2  # silences answered with a new prompt; the next one ends the call politely
MAX_TURNS = 200  # a call this long is a loop, not a customer
# Seconds of silence that end an utterance. "auto" ends it at the first pause, so "Ja hallo …
# ich möchte die Lampe zurückgeben" reached us as "Ja hallo" and the request, spoken while we
# answered, was lost; Twilio also refuses "auto" once a speech model is named.
SPEECH_TIMEOUT = 2
# Twilio waits 15 s for the TwiML; a turn slower than this is logged as a warning.
SLOW_TURN_SECONDS = 8.0
DEFAULT_SPEECH_LANGUAGE = "en-US"
SPEECH_LANGUAGES = {"de": "de-DE", "es": "es-ES", "fr": "fr-FR", "it": "it-IT"}
# Twilio's generic model for telephone audio: Twilio picks the provider per language and fails
# over between providers, which a provider-specific model would not.
SPEECH_MODEL = "phone_call"
# Amazon Polly's neural voices, one per Twilio language: Twilio's default voice reads German,
# Spanish, French and Italian with an English accent.
VOICES = {
    "de-DE": "Polly.Vicki-Neural", "es-ES": "Polly.Lucia-Neural", "en-GB": "Polly.Amy-Neural",
    "en-US": "Polly.Joanna-Neural", "fr-FR": "Polly.Lea-Neural", "it-IT": "Polly.Bianca-Neural",
}
# What the recogniser should expect: the words the agent acts on in that language and the
# digits of an order number, spoken one by one. Twilio takes up to 500 comma-separated hints.
HINTS: dict[str, tuple[str, ...]] = {
    "de": ("Bestellung", "Bestellnummer", "Lieferung", "Paket", "Sendungsverfolgung",
           "zurückgeben", "zurückschicken", "Rücksendung", "Retoure", "Erstattung",
           "Geld zurück", "stornieren", "kaputt", "beschädigt", "defekt", "Rechnung", "SMS",
           "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
           "doppel", "Strich"),
    "es": ("pedido", "número de pedido", "entrega", "paquete", "seguimiento", "devolver",
           "devolución", "reembolso", "cancelar", "roto", "dañado", "defectuoso", "factura",
           "SMS", "cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho",
           "nueve", "doble", "guion"),
    "en": ("order", "order number", "delivery", "parcel", "package", "tracking", "return",
           "refund", "cancel", "broken", "damaged", "faulty", "invoice", "text message",
           "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
           "nine", "double", "triple", "dash"),
    "fr": ("commande", "numéro de commande", "livraison", "colis", "suivi", "retourner",
           "retour", "remboursement", "annuler", "cassé", "endommagé", "défectueux",
           "facture", "SMS", "zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept",
           "huit", "neuf", "double", "tiret"),
    "it": ("ordine", "numero d'ordine", "consegna", "pacco", "spedizione", "restituire",
           "reso", "rimborso", "annullare", "rotto", "danneggiato", "difettoso", "fattura",
           "SMS", "zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto",
           "nove", "doppio", "trattino"),
}

# What only the phone says: the short answer to a caller's hello (they were greeted when the
# call began), what goes by SMS instead of being read out (a return address; the last answer
# when the caller presses the star key or asks for it), the keypad hint, the re-prompt after
# silence and the goodbye that offers a written follow-up. Keyed by Twilio language: a US
# caller presses "pound".
PHRASES: dict[str, dict[str, str]] = {
    "de-DE": {
        "address_by_sms": "Die Rücksendeadresse schicke ich Ihnen per SMS.",
        "sms_sent": "Ich habe Ihnen meine letzte Antwort per SMS geschickt. Kann ich sonst noch "
                    "helfen?",
        "sms_none": "Ich habe Ihnen noch nichts geantwortet, das ich schicken könnte. Wie kann "
                    "ich helfen?",
        "sms_offer": "Für diese Antwort per SMS drücken Sie die Sterntaste.",
        "listening": "Ja, ich höre Sie. Worum geht es?",
        "prompt": "Wie kann ich Ihnen helfen? Ihre Bestellnummer können Sie auch über die "
                  "Telefontastatur eingeben, danach die Rautetaste.",
        "reprompt": "Entschuldigung, ich habe Sie nicht gehört.",
        "goodbye": "Ich kann Sie leider nicht hören. Schreiben Sie uns gern eine SMS an diese "
                   "Nummer oder eine E-Mail, dann antworten wir Ihnen dort. Auf Wiederhören!",
    },
    "es-ES": {
        "address_by_sms": "Le envío la dirección de devolución por SMS.",
        "sms_sent": "Le he enviado mi última respuesta por SMS. ¿Puedo ayudarle en algo más?",
        "sms_none": "Todavía no le he dado ninguna respuesta que enviar. ¿En qué puedo ayudarle?",
        "sms_offer": "Para recibir esta respuesta por SMS, pulse la tecla asterisco.",
        "listening": "Sí, le escucho. ¿En qué puedo ayudarle?",
        "prompt": "¿En qué puedo ayudarle? También puede marcar su número de pedido en el "
                  "teclado, seguido de la tecla almohadilla.",
        "reprompt": "Perdone, no le he oído.",
        "goodbye": "Lo siento, no le oigo. Puede enviarnos un SMS a este número o un correo "
                   "electrónico y le responderemos por escrito. ¡Hasta luego!",
    },
    "en-GB": {
        "address_by_sms": "I will send you the return address by text message.",
        "sms_sent": "I have sent you my last answer by text message. Can I help with anything "
                    "else?",
        "sms_none": "I have not given you an answer to send yet. How can I help?",
        "sms_offer": "To get this answer by text message, press the star key.",
        "listening": "Yes, I am listening. How can I help?",
        "prompt": "How can I help you? You can also type your order number on the keypad, "
                  "followed by the hash key.",
        "reprompt": "Sorry, I did not hear you.",
        "goodbye": "I am afraid I cannot hear you. You are welcome to send a text message to "
                   "this number or an email, and we will answer you there. Goodbye!",
    },
    "en-US": {
        "address_by_sms": "I will send you the return address by text message.",
        "sms_sent": "I have sent you my last answer by text message. Can I help with anything "
                    "else?",
        "sms_none": "I have not given you an answer to send yet. How can I help?",
        "sms_offer": "To get this answer by text message, press the star key.",
        "listening": "Yes, I am listening. How can I help?",
        "prompt": "How can I help you? You can also type your order number on the keypad, "
                  "followed by the pound key.",
        "reprompt": "Sorry, I did not hear you.",
        "goodbye": "I am afraid I cannot hear you. You are welcome to send a text message to "
                   "this number or an email, and we will answer you there. Goodbye!",
    },
    "fr-FR": {
        "address_by_sms": "Je vous envoie l'adresse de retour par SMS.",
        "sms_sent": "Je vous ai envoyé ma dernière réponse par SMS. Puis-je vous aider pour autre "
                    "chose ?",
        "sms_none": "Je ne vous ai pas encore donné de réponse à envoyer. Comment puis-je vous "
                    "aider ?",
        "sms_offer": "Pour recevoir cette réponse par SMS, appuyez sur la touche étoile.",
        "listening": "Oui, je vous écoute. Comment puis-je vous aider ?",
        "prompt": "Comment puis-je vous aider ? Vous pouvez aussi taper votre numéro de "
                  "commande sur le clavier, suivi de la touche dièse.",
        "reprompt": "Excusez-moi, je ne vous ai pas entendu.",
        "goodbye": "Je ne vous entends pas. Vous pouvez nous envoyer un SMS à ce numéro ou un "
                   "e-mail, et nous vous répondrons par écrit. Au revoir !",
    },
    "it-IT": {
        "address_by_sms": "Le invio l'indirizzo per il reso via SMS.",
        "sms_sent": "Le ho inviato la mia ultima risposta via SMS. Posso aiutarla in altro?",
        "sms_none": "Non le ho ancora dato una risposta da inviare. Come posso aiutarla?",
        "sms_offer": "Per ricevere questa risposta via SMS, prema il tasto asterisco.",
        "listening": "Sì, la ascolto. Come posso aiutarla?",
        "prompt": "Come posso aiutarla? Può anche digitare il numero d'ordine sulla tastiera, "
                  "seguito dal tasto cancelletto.",
        "reprompt": "Mi scusi, non l'ho sentita.",
        "goodbye": "Non riesco a sentirla. Può inviarci un SMS a questo numero o un'e-mail e le "
                   "risponderemo per iscritto. Arrivederci!",
    },
}
_DIGITS = re.compile(r"[0-9*#]*")
_LANGUAGE = re.compile(r"[a-z]{2}")


def speech_language(language: str, marketplace: str) -> tuple[str, str]:
    """(reply language, Twilio speech/voice language): English is British on the UK
    marketplace; a language Twilio is not set up for here falls back to US English."""
    if language == "en":
        return "en", "en-GB" if marketplace == "UK" else "en-US"
    if language in SPEECH_LANGUAGES:
        return language, SPEECH_LANGUAGES[language]
    return "en", DEFAULT_SPEECH_LANGUAGE


def spoken_text(speech: str) -> str:
    """A transcript with an order number spoken as digit groups ("028 4306 213 ...") or word
    by word in any of the five languages ("null zwei acht ...") written as an order number."""
    return spoken_order_numbers(speech)


def keypad_text(digits: str) -> str:
    """Keys pressed: an order number when they are its 17 digits, typed in one go or with
    the star key between the groups ("028*4306213*9513237#")."""
    if not _DIGITS.fullmatch(digits) or len(digits) > 64:
        raise HTTPException(400, "Digits may hold only 0-9, * and #, at most 64 of them")
    digits = digits.strip("#*")
    typed = digits.replace("*", "")
    return order_number(typed) if len(typed) == ORDER_DIGITS and typed.isdigit() else digits


def turn_url(turn: int, silent: int, language: str) -> str:
    return f"{TURN_PATH}?turn={turn}&silent={silent}&lang={language}"


def say(verb: VoiceResponse | Gather, text: str, speech: str) -> None:
    """``text`` read in the Twilio language ``speech``, by that language's voice."""
    verb.say(text, language=speech, voice=VOICES[speech])


def gather(text: str, speech: str, *, turn: int, silent: int, language: str) -> VoiceResponse:
    """Say ``text`` (made for the ear: short parts, ids spelled) inside a Gather (so the
    caller may interrupt it) and listen for speech or keys; if nothing comes, Twilio falls
    through to the Redirect, which posts the same URL with no input: that is how a silence
    reaches the turn route."""
    response = VoiceResponse()
    url = turn_url(turn, silent, language)
    listen = response.gather(action=url, method="POST", input="dtmf speech", language=speech,
                             hints=", ".join(HINTS[language]), speech_model=SPEECH_MODEL,
                             speech_timeout=SPEECH_TIMEOUT, num_digits=ORDER_DIGITS,
                             finish_on_key="#",
                             timeout=5)
    for part in for_the_ear(text):
        say(listen, part, speech)
    response.redirect(url, method="POST")
    return response


class VoiceChannel:
    """``POST /twilio/voice`` greets a caller; ``POST /twilio/voice/turn`` answers each turn.

    ``send`` delegates to the SMS channel: a caller's later answer (a seller's reply, an
    expired case) is a text message from the number they called.
    """

    name = "voice"

    def __init__(self, sms: MessagingChannel) -> None:
        # One Twilio account: the same signature check, store and clock as the SMS channel.
        self.sms = sms
        self.signature = sms.signature
        self.store = sms.store
        self.clock = sms.clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(MessagingChannel.from_settings(settings))

    def send(self, row: Delivery) -> None:
        self.sms.send(row)

    def router(self, handle: MessageHandler) -> APIRouter:
        router = APIRouter(tags=["twilio"])
        xml: dict[int | str, dict[str, Any]] = {
            200: {"content": {"application/xml": {}}, "description": "TwiML"}, **WEBHOOK_ERRORS}

        @router.post("/twilio/voice", response_class=Response, responses=xml)
        async def twilio_voice(request: Request) -> Response:
            """An incoming call: a greeting in the language of the number dialled."""
            params = await self.signature(request)
            call_sid = require_param(params, "CallSid")
            require_param(params, "From")
            marketplace = marketplace_for_number(params.get("To") or "")
            language, speech = speech_language(MARKETPLACE_LANGUAGE.get(marketplace, "en"),
                                               marketplace)
            log.info("call %s to the %s number", call_sid, marketplace)
            text = f"{render('greeting', language)} {PHRASES[speech]['prompt']}"
            return twiml(gather(text, speech, turn=1, silent=0, language=language))

        @router.post(TURN_PATH, response_class=Response, responses=xml)
        async def twilio_voice_turn(request: Request) -> Response:
            """One caller turn (SpeechResult or Digits), or a silence."""
            params = await self.signature(request)
            turn, silent, asked_in = position(request)
            call_sid = require_param(params, "CallSid")
            caller = require_param(params, "From")
            ours = (params.get("To") or "").strip()
            marketplace = marketplace_for_number(ours)
            if asks_for_sms(params):
                language, speech = speech_language(
                    asked_in or MARKETPLACE_LANGUAGE.get(marketplace, "en"), marketplace)
                sent = await run_in_threadpool(self._text_last_answer, call_sid)
                log.info("call %s turn %d: last answer %s by SMS", call_sid, turn,
                         "queued" if sent else "missing, nothing queued")
                return twiml(gather(PHRASES[speech]["sms_sent" if sent else "sms_none"], speech,
                                    turn=turn + 1, silent=0, language=language))
            text, source = caller_input(params)
            if not text:
                language = asked_in or MARKETPLACE_LANGUAGE.get(marketplace, "en")
                return twiml(self._silence(call_sid, turn, silent + 1, language, marketplace))
            msg = InboundMessage(
                channel="voice", sender=caller, text=text, thread_key=call_sid,
                received_at=self.clock(), provider_message_id=f"{call_sid}:{turn}",
                verified_contact=caller,
                marketplace=marketplace, metadata={"input": source},
                channel_state={NUMBER_KEY: ours} if ours else {})
            started = time.perf_counter()
            reply, spoken = await run_in_threadpool(self._answer, handle, msg, ours)
            seconds = time.perf_counter() - started
            (log.warning if seconds > SLOW_TURN_SECONDS else log.info)(
                "call %s turn %d (%s, %d chars) answered in %.2f s", call_sid, turn, source,
                len(text), seconds)
            language, speech = speech_language(reply.language, marketplace)
            # The call began with the greeting: a caller's "hallo" gets a short "I am
            # listening", so their request, which follows at once, is heard and not talked over.
            text = PHRASES[speech]["listening"] if reply.intent == "greeting" else spoken
            # A case's reply already tells the caller the answer comes by SMS.
            return twiml(gather(text, speech, turn=turn + 1, silent=0, language=language))

        return router

    def _answer(self, handle: MessageHandler, msg: InboundMessage, ours: str
                ) -> tuple[Reply, str]:
        """The agent's reply and what the phone says of it: a postal address is not read
        out (nobody can write it down while listening) but the whole reply goes by SMS; a
        long reply ends with how to get it by SMS."""
        reply = answer(handle, msg)
        # The called number is where a follow-up SMS comes from.
        remember_number(self.store, reply.conversation_id, ours)
        _, speech = speech_language(reply.language, msg.marketplace or "")
        phrases = PHRASES[speech]
        decision = reply.return_decision
        # The reply names the address's country only when it is not the order's own.
        found = decision.return_address if decision else None
        home = found.get("country") if isinstance(found, dict) else None
        postal = next((line for line in (address(found, reply.language, home),
                                         address(found, reply.language))
                       if line and line in reply.text), "")
        if postal:
            self._text(reply.conversation_id, reply.text, answer_key(msg.provider_message_id))
            return reply, without_address(reply.text, postal, phrases["address_by_sms"])
        if len(say_parts(reply.text)) > 1 and reply.case_id is None:
            return reply, f"{reply.text} {phrases['sms_offer']}"
        return reply, reply.text

    def _text(self, conversation_id: str, body: str, key: str) -> bool:
        """Queue ``body`` by SMS to the caller of a conversation, once per ``key``; the
        outbox sends it from the number they called. False when there is no conversation."""
        with self.store.sessions.begin() as session:
            conv = session.get(ConversationRow, conversation_id)
            if conv is None:
                return False
            if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == key)) is None:
                session.add(OutboxRow(
                    dedupe_key=key, channel="sms", recipient=conv.contact, subject=None,
                    body=body, created_at=self.clock(),
                    meta={"conversation_id": conv.id, "thread_key": conv.thread_key,
                          "kind": "voice_answer"}))
            return True

    def _text_last_answer(self, call_sid: str) -> bool:
        """The call's last answer by SMS, once (an answer whose address already went by SMS
        is not sent again); False when the call has no answer yet."""
        with self.store.reads() as session:
            conv_id = session.scalar(select(ConversationRow.id).where(
                ConversationRow.channel == "voice", ConversationRow.thread_key == call_sid))
            last = None if conv_id is None else session.execute(
                select(MessageRow.provider_message_id, MessageRow.reply)
                .where(MessageRow.conversation_id == conv_id, MessageRow.reply.is_not(None))
                .order_by(MessageRow.id.desc()).limit(1)).first()
        if conv_id is None or last is None:
            return False
        provider_id, reply = last
        text = (reply or {}).get("text")
        if not isinstance(text, str) or not text:
            return False
        return self._text(conv_id, text, answer_key(provider_id))

    @staticmethod
    def _silence(call_sid: str, turn: int, silences: int, language: str,
                 marketplace: str) -> VoiceResponse:
        language, speech = speech_language(language, marketplace)
        phrases = PHRASES[speech]
        if silences <= MAX_REPROMPTS:
            log.info("call %s turn %d: silence %d, prompting again", call_sid, turn, silences)
            return gather(f"{phrases['reprompt']} {phrases['prompt']}", speech, turn=turn,
                          silent=silences, language=language)
        log.info("call %s turn %d: silence %d, hanging up", call_sid, turn, silences)
        response = VoiceResponse()
        say(response, phrases["goodbye"], speech)
        response.hangup()
        return response


def position(request: Request) -> tuple[int, int, str | None]:
    """Turn number, silences so far and the language last spoken, from the action URL we
    wrote (its signature is already checked, so only our own values arrive here)."""
    query = request.query_params
    try:
        turn, silent = int(query.get("turn", "1")), int(query.get("silent", "0"))
    except ValueError as exc:
        raise HTTPException(400, "turn and silent must be whole numbers") from exc
    if not 1 <= turn <= MAX_TURNS or not 0 <= silent <= MAX_REPROMPTS:
        raise HTTPException(400, f"turn must be 1-{MAX_TURNS} and silent 0-{MAX_REPROMPTS}")
    language = query.get("lang")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise HTTPException(400, "lang must be a two-letter language code")
    return turn, silent, language


def answer_key(provider_message_id: str) -> str:
    """The outbox key of one answer sent by SMS: each answer is texted at most once."""
    return f"voice-answer:{provider_message_id}"


SMS_KEY = "*"
# "SMS bitte", "por SMS", "send me a text message", "par SMS", "via SMS", "als Nachricht".
_SMS_REQUEST = re.compile(r"\b(?:sms|text message|text me|by text|textnachricht|mensaje|"
                          r"messaggio|texto)\b")
# Up to this many words a request for the SMS is that alone, not a question about an SMS.
SMS_REQUEST_WORDS = 6


def asks_for_sms(params: TwilioParams) -> bool:
    """Whether the caller pressed the star key alone or asked, in a few words, for the
    answer by SMS."""
    if (params.get("Digits") or "").strip() == SMS_KEY:
        return True
    speech = fold((params.get("SpeechResult") or "").strip())
    return 0 < len(speech.split()) <= SMS_REQUEST_WORDS and bool(_SMS_REQUEST.search(speech))


def caller_input(params: TwilioParams) -> tuple[str, str]:
    """(text, "speech" | "dtmf"); empty text when Twilio heard nothing it could use."""
    digits = keypad_text((params.get("Digits") or "").strip())
    if digits:
        return digits, "dtmf"
    speech = check_text((params.get("SpeechResult") or "").strip(), "SpeechResult")
    return spoken_text(speech), "speech"
