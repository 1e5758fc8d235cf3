"""A line refunded in part can be refunded again for its other units, by a later message,
never for more units than were ordered, and a replayed message pays once (demo orders,
data/demo/ORDERS.md)."""

from __future__ import annotations

from sqlalchemy import select

from agent.db import Store
from agent.models import RefundRow
from tests.agent.conftest import Say
from tests.support.scenarios import HAZMAT_GAS_CANISTERS_UK

# HAZMAT_GAS_CANISTERS_UK: two gas canisters at 6.49 GBP plus 3.99 shipping, refunded without
# return.


def ledger(store: Store) -> list[tuple[int | None, str]]:
    with store.reads() as session:
        return [(r.units, str(r.amount)) for r in session.scalars(
            select(RefundRow).order_by(RefundRow.id))]


def test_the_other_unit_broken_later_is_refunded_by_a_second_row(say: Say,
                                                                 store: Store) -> None:
    order_id, email = HAZMAT_GAS_CANISTERS_UK.order_id, HAZMAT_GAS_CANISTERS_UK.customer_email
    first = say(f"One of the two gas canisters arrived dented, order {order_id}.", sender=email)
    assert first.return_decision is not None and first.return_decision.quantity == 1
    assert "refund has been issued" in first.text
    assert ledger(store) == [(1, "8.49")]
    second = say(f"The other gas canister from order {order_id} is dented too.", sender=email,
                 at="2026-11-27T10:00:00+00:00")
    assert second.return_decision is not None and second.return_decision.quantity == 1
    assert "refund has been issued" in second.text, second.text
    assert ledger(store) == [(1, "8.49"), (1, "8.49")]
    third = say(f"One of the gas canisters from order {order_id} is dented.", sender=email,
                at="2026-11-28T10:00:00+00:00")
    # Nothing left to refund: no money is promised, and none recorded.
    assert "already been refunded" in third.text and "2 of 2" in third.text, third.text
    assert "refund has been issued" not in third.text
    assert third.return_decision is None
    assert ledger(store) == [(1, "8.49"), (1, "8.49")]


def test_a_replayed_message_pays_once(say: Say, store: Store) -> None:
    order_id, email = HAZMAT_GAS_CANISTERS_UK.order_id, HAZMAT_GAS_CANISTERS_UK.customer_email
    text = f"One of the two gas canisters arrived dented, order {order_id}."
    first = say(text, sender=email, message_id="provider-7")
    again = say(text, sender=email, message_id="provider-7")
    assert again.text == first.text
    assert ledger(store) == [(1, "8.49")]
