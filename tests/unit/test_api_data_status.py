"""The data-status lookup (services/api/data_status.py) against the rule written out: of the reviews
covering a reading's station, variable and time, the newest decides; none covering it: preliminary."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.data_status import PRELIMINARY, VERIFIED, Review, StatusLookup, segments

STATIONS = ("dalian", "yingkou")
VARIABLES = ("water_level_m", "water_temperature_degC")


def _rule(reviews: list[Review], station: str, variable: str, time_us: int) -> str:
    covering = [
        r for r in reviews
        if r.station == station and r.variable in (None, variable) and r.start_us <= time_us < r.end_us
    ]  # fmt: skip
    return max(covering, key=lambda r: r.review_id).status if covering else PRELIMINARY


reviews_strategy = st.lists(
    st.tuples(
        st.sampled_from(STATIONS),
        st.sampled_from((None, *VARIABLES)),
        st.integers(0, 60),
        st.integers(1, 30),
        st.sampled_from((VERIFIED, PRELIMINARY)),
    ),
    max_size=12,
).map(lambda raw: [Review(i, s, v, a, a + w, status) for i, (s, v, a, w, status) in enumerate(raw)])


@settings(max_examples=300, deadline=None)
@given(reviews_strategy, st.permutations(list(range(-5, 100))))
def test_each_reading_gets_the_newest_covering_review(reviews: list[Review], times: list[int]) -> None:
    lookup = StatusLookup(list(reversed(reviews)))  # the order given does not matter: ids decide
    rows = [(s, v, t) for s in STATIONS for v in VARIABLES for t in sorted(times)]
    names = lookup.names([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    assert names == [_rule(reviews, s, v, t) for s, v, t in rows]


def test_a_newer_review_takes_part_of_an_older_one_back() -> None:
    reviews = [
        Review(1, "dalian", None, 10, 40, VERIFIED),
        Review(2, "dalian", "water_level_m", 20, 25, PRELIMINARY),
    ]
    breaks, codes = segments(reviews)
    assert breaks.tolist() == [10, 20, 25, 40] and codes.tolist() == [1, 0, 1, 0]
    lookup = StatusLookup(reviews)
    times = np.array([9, 10, 19, 20, 24, 25, 39, 40])
    assert lookup.codes("dalian", "water_level_m", times).tolist() == [0, 1, 1, 0, 0, 1, 1, 0]
    assert lookup.codes("dalian", "salinity_psu", times).tolist() == [0, 1, 1, 1, 1, 1, 1, 0]
    assert lookup.codes("yingkou", "water_level_m", times).tolist() == [0] * 8
    assert StatusLookup([]).names(["dalian"], ["water_level_m"], [10]) == [PRELIMINARY]
