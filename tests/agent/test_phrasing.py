"""The optional LLM path, with LangChain's fake chat models standing in for a provider."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agent.core import Agent
from agent.messages import Citation
from agent.phrasing import Phrasing, claims, unsupported_claims
from tests.agent.conftest import Say
from tests.agent.test_agent import ask
from tests.support.scenarios import DELIVERED_SHEETS_ES

EVIDENCE = [Citation(kind="product_page", asin="B0ES8S2P5N", field="attributes.size",
                     text="150 x 190 cm (válido también para 150 x 200 cm)")]
COMPOSED = "Según la página del producto: Talla: 150 x 190 cm (válido también para 150 x 200 cm)."


def test_claims_are_numbers_and_codes() -> None:
    assert claims("Fits 150 x 190 cm, model LW-TL45, 2,5 kg") == {"150", "190", "lw-tl45", "2.5"}
    assert unsupported_claims("It fits 160 x 200 cm", [COMPOSED]) == {"160"}


def test_a_draft_with_an_unsupported_number_is_rejected() -> None:
    model = FakeListChatModel(responses=["Las sábanas miden 160 x 200 cm."])
    assert Phrasing(model).rephrase(COMPOSED, EVIDENCE, "es") == COMPOSED


def test_a_faithful_draft_is_used() -> None:
    draft = "Las sábanas son de 150 x 190 cm y valen también para 150 x 200 cm."
    model = FakeListChatModel(responses=[draft])
    assert Phrasing(model).rephrase(COMPOSED, EVIDENCE, "es") == draft


def test_a_failing_model_falls_back_to_the_composed_reply() -> None:
    model = FakeListChatModel(responses=[])  # raises on use
    assert Phrasing(model).rephrase(COMPOSED, EVIDENCE, "es") == COMPOSED


@pytest.mark.slow
def test_the_agent_uses_the_model_only_for_wording(agent: Agent, say: Say) -> None:
    agent.phrasing = Phrasing(FakeListChatModel(responses=["Miden 999 x 999 cm."]))
    reply = ask(say, DELIVERED_SHEETS_ES, "¿Qué medida tienen las sábanas?")
    assert reply.outcome == "answered" and "999" not in reply.text and "150" in reply.text
