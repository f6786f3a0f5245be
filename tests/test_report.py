"""The grid authors' report: per criterion, who meets it, what it weighs, how much it moves the ranking."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import cotation
from cotation.api import parse_grid, score
from cotation.data.batch import Batch
from cotation.explain.report import GridReport, _Model, grid_report, spearman_of_ranks, top_size

DAY = datetime.date(2026, 1, 1)
N = 2000


@pytest.fixture(scope="module")
def example():
    grid = cotation.load_grid("grids/exemple-metropole.yaml")
    batch = cotation.generate_applications(N, seed=7)
    scores = score(grid, batch, DAY, engine="reference")
    return grid, scores, batch, grid_report(grid, scores, batch)


def _impact(report: GridReport, criterion_id: str):
    return next(c for c in report.criteria if c.id == criterion_id)


# -- the example grid over 2 000 applications -------------------------------------------------------
def test_one_row_per_criterion_with_the_grid_stamp(example):
    grid, _, _, report = example
    assert [c.id for c in report.criteria] == [c.id for c in grid.criteria]
    stamp = (report.grid_id, report.grid_version, report.grid_hash)
    assert stamp == (grid.meta.id, grid.meta.version, grid.content_hash)
    assert report.date_calcul == DAY and report.n == N and report.top_size == 100
    assert _impact(report, "sans_abri").rubric == "logement"
    assert _impact(report, "violences").group == "urgence"


def test_met_count_is_the_met_column_sum(example):
    _, scores, _, report = example
    counts = scores.met.sum(axis=0)
    assert [c.met_count for c in report.criteria] == counts.tolist()
    assert [c.met_share for c in report.criteria] == (counts / N).tolist()


def test_mean_points_is_the_breakdown_column_mean(example):
    _, scores, _, report = example
    for j, c in enumerate(report.criteria):
        assert scores.columns[j].id == c.id
        assert c.mean_points == pytest.approx(scores.breakdown[:, j].mean(), rel=1e-12)


def test_share_of_points_over_all_positive_points(example):
    _, scores, _, report = example
    positive = np.clip(scores.breakdown, 0, None).sum()
    for j, c in enumerate(report.criteria):
        assert c.share_of_points == pytest.approx(scores.breakdown[:, j].sum() / positive, rel=1e-12)
    assert _impact(report, "refus_proposition").share_of_points < 0  # a penalty


def test_a_criterion_nobody_meets_changes_nothing(example):
    _, _, _, report = example
    never = _impact(report, "accompagnement_social")  # a local field absent from generated data
    assert never.met_count == 0 and never.mean_points == 0.0
    assert never.rank_correlation_without == 1.0  # exactly
    assert never.moved_top == 0


def test_correlations_are_in_range_and_seniority_moves_the_most(example):
    _, _, _, report = example
    rhos = {c.id: c.rank_correlation_without for c in report.criteria}
    assert all(-1.0 <= r <= 1.0 for r in rhos.values())
    assert min(rhos, key=rhos.get) == "anciennete"
    assert all(0 <= c.moved_top <= report.top_size for c in report.criteria)


def test_compiled_scores_give_the_same_report(example):
    grid, _, batch, report = example
    assert grid_report(grid, score(grid, batch, DAY, engine="compiled"), batch) == report


def test_the_batch_may_be_a_file(example, tmp_path):
    grid, scores, batch, report = example
    path = tmp_path / "demandes.parquet"
    cotation.write_applications(batch, path)
    assert grid_report(grid, scores, path) == report


def test_scores_of_another_batch_are_refused(example):
    grid, scores, _, _ = example
    with pytest.raises(ValueError, match="batch"):
        grid_report(grid, scores, cotation.generate_applications(N, seed=8))
    other = parse_grid("id: autre\ntitle: Autre\ncriteria:\n  - {id: x, label: X, when: dalo, points: 5}")
    with pytest.raises(ValueError, match="another grid"):
        grid_report(other, scores, cotation.generate_applications(N, seed=7))


# -- a dominant criterion against a one-point criterion ---------------------------------------------
DOMINANT = """
id: dominante
title: Un critère dominant
criteria:
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1}
  - {id: menage, label: Ménage de deux personnes ou plus, when: nb_personnes >= 2, points: 1000}
  - {id: isole, label: Parent isolé, when: parent_isole, points: 1}
