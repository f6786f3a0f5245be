"""Months as art. 641 of the code de procédure civile counts them, in both back ends.

The oracle is written here from the text of the law, with :mod:`datetime` and :mod:`calendar`
only: a period of n months from a ends on the day of the n-th month with the same number, or on its
last day when that day does not exist; whole months from a to b are the largest n whose end is not
after b. It is checked against the NumPy calendar (the reference evaluator), the jitted helpers (the
kernels), and whole grids scored by both engines: on every pair of month ends and 29 February of
1990-2040 a year apart or less, and on Hypothesis samples of any two dates of 1990-2040.
"""

from __future__ import annotations

import calendar
import datetime
import functools
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotation.api import parse_grid
from cotation.codegen import helpers
from cotation.data import calendar as cal
from cotation.data.batch import read_applications
from cotation.data.generate import generate_applications
from cotation.dates import day_number, from_day_number
from cotation.scoring.compiled import compile_grid
from cotation.scoring.reference import evaluate

FIRST, LAST = datetime.date(1990, 1, 1), datetime.date(2040, 12, 31)
TODAY = datetime.date(2041, 1, 1)


# -- the oracle: the law, written with datetime ------------------------------------------------
def add_months_law(d: datetime.date, n: int) -> datetime.date:
    year, month0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return datetime.date(year, month0 + 1, min(d.day, last))


def months_law(a: datetime.date, b: datetime.date) -> int:
    n = (b.year - a.year) * 12 + b.month - a.month  # a first guess, then the definition decides
    while add_months_law(a, n) > b:
        n -= 1
    while add_months_law(a, n + 1) <= b:
        n += 1
    return n


def end_of_month_law(d: datetime.date) -> datetime.date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


# -- the published cases -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("2025-01-31", "2025-02-28", 1),  # the 31st does not exist in February: its last day
        ("2024-01-31", "2024-02-28", 0),  # ... which in 2024 is the 29th
        ("2024-01-31", "2024-02-29", 1),
        ("2025-01-30", "2025-02-28", 1),
        ("2025-01-31", "2025-04-30", 3),
        ("2025-01-31", "2025-03-30", 1),  # March has a 31st
        ("2024-02-29", "2025-02-28", 12),  # 12 months from a leap day end on 28 February
        ("2024-02-29", "2025-02-27", 11),
        ("2025-02-28", "2025-03-28", 1),
        ("2025-02-28", "2025-03-27", 0),
        ("2026-01-01", "2025-07-01", -6),
        ("2026-03-15", "2026-01-20", -2),  # backwards, rounded down like //
        ("2025-03-31", "2025-02-28", -1),
    ],
)
def test_months_between_cases(a: str, b: str, want: int) -> None:
    da, db = datetime.date.fromisoformat(a), datetime.date.fromisoformat(b)
    assert months_law(da, db) == want
    assert int(cal.months_between(np.array([day_number(da)]), np.array([day_number(db)]))[0]) == want
    assert helpers._months_between(day_number(da), day_number(db)) == want


