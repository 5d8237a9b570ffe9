"""Billing periods: counted from the anchor, so month ends do not drift."""

from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from app.billing.models import Interval
from app.billing.periods import calendar_days, next_period, period_end

ANCHORS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC))


@given(anchor=ANCHORS, periods=st.integers(0, 120), interval=st.sampled_from(list(Interval)))
def test_period_end_is_the_anchor_plus_whole_months_clipped_to_the_month_end(anchor, periods, interval):
    months = periods * (12 if interval == Interval.YEAR else 1)
    assert period_end(anchor, interval, periods) == anchor + relativedelta(months=months)


@given(anchor=ANCHORS, periods=st.integers(1, 60))
def test_the_next_period_starts_where_the_current_one_ends(anchor, periods):
    end = period_end(anchor, Interval.MONTH, periods)
    assert next_period(anchor, Interval.MONTH, end) == (end, period_end(anchor, Interval.MONTH, periods + 1))


def test_month_ends_do_not_drift():
    anchor = datetime(2027, 1, 31, 12, tzinfo=UTC)
    ends = [period_end(anchor, Interval.MONTH, n).date().isoformat() for n in range(1, 4)]
    assert ends == ["2027-02-28", "2027-03-31", "2027-04-30"]
    assert period_end(datetime(2028, 2, 29, tzinfo=UTC), Interval.YEAR, 1) == datetime(2029, 2, 28, tzinfo=UTC)


def test_calendar_days_count_utc_dates_not_hours():
    assert calendar_days(datetime(2027, 3, 1, 23, tzinfo=UTC), datetime(2027, 3, 2, 1, tzinfo=UTC)) == 1
    assert calendar_days(datetime(2027, 3, 1, 1, tzinfo=UTC), datetime(2027, 3, 1, 23, tzinfo=UTC)) == 0
