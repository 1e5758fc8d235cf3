"""The chat page in headless Chromium, as a customer uses it, against a real uvicorn server.

Needs Debian's chromium (``apt-get install -y chromium``) and ``pip install playwright``;
never ``playwright install``: the browser is the system's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from agent.core import Agent
from agent.db import Store
from channels.outbox import OutboxWorker
from channels.web_chat import WebChatChannel
from knowledge.index import KnowledgeIndex
from tests.channels import test_web_chat as api_tests
from tests.channels.test_web_chat import EMAIL, ORDER, UNANSWERED, WEIGHT
from tests.conftest import CHAT_IDENTITY_SECRET, NOW, chat_token
from tests.support.browser import headless_chromium
from tests.support.browser import sync_api as playwright_api
from tests.support.net import serving_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCREENSHOT = Path("/tmp/chat.png")
TIMEOUT_MS = 30_000
BATTERY = "What is the battery capacity of the headlamp?"
headlamp_index = api_tests.headlamp_index  # the same fixture: an index of the headlamp page


@pytest.fixture()
def chat(store: Store) -> WebChatChannel:
    return WebChatChannel(store, clock=lambda: datetime.fromisoformat(NOW),
                          identity_secret=CHAT_IDENTITY_SECRET)


@pytest.fixture()
def agent_here(store: Store, headlamp_index: KnowledgeIndex) -> Agent:
    return Agent(store, headlamp_index, portal_url="http://127.0.0.1:8000/seller")


@pytest.fixture()
def server(chat: WebChatChannel, agent_here: Agent) -> Iterator[str]:
    app = FastAPI()
    app.include_router(chat.router(agent_here.handle))
    with serving_in_thread(app, lifespan="off") as url:
        yield url


@pytest.fixture()
def page(server: str) -> Iterator[Any]:
    with headless_chromium(900, 820) as context:
        context.set_default_timeout(TIMEOUT_MS)
        yield context.new_page()


def test_a_customer_chats_reloads_and_hears_from_the_seller(
        page: Any, server: str, chat: WebChatChannel, agent_here: Agent, store: Store) -> None:
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)  # the first turn trains the intent classifier
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda payload: frames.append(json.loads(payload))))
    # The host site hands the page its signed login in the fragment, which no server sees.
    page.goto(f"{server}/?order={ORDER}#identity={chat_token(EMAIL)}")
    assert "identity" not in page.url  # taken out of the address bar at once
    expect(page.locator("#status")).to_have_text("online")

    page.fill("#email", EMAIL)
    page.select_option("#marketplace", "US")
    page.fill("#text", WEIGHT)
    page.press("#text", "Enter")
    weight = page.locator(".msg.agent .citation",
                          has_text="Product page: Technical details · Item weight")
    expect(weight).to_be_visible()
    assert weight.get_attribute("href") == (
        "/cited/product/B0USRL3HL4?field=attributes.item_weight&lang=en")
    kinds = [f["type"] for f in frames]
    assert kinds.index("typing") < kinds.index("reply")  # the indicator came first
    expect(page.locator("#typing")).to_be_hidden()
    expect(page.locator("#email")).to_be_disabled()  # the identity is fixed for the chat

    page.fill("#text", UNANSWERED)
    page.click("#send")
    case = page.locator(".msg.agent .case")
    expect(case).to_have_text(re.compile(r"^Case CS-[A-Z2-9]{7}$"))
    case_id = case.inner_text().removeprefix("Case ")

    # The socket drops; what is typed meanwhile goes out after the page reconnects.
    page.evaluate("socket.close()")
    page.fill("#text", BATTERY)
    page.press("#text", "Enter")
    expect(page.locator(".msg.agent")).to_have_count(3)
    expect(page.locator(".msg.customer.pending")).to_have_count(0)
    assert sum(1 for f in frames if f["type"] == "ready") == 2

    page.reload()
    expect(page.locator(".msg.customer")).to_have_count(3)
    expect(page.locator(".msg.agent")).to_have_count(3)
    expect(page.locator(".msg.customer").first).to_have_text(WEIGHT)
    expect(weight).to_be_visible()
    expect(page.locator(".msg.agent .case")).to_have_text(f"Case {case_id}")
    expect(page.locator("#email")).to_have_value(EMAIL)

    # The seller answers; the outbox worker pushes the answer into the open page.
    now = datetime.fromisoformat(NOW)
    agent_here.answer_case(case_id, "A5RIDGELINE", "Yes, it fits with the Petzl adapter.",
                           add_to_knowledge=False, now=now)
    OutboxWorker(store, {"chat": chat}).run_once(now)
    follow_up = page.locator(".msg.follow-up")
    expect(follow_up).to_contain_text("Petzl adapter")
    expect(follow_up).to_contain_text(f"Update on case {case_id}")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.reload()  # the answer stays in the conversation, shown once
    expect(page.locator(".msg.follow-up")).to_have_count(1)


# --- the page in the customer's language ----------------------------------------------------

GERMAN = {"#send": "Senden", "#restart": "Neues Gespräch",
          "label[for=email]": "Ihre E-Mail-Adresse", "label[for=marketplace]": "Shop",
          "#empty": "Fragen Sie zu Ihrer Bestellung, einer Rücksendung oder dem gekauften "
                    "Produkt."}
SPANISH = {"#send": "Enviar", "#restart": "Nueva conversación",
           "label[for=email]": "Su correo electrónico", "label[for=marketplace]": "Tienda"}


def test_a_german_store_gets_a_german_page_and_a_mistyped_email_in_plain_words(
        page: Any, server: str, tmp_path: Path) -> None:
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.goto(f"{server}/?marketplace=DE")
    assert page.get_attribute("html", "lang") == "de"
    assert page.title() == "Kundenservice-Chat"
    expect(page.locator("#status")).to_have_text("online")
    for selector, text in GERMAN.items():
        expect(page.locator(selector)).to_have_text(text)
    assert page.get_attribute("#text", "placeholder") == "Ihre Frage…"
    expect(page.locator("#marketplace")).to_have_value("DE")

    page.fill("#email", "miriam.koch@example")  # no domain ending
    page.fill("#text", "Wie schwer ist die Stirnlampe?")
    page.press("#text", "Enter")
    error = page.locator(".error")
    expect(error).to_have_text("Bitte geben Sie eine gültige E-Mail-Adresse ein.")
    expect(page.locator("#text")).to_have_value("Wie schwer ist die Stirnlampe?")  # kept
    expect(page.locator(".msg.customer")).to_have_count(0)
    assert sent == []  # nothing left the page
    screenshot = tmp_path / "chat-de.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    page.fill("#email", EMAIL)  # corrected: the same message goes out and is answered
    page.press("#text", "Enter")
    expect(page.locator(".msg.agent")).to_have_count(1)
    expect(error).to_have_count(0)
    expect(page.locator("#text")).to_have_value("")


def test_a_spanish_store_gets_a_spanish_page_and_a_failed_turn_can_be_retried(
        page: Any, server: str, agent_here: Agent, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    turn, failures = agent_here._turn, [RuntimeError("model unavailable")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return turn(*args)

    monkeypatch.setattr(agent_here, "_turn", flaky)
    page.goto(f"{server}/?marketplace=ES&order={ORDER}#identity={chat_token(EMAIL)}")
    assert page.get_attribute("html", "lang") == "es"
    expect(page.locator("#status")).to_have_text("en línea")
    for selector, text in SPANISH.items():
        expect(page.locator(selector)).to_have_text(text)
    assert page.get_attribute("#text", "placeholder") == "Escriba su pregunta…"

    page.fill("#text", WEIGHT)
    page.press("#text", "Enter")
    error = page.locator(".error")
    expect(error).to_contain_text("No hemos podido responder a su mensaje ahora.")
    retry = error.locator("button.retry")
    expect(retry).to_have_text("Reintentar")
    expect(page.locator(".msg.customer")).to_have_text(WEIGHT)  # what was typed stays
    retry.click()
    weight = page.locator(".msg.agent .citation",
                          has_text="Página del producto: Datos técnicos")
    expect(weight).to_be_visible()
    expect(error).to_have_count(0)
    expect(page.locator(".msg.customer.pending")).to_have_count(0)
    screenshot = tmp_path / "chat-es.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    view = page.context.new_page()  # the chip opens a readable page in Spanish
    view.goto(server + str(weight.get_attribute("href")))
    assert view.get_attribute("html", "lang") == "es"
    expect(view.locator("h1")).to_contain_text("Página del producto: Datos técnicos")
    expect(view.locator("#cited")).not_to_be_empty()


def test_choosing_another_store_reloads_the_page_in_its_language_keeping_the_draft(
        page: Any, server: str) -> None:
    expect = playwright_api.expect
    page.goto(server)
    assert page.get_attribute("html", "lang") == "en"
    expect(page.locator("#status")).to_have_text("online")
    page.fill("#email", EMAIL)
    page.fill("#text", "Dov'è il mio ordine?")
    page.select_option("#marketplace", "IT")
    expect(page.locator("#send")).to_have_text("Invia")
    assert page.get_attribute("html", "lang") == "it"
    assert page.url.endswith("/?marketplace=IT")
    expect(page.locator("#text")).to_have_value("Dov'è il mio ordine?")
    expect(page.locator("#email")).to_have_value(EMAIL)
    expect(page.locator("#marketplace")).to_have_value("IT")