tie_break: [numero_unique asc]
"""


def test_a_dominant_criterion_moves_the_ranking_much_more():
    grid = parse_grid(DOMINANT, "dominante.yaml")
    batch = cotation.generate_applications(N, seed=3)
    report = grid_report(grid, score(grid, batch, DAY, engine="reference"), batch)
    big, small = _impact(report, "menage"), _impact(report, "isole")
    assert 0.3 < big.met_share < 0.7
    assert big.rank_correlation_without < 0.7 < 0.99 < small.rank_correlation_without < 1.0
    assert big.moved_top > 10 * max(small.moved_top, 1)
    assert big.share_of_points > 0.9


# -- a rubric: removing its best member lets the next one count -------------------------------------
RUBRIC = """
id: rubrique
title: Une rubrique
criteria:
  - {id: a, label: A, when: dalo, points: 10, rubric: r}
  - {id: b, label: B, when: handicap_menage, points: 6, rubric: r}
  - {id: c, label: C, when: parent_isole, points: 3, rubric: r}
  - {id: d, label: D, when: violences_couple, points: 1}
rubrics: [{id: r, label: R}]
tie_break: [date_depot asc, numero_unique asc]
"""
BASE = {
    "nb_personnes": 2,
    "nb_adultes": 1,
    "date_naissance_demandeur": "1990-05-01",
    "ressources_mensuelles": 1200,
    "situation_logement": "locataire_prive",
}
ROWS = [  # X meets a, b, c and d; Y (filed first) b and c; Z c only
    {
        **BASE,
        "numero_unique": "X",
        "date_depot": "2024-01-01",
        "dalo": True,
        "handicap_menage": True,
        "parent_isole": True,
        "violences_couple": True,
    },
    {**BASE, "numero_unique": "Y", "date_depot": "2023-01-01", "handicap_menage": True, "parent_isole": True},
    {**BASE, "numero_unique": "Z", "date_depot": "2022-01-01", "parent_isole": True},
]


@pytest.fixture(scope="module")
def rubric():
    grid = parse_grid(RUBRIC, "rubrique.yaml")
    batch = Batch.from_rows(ROWS, grid.catalogue, date_calcul=DAY)
    return grid, batch, score(grid, batch, DAY, engine="reference")


def test_rubric_totals_by_hand(rubric):
    grid, batch, scores = rubric
    assert scores.total.tolist() == [11, 6, 3]
    model = _Model.build(grid, batch.with_catalogue(grid.catalogue), DAY)
    without = {c.id: model.total_without(j).tolist() for j, c in enumerate(grid.criteria)}
    assert without == {
        "a": [7, 6, 3],  # X: b (6) now counts, + d
        "b": [11, 3, 3],  # Y: c (3) now counts
        "c": [11, 6, 0],  # Z: nothing left
        "d": [10, 6, 3],
    }


def test_rubric_rank_correlations_by_hand(rubric):
    grid, batch, scores = rubric
    report = grid_report(grid, scores, batch)
    rho = {c.id: c.rank_correlation_without for c in report.criteria}
    # ranks X, Y, Z = 1, 2, 3. Without a: X 7 > Y 6: unchanged. Without b: Y 3 = Z 3, Z filed first:
    # 1, 3, 2 (sum d^2 = 2, rho = 1 - 6 * 2 / (3 * 8) = 0.5). Without c: 1, 2, 3. Without d: X 10 > 6.
    assert rho == {"a": 1.0, "b": 0.5, "c": 1.0, "d": 1.0}
    assert report.top_size == 1 and [c.moved_top for c in report.criteria] == [0, 0, 0, 0]
    assert [c.met_count for c in report.criteria] == [1, 2, 3, 1]
    assert [c.mean_points for c in report.criteria] == [10 / 3, 6 / 3, 3 / 3, 1 / 3]


# -- small populations and definitions ---------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1])
def test_tiny_populations(n):
    grid = cotation.load_grid("grids/exemple-metropole.yaml")
    batch = cotation.generate_applications(n, seed=1)
    report = grid_report(grid, score(grid, batch, DAY, engine="reference"), batch)
    assert report.n == n and len(report.criteria) == len(grid.criteria)
    assert all(c.rank_correlation_without == 1.0 and c.moved_top == 0 for c in report.criteria)
    if n == 0:
        assert all(c.met_share == c.mean_points == c.share_of_points == 0.0 for c in report.criteria)
    assert "<svg" in report.to_html()
    ET.fromstring(report.svg())


def test_spearman_and_top_size():
    assert spearman_of_ranks(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == -1.0
    a, b = np.array([3, 1, 4, 2, 5]), np.array([2, 1, 5, 3, 4])
    assert spearman_of_ranks(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert [top_size(n) for n in (0, 1, 9, 10, 11, 999, 1000, 100_000)] == [0, 1, 1, 1, 2, 100, 100, 100]


# -- outputs -------------------------------------------------------------------------------------------
def test_table_and_pandas(example):
    _, _, _, report = example
    table = report.table()
    assert list(table) == [f.name for f in dataclasses.fields(report.criteria[0])]
    assert all(len(v) == len(report.criteria) for v in table.values())
    frame = report.to_pandas()
    assert frame.shape == (len(report.criteria), len(table)) and frame.attrs["grid_hash"] == report.grid_hash


def test_svg_parses_and_names_every_criterion(example):
    grid, _, _, report = example
    root = ET.fromstring(report.svg())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    for c in grid.criteria:
        assert c.label in texts and c.id in titles
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 2 * len(grid.criteria)


def test_html_table_and_page(example):
    grid, _, _, report = example
    table = report._repr_html_()
    for header in (
        "Critère",
        "Demandes concernées",
        "Points moyens",
        "Part des points",
        "Corrélation des rangs sans le critère",
        "Sorties du top 100",
    ):
        assert f"<th>{header}</th>" in table
    assert table.count("<tr>") == len(grid.criteria) + 1
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and table in page and "<svg" in page
    assert grid.content_hash in page and "2026-01-01" in page and "2\u202f000" in page


def test_html_escapes_labels():
    grid = parse_grid('id: g\ntitle: G\ncriteria:\n  - {id: x, label: "<b>A & B</b>", when: dalo, points: 1}')
    batch = cotation.generate_applications(50, seed=1)
    report = grid_report(grid, score(grid, batch, DAY, engine="reference"), batch)
    assert "<b>A" not in report.to_html() and "&lt;b&gt;A &amp; B" in report.to_html()
    ET.fromstring(report.svg())


@pytest.mark.parametrize("suffix", [".html", ".svg", ".csv", ".json"])
def test_write_by_suffix(example, tmp_path, suffix):
    grid, _, _, report = example
    path = report.write(tmp_path / f"rapport{suffix}")
    text = path.read_text(encoding="utf-8")
    if suffix == ".html":
        assert text == report.to_html()
    elif suffix == ".svg":
        ET.parse(path)
    elif suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [r["id"] for r in rows] == [c.id for c in grid.criteria]
        assert float(rows[0]["rank_correlation_without"]) == report.criteria[0].rank_correlation_without
    else:
        data = json.loads(text)
        assert data["n"] == N and data["grid_hash"] == report.grid_hash
        assert data["criteria"][0] == dataclasses.asdict(report.criteria[0])


def test_write_rejects_an_unknown_suffix(example, tmp_path):
    with pytest.raises(ValueError, match="unknown report format"):
        example[3].write(tmp_path / "rapport.pdf")
