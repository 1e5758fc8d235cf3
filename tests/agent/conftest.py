"""The agent fixtures live in tests/conftest.py; these names stay importable from here, with
the helpers the agent's tests share."""

from sqlalchemy import select

from agent.db import Store
from agent.messages import Reply
from agent.models import CaseRow
from tests.conftest import NOW, Say
from tests.support.scenarios import Scenario

__all__ = ["NOW", "Say", "ask", "shipment_cases"]


def ask(say: Say, order: Scenario, text: str, **kw: object) -> Reply:
    """``text`` sent by the order's customer, naming the order."""
    return say(f"{text} ({order.order_id})", sender=order.customer_email, **kw)


def shipment_cases(store: Store, order: Scenario) -> list[CaseRow]:
    with store.sessions() as s:
        return list(s.scalars(select(CaseRow).where(CaseRow.order_id == order.order_id,
                                                    CaseRow.category == "shipment")))