@pytest.mark.parametrize(
    ("a", "n", "want"),
    [
        ("2025-01-31", 1, "2025-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
        ("2025-03-31", -1, "2025-02-28"),
        ("2025-08-31", 1, "2025-09-30"),
        ("2025-12-15", 1, "2026-01-15"),
        ("2026-01-15", -13, "2024-12-15"),
    ],
)
def test_add_months_cases(a: str, n: int, want: str) -> None:
    d = datetime.date.fromisoformat(a)
    assert add_months_law(d, n).isoformat() == want
    got = cal.add_months(np.array([day_number(d)]), np.array([n]))[0]
    assert from_day_number(int(got)).isoformat() == want
    assert from_day_number(helpers._add_months(day_number(d), n)).isoformat() == want


# -- every helper, vectorised, against the oracle -------------------------------------------------
@numba.njit(cache=False)
def _kernel_helpers(a: Any, b: Any, n: Any, table: Any, lo: Any) -> Any:
    out = np.empty((5, a.shape[0]), dtype=np.int64)
    for i in range(a.shape[0]):
        out[0, i] = helpers._months_between(a[i], b[i])
        y, m, d = helpers._civil(b[i])
        out[1, i] = helpers._months_to(a[i], y, m, d)
        out[2, i] = helpers._cal_months(np.int64(table[a[i] - lo]), np.int64(table[b[i] - lo]))
        out[3, i] = helpers._add_months(a[i], n[i])
        out[4, i] = helpers._end_of_month(a[i])
    return out


def _check_pairs(a: np.ndarray, b: np.ndarray) -> None:
    da = [from_day_number(int(x)) for x in a]
    db = [from_day_number(int(x)) for x in b]
    months = np.array([months_law(x, y) for x, y in zip(da, db, strict=True)], dtype=np.int64)
    n = months  # add_months over the same counts: lands on or before b, and one more passes it
    ends = np.array([day_number(add_months_law(x, int(k))) for x, k in zip(da, n, strict=True)])
    eom = np.array([day_number(end_of_month_law(x)) for x in da])
    assert (cal.months_between(a, b) == months).all()
    assert (cal.add_months(a, n) == ends).all()
    assert (cal.end_of_month(a) == eom).all()
    lo = int(min(a.min(), b.min()))
    table = cal.calendar_table(lo, int(max(a.max(), b.max())))
    k = _kernel_helpers(a, b, n, table, np.int64(lo))
    for row in range(3):
        assert (k[row] == months).all(), row
    assert (k[3] == ends).all()
    assert (k[4] == eom).all()
    year, month, day = cal.civil(a)
    assert (year == [x.year for x in da]).all() and (month == [x.month for x in da]).all()
    assert (day == [x.day for x in da]).all()


def _special_days() -> np.ndarray:
    """The last four days and the first of every month of 1990-2040 (every month end, every 29
    February, and the days just around them)."""
    days = np.arange(day_number(FIRST), day_number(LAST) + 1, dtype=np.int64)
    _, _, day = cal.civil(days)
    end = cal.end_of_month(days)
    return days[(end - days < 4) | (day == 1)]


def test_every_month_end_pair_within_a_year() -> None:
    days = _special_days()
    i, j = np.nonzero(np.abs(days[:, None] - days[None, :]) <= 400)
    _check_pairs(days[i], days[j])


DAYS = st.integers(day_number(FIRST), day_number(LAST))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(DAYS, DAYS), min_size=1, max_size=50))
def test_any_pair_of_1990_2040(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    _check_pairs(a, b)


# -- whole grids, both engines -------------------------------------------------------------------
GRID = """
id: mois
title: Mois comptés selon l'article 641 du code de procédure civile
version: "1"
criteria:
  - {id: table, label: T, value: 'months_between(date_depot, date_renouvellement)', per_unit: 1}
  - {id: arriere, label: A, value: 'months_between(date_renouvellement, date_depot)', per_unit: 1}
  - {id: calcul, label: C, value: 'months_between(date_depot, date_calcul)', per_unit: 1}
  - {id: fin, label: F, value: 'months_between(end_of_month(date_depot), date_calcul)', per_unit: 1}
  - {id: civil, label: V, per_unit: 1,
     value: 'months_between(add_months(date_depot, 0), add_months(date_renouvellement, 0))'}
  - {id: jour, label: J, per_unit: 1,
     value: 'day(date_depot) + 100 * month(date_depot) + 10000 * year(date_depot)'}
  - {id: ajout, label: P, per_unit: 1,
     value: 'days_between(date_depot, add_months(date_renouvellement, 13 - month(date_depot)))'}
  - {id: age, label: G, value: 'age(date_renouvellement)', per_unit: 1}
  - {id: annees, label: Y, value: 'years_between(date_depot, date_renouvellement)', per_unit: 1}
  - {id: refus, label: R, when: nb_refus_propositions >= 0, points: 1,
     valid_for: {since: date_renouvellement, months: 12}}
"""


@functools.cache
def _both() -> Any:
    grid = parse_grid(GRID)
    frame = generate_applications(64, seed=3).to_pandas()
    return grid, compile_grid(grid), frame


def _score_pairs(a: np.ndarray, b: np.ndarray, today: datetime.date) -> np.ndarray:
    grid, compiled, frame = _both()
    rows = frame.sample(len(a), replace=True, random_state=1).reset_index(drop=True)
    rows["numero_unique"] = [f"M{i:06d}" for i in range(len(a))]
    rows["date_depot"] = [from_day_number(int(x)) for x in a]
    rows["date_renouvellement"] = [from_day_number(int(x)) for x in b]
    for name in rows.columns:  # the other dates may be after a computation date of the past
        if name.startswith("date_") and name not in ("date_depot", "date_renouvellement"):
            rows[name] = None if name != "date_naissance_demandeur" else datetime.date(1960, 1, 1)
    batch = read_applications(rows, date_calcul=today)
    got, want = compiled.score(batch, today), evaluate(grid, batch, today)
    assert np.array_equal(got.breakdown, want.breakdown)
    assert np.array_equal(got.met, want.met)
    return np.asarray(want.breakdown)


def _expected(a: np.ndarray, b: np.ndarray, today: datetime.date) -> np.ndarray:
    t = today
    out = []
    for x, y in zip(a, b, strict=True):
        da, db = from_day_number(int(x)), from_day_number(int(y))
        out.append(
            [
                months_law(da, db),
                months_law(db, da),
                months_law(da, t),
                months_law(end_of_month_law(da), t),
                months_law(da, db),
                da.day + 100 * da.month + 10000 * da.year,
                (add_months_law(db, 13 - da.month) - da).days,
                months_law(db, t) // 12,
                months_law(da, db) // 12,
                int(db <= t and months_law(db, t) < 12),
            ]
        )
    return np.array(out, dtype=np.int64)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(DAYS, DAYS), min_size=1, max_size=40))
def test_grids_score_like_the_law(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    assert (_score_pairs(a, b, TODAY) == _expected(a, b, TODAY)).all()


@pytest.mark.parametrize("today", ["2025-02-28", "2024-02-29", "2025-04-30", "2026-01-31"])
def test_grids_at_month_ends(today: str) -> None:
    """Computation dates at month ends, applications filed on month ends and leap days, refused
    on every day of the 13 months before: "1 point par mois complet", "refus de moins de 12 mois"."""
    t = datetime.date.fromisoformat(today)
    days = _special_days()
    a = days[(days <= day_number(t)) & (days > day_number(t) - 800)]
    b = np.arange(day_number(t) - 400, day_number(t) + 1, dtype=np.int64)
    a = np.resize(a, len(b))
    assert (_score_pairs(a, b, t) == _expected(a, b, t)).all()
