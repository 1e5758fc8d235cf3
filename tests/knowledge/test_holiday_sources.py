"""Every holiday extension of the returns policy names its source, or says that its dates are
our decision where no source gives them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from base.money import MARKETPLACES
from knowledge.policy import HolidayExtension, load_policy


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_every_holiday_extension_is_sourced_or_marked_as_decided(marketplace: str) -> None:
    for extension in load_policy(marketplace).holiday_extensions:
        assert extension.source or extension.decided_where_silent, extension.id
        assert extension.source is None or extension.source.startswith("https://")


def test_the_us_holiday_extension_cites_the_holiday_returns_policy() -> None:
    for extension in load_policy("US").holiday_extensions:
        assert extension.source == "https://sellercentral.amazon.com/gp/help/201725760"
        says = (extension.model_extra or {}).get("source_says", "")
        assert "1 November and 31 December" in says and "31 January" in says
        # The page counts from the ship date and gives no year's dates: both said as ours.
        assert extension.decided_where_silent
        assert "ship date" in extension.decided_where_silent


def _extension(**change: Any) -> dict[str, Any]:
    return {"id": "2027", "purchased_from": "2027-11-01", "purchased_to": "2027-12-31",
            "return_until": "2028-01-31", "source": None, **change}


def test_an_extension_without_source_or_decision_is_refused() -> None:
    with pytest.raises(ValidationError, match="decided_where_silent"):
        HolidayExtension.model_validate(_extension())
    with pytest.raises(ValidationError, match="decided_where_silent"):
        HolidayExtension.model_validate(_extension(decided_where_silent="  "))
    assert HolidayExtension.model_validate(_extension(decided_where_silent="ours")).id == "2027"
    assert HolidayExtension.model_validate(_extension(source="https://example.test/h")).source
