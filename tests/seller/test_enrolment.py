"""Enrolment: the history is seeded from sellers.jsonl, coverage follows it at purchase time,
opt-out and re-enrolment keep it, and the free trial runs once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from agent.db import Store
from agent.enrolment import (
    EnrolmentError,
    EnrolmentPeriod,
    enrol,
    enrolment_history,
    first_enrolled_on,
    opt_out,
    seed_enrolments,
)
from agent.models import EnrolmentRow, SellerRow
from agent.records import Seller
from agent.scope import order_scope
from seller.fees import trial_ends_on
from tests.seller.conftest import SELLER, Ask, order_record, seller_record


def history(store: Store, seller_id: str = SELLER) -> tuple[EnrolmentPeriod, ...]:
    with store.sessions() as session:
        return enrolment_history(session, seller_id)


def test_ingest_seeds_the_history_from_the_csba_block(account_store: Store) -> None:
    seed_enrolments(account_store, [seller_record()])
    seed_enrolments(account_store, [seller_record()])  # again: nothing new
    assert history(account_store) == (EnrolmentPeriod(date(2026, 1, 5)),)
    seed_enrolments(account_store, [seller_record(opted_out_on="2026-06-01")])
    assert history(account_store) == (EnrolmentPeriod(date(2026, 1, 5), date(2026, 6, 1)),)
    # a later file describes a new period: the earlier one is kept
    seed_enrolments(account_store, [seller_record(enrolled_on="2026-09-01")])
    assert history(account_store) == (EnrolmentPeriod(date(2026, 1, 5), date(2026, 6, 1)),
                                      EnrolmentPeriod(date(2026, 9, 1)))


def test_an_open_period_closes_where_a_newer_one_from_the_file_starts(
        account_store: Store) -> None:
    seed_enrolments(account_store, [seller_record()])
    seed_enrolments(account_store, [seller_record(enrolled_on="2026-04-01")])
    assert history(account_store) == (EnrolmentPeriod(date(2026, 1, 5), date(2026, 4, 1)),
                                      EnrolmentPeriod(date(2026, 4, 1)))


@pytest.mark.parametrize(("purchased", "covered", "rule"), [
    ("2026-01-04", False, "scope.ordered_before_enrolment"),
    ("2026-01-05", True, "scope.covered"),  # the enrolment day is covered
    ("2026-05-31", True, "scope.covered"),
    ("2026-06-01", False, "scope.ordered_after_opt_out"),  # the opt-out day is not
    ("2026-08-31", False, "scope.ordered_after_opt_out"),
    ("2026-09-01", True, "scope.covered"),  # re-enrolled
])
def test_coverage_is_decided_by_the_periods_at_purchase(purchased: str, covered: bool,
                                                        rule: str) -> None:
    periods = (EnrolmentPeriod(date(2026, 1, 5), date(2026, 6, 1)),
               EnrolmentPeriod(date(2026, 9, 1)))
    # today's contract block says "active since 2026-09-01": only the history knows the rest
    seller = seller_record(enrolled_on="2026-09-01")
    decision = order_scope(order_record(purchased=purchased, shipped=purchased), seller,
                           periods)
    assert (decision.covered, decision.rule) == (covered, rule)
    if not covered:
        assert decision.redirect == "seller_messaging"


def test_without_a_history_the_contract_block_decides() -> None:
    seller = seller_record(opted_out_on="2026-06-01")
    order = order_record(purchased="2026-06-02", shipped="2026-06-03")
    assert order_scope(order, seller).rule == "scope.ordered_after_opt_out"


def test_opt_out_and_re_enrolment_keep_one_trial(account_store: Store) -> None:
    seed_enrolments(account_store, [seller_record()])
    opt_out(account_store, SELLER, date(2026, 6, 1))
    periods = enrol(account_store, SELLER, date(2026, 9, 1))
    assert periods == (EnrolmentPeriod(date(2026, 1, 5), date(2026, 6, 1)),
                       EnrolmentPeriod(date(2026, 9, 1)))
    # the trial ran 30 days from the first enrolment, and does not start again
    assert trial_ends_on(first_enrolled_on(periods), 30) == date(2026, 2, 4)
    seller = account_store.seller(SELLER)
    assert seller is not None and seller.csba.status == "active"
    assert seller.csba.enrolled_on == date(2026, 9, 1) and seller.csba.opted_out_on is None


def test_the_contract_block_follows_an_opt_out(account_store: Store) -> None:
    opt_out(account_store, SELLER, date(2026, 6, 1))  # history not seeded: taken from the block
    seller = account_store.seller(SELLER)
    assert seller is not None
    assert (seller.csba.status, seller.csba.opted_out_on) == ("opted_out", date(2026, 6, 1))
    assert seller.csba.valid_tracking_rate == 0.90  # the rest of the block is kept
    with account_store.sessions() as session:
        rows = list(session.scalars(select(EnrolmentRow)
                                    .where(EnrolmentRow.seller_id == SELLER)))
        assert [(r.enrolled_on, r.opted_out_on) for r in rows] == [
            (date(2026, 1, 5), date(2026, 6, 1))]
        data = session.get_one(SellerRow, SELLER).data
    assert Seller.model_validate(data).csba.opted_out_on == date(2026, 6, 1)


@pytest.mark.parametrize(("steps", "rule"), [
    ([("enrol", "2026-03-01")], "enrolment.already_active"),
    ([("opt_out", "2026-03-01"), ("opt_out", "2026-04-01")], "enrolment.not_active"),
    ([("opt_out", "2026-03-01"), ("enrol", "2026-02-01")], "enrolment.before_last_opt_out"),
    ([("opt_out", "2025-12-01")], "enrolment.opt_out_before_start"),
])
def test_impossible_changes_name_their_rule_and_change_nothing(
        account_store: Store, steps: list[tuple[str, str]], rule: str) -> None:
    *before, last = steps
    for action, day in before:
        (enrol if action == "enrol" else opt_out)(account_store, SELLER,
                                                  date.fromisoformat(day))
    kept = history(account_store)
    with pytest.raises(EnrolmentError) as refused:
        (enrol if last[0] == "enrol" else opt_out)(account_store, SELLER,
                                                   date.fromisoformat(last[1]))
    assert refused.value.rule == rule
    assert history(account_store) == kept


def test_an_unknown_seller_cannot_enrol(account_store: Store) -> None:
    with pytest.raises(EnrolmentError) as refused:
        enrol(account_store, "A0NOBODY", date(2026, 3, 1))
    assert refused.value.rule == "enrolment.unknown_seller"


def test_the_agent_redirects_orders_placed_after_the_opt_out(account_store: Store,
                                                             ask: Ask) -> None:
    before = order_record(purchased="2026-05-20", shipped="2026-05-21")
    after = order_record(purchased="2026-06-02", shipped="2026-06-03")
    account_store.save(orders=[before, after])
    opt_out(account_store, SELLER, date(2026, 6, 1))
    covered = ask(before, "2026-06-10")
    assert covered.outcome == "answered" and covered.redirect is None
    redirected = ask(after, "2026-06-10")
    assert (redirected.outcome, redirected.redirect) == ("redirected", "seller_messaging")
    assert [c.rule for c in redirected.citations] == ["scope.ordered_after_opt_out"]
    enrol(account_store, SELLER, date(2026, 6, 20))
    # still not covered: it was placed while the seller was out
    assert ask(after, "2026-06-21").redirect == "seller_messaging"
