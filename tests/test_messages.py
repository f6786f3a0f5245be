"""Error messages that a new user met and found wanting (issue 17, point 7)."""

from __future__ import annotations

import pytest

from cotation.api import parse_grid
from cotation.errors import GridError

HEAD = "id: essai\ntitle: Essai\n"


def errors(body: str) -> list[str]:
    with pytest.raises(GridError) as info:
        parse_grid(HEAD + body, "essai.yaml")
    return [d.render().splitlines()[0] for d in info.value.diagnostics]


def test_a_comma_in_a_one_line_expression_says_to_quote_it() -> None:
    body = (
        "criteria:\n"
        "  - {id: e, label: E, value: coalesce(loyer_actuel, 0) / ressources_mensuelles, per_unit: 1}\n"
    )
    (first,) = errors(body)
    assert "error[E112]" in first and "unknown key '0) / ressources_mensuelles'" in first
    assert "cut at a comma" in first and "quote the expression" in first


def test_an_unknown_key_that_is_no_expression_gets_no_comma_hint() -> None:
    (first,) = errors("criteria:\n  - {id: e, label: E, when: dalo, point: 1}\n")
    assert "comma" not in first and "did you mean 'points'?" in first


def test_a_tie_break_on_an_unknown_field_suggests_the_field() -> None:
    body = "criteria:\n  - {id: d, label: D, when: dalo, points: 1}\ntie_break: [date_depo asc]\n"
    (first,) = errors(body)
    assert "error[E306]" in first and "(did you mean 'date_depot'?)" in first


def test_a_date_written_as_text_suggests_date() -> None:
    (first,) = errors("criteria:\n  - {id: a, label: A, when: 'date_depot > \"2020-01-01\"', points: 1}\n")
    assert "error[E204]" in first and 'a date is written date("YYYY-MM-DD")' in first
    assert "(did you mean 'date(\"2020-01-01\")'?)" in first


def test_errors_on_variables_say_variable() -> None:
    body = "variables:\n  x: nb_enfnts + 1\ncriteria:\n  - {id: d, label: D, when: dalo, points: 1}\n"
    (first,) = errors(body)
    assert "error[E202] variable 'x':" in first
    shape = errors(
        "variables:\n  x: {expr: dalo, lable: X}\ncriteria:\n  - {id: d, label: D, when: dalo, points: 1}\n"
    )
    assert any("error[E112] variable 'x': unknown key 'lable'" in x for x in shape)
    (prio,) = errors(
        "criteria:\n  - {id: d, label: D, when: dalo, points: 1}\n"
        "priorities:\n  - {id: p, label: P, legal_basis: L441-1, when: dalo_x}\n"
    )
    assert "error[E202] priority 'p':" in prio


def test_a_missing_label_does_not_hide_the_other_errors() -> None:
    body = (
        "criteria:\n  - {id: d, when: dalo, points: 1}\n"
        "  - {id: e, label: E, when: nb_enfnts > 2, points: 1}\n"
    )
    found = errors(body)
    assert len(found) == 2
    assert "error[E111] criterion 'd': missing required key 'label'" in found[0]
    assert "error[E202] criterion 'e'" in found[1]
