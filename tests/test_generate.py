"""Tests of cotation.data.generate: determinism, validity and plausibility of synthetic applications."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from cotation.data.batch import Batch, day_number, read_applications
from cotation.data.generate import COMMUNES, generate_applications
from cotation.grid.catalogue import Field, Kind, default_catalogue

TODAY = datetime.date(2026, 1, 1)


@pytest.fixture(scope="module")
def batch() -> Batch:
    return generate_applications(20_000, seed=11, date_calcul=TODAY)


def values(batch: Batch, name: str) -> np.ndarray:
    return batch.column(name).values


def valid(batch: Batch, name: str) -> np.ndarray:
    mask = batch.column(name).valid
    return np.ones(len(batch), bool) if mask is None else mask


def code(batch: Batch, field: str, value: str) -> int:
    return batch.catalogue[field].code_of(value)


def test_deterministic_per_seed() -> None:
    a, b = generate_applications(500, seed=3), generate_applications(500, seed=3)
    assert list(a.ids) == list(b.ids)
    for name, col in a.columns.items():
        np.testing.assert_array_equal(col.values, b.column(name).values, err_msg=name)
    c = generate_applications(500, seed=4)
    assert not np.array_equal(values(a, "ressources_mensuelles"), values(c, "ressources_mensuelles"))
    assert not np.array_equal(values(a, "date_depot"), values(c, "date_depot"))


def test_shape_and_storage(batch: Batch) -> None:
    assert len(batch) == 20_000
    assert batch.ids.dtype == object and len(set(batch.ids)) == len(batch)
    assert all(isinstance(i, str) and i.startswith("031") and len(i) == 15 for i in batch.ids[:100])
    expected = [f.name for f in batch.catalogue if f.kind is not Kind.ID]
    assert list(batch.columns) == expected
    assert values(batch, "motifs").dtype == np.uint64
    assert values(batch, "situation_logement").dtype == np.int8
    assert values(batch, "communes_souhaitees").shape == (20_000, 8)


def test_passes_read_validation(batch: Batch) -> None:
    """A generated batch goes through the readers' validation unchanged."""
    back = read_applications(batch.to_arrow(), date_calcul=TODAY)
    for name, col in batch.columns.items():
        np.testing.assert_array_equal(col.values, back.column(name).values, err_msg=name)


def test_missing_values_hold_zero(batch: Batch) -> None:
    for f in batch.catalogue:
        col = batch.columns.get(f.name)
        if col is None or col.valid is None:
            continue
        fill = -1 if f.kind in (Kind.CATEGORY, Kind.COMMUNE) else 0
        assert (col.values[~col.valid] == fill).all(), f.name
        assert not col.valid.all(), f.name


def test_dates_not_after_date_calcul(batch: Batch) -> None:
    today = day_number(TODAY)
    for f in batch.catalogue:
        if f.kind is Kind.DATE:
            assert (values(batch, f.name)[valid(batch, f.name)] <= today).all(), f.name
    depot = values(batch, "date_depot")
    assert depot.min() >= today - 3653
    assert (np.mean(depot > today - 5 * 365)) > 0.5  # denser in recent years


def test_household_consistency(batch: Batch) -> None:
    size, adults = values(batch, "nb_personnes"), values(batch, "nb_adultes")
    children, under14 = values(batch, "nb_enfants"), values(batch, "nb_enfants_moins_14")
    assert size.min() == 1 and size.max() <= 7
    assert 0.30 <= np.mean(size == 1) <= 0.50
    assert set(np.unique(adults)) <= {1, 2}
    np.testing.assert_array_equal(children, size - adults)
    assert (under14 <= children).all() and (under14 >= 0).all()
    np.testing.assert_array_equal(valid(batch, "date_naissance_codemandeur"), adults == 2)
    np.testing.assert_array_equal(values(batch, "parent_isole"), (adults == 1) & (children > 0))


def test_ages(batch: Batch) -> None:
    today = day_number(TODAY)
    ages = (today - values(batch, "date_naissance_demandeur")) / 365.25
    assert ages.min() >= 18 and ages.max() <= 90.1
    assert 30 <= np.median(ages) <= 50


def test_resources(batch: Batch) -> None:
    monthly = values(batch, "ressources_mensuelles")
    assert (monthly >= 0).all()
    assert 1200 <= np.median(monthly) <= 1800
    assert 0.15 <= np.mean(monthly < 1000) <= 0.45
    assert 0.0 < np.mean(monthly == 0) < 0.1
    rfr_ok = valid(batch, "revenu_fiscal_reference") & (monthly > 0)
    ratio = values(batch, "revenu_fiscal_reference")[rfr_ok] / monthly[rfr_ok]
    assert 9 <= np.median(ratio) <= 13
    assert 0.0 < np.mean(~valid(batch, "revenu_fiscal_reference")) < 0.3


def test_housing_mix(batch: Batch) -> None:
    situation = values(batch, "situation_logement")
    share = {
        name: np.mean(situation == code(batch, "situation_logement", name))
        for name in batch.catalogue["situation_logement"].values
    }
    assert 0.25 <= share["locataire_prive"] <= 0.38
    assert 0.15 <= share["locataire_hlm"] <= 0.25
    assert 0.18 <= share["heberge_parents"] + share["heberge_tiers"] <= 0.32
    assert 0.0 < share["sans_abri"] < 0.05
    rent = valid(batch, "loyer_actuel")
    tenants = np.isin(
        situation, [code(batch, "situation_logement", s) for s in ("locataire_prive", "locataire_hlm")]
    )
    assert rent[tenants].mean() > 0.9
    hosted = np.isin(
        situation, [code(batch, "situation_logement", s) for s in ("heberge_parents", "sans_abri")]
    )
    assert not rent[hosted].any()


def test_motifs_follow_situation(batch: Batch) -> None:
    motifs, situation = values(batch, "motifs"), values(batch, "situation_logement")
    assert (motifs != 0).all()
    homeless = situation == code(batch, "situation_logement", "sans_abri")
    bit = np.uint64(1) << np.uint64(code(batch, "motifs", "sans_logement"))
    assert np.mean((motifs[homeless] & bit) != 0) > 0.8


def test_wishes(batch: Batch) -> None:
    communes = values(batch, "communes_souhaitees")
    counts = (communes >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 8
    known = {int(c) for c, _ in COMMUNES}
    assert set(np.unique(communes[communes >= 0]).tolist()) <= known
    for row in communes[:2000]:
        kept = row[row >= 0]
        assert len(set(kept.tolist())) == len(kept)
        assert (row[: len(kept)] >= 0).all()  # padding only at the end
    assert np.mean(communes[:, 0] == 31555) > 0.3
    wanted, accepted = values(batch, "typologie_souhaitee"), values(batch, "typologies_acceptees")
    assert ((accepted >> wanted.astype(np.uint64)) & np.uint64(1)).all()
    size = values(batch, "nb_personnes")
    assert np.median(wanted[size >= 5]) > np.median(wanted[size == 1])


def test_labels_and_refusals(batch: Batch) -> None:
    dalo = values(batch, "dalo")
    assert 0.01 <= dalo.mean() <= 0.06
    assert 0.02 <= values(batch, "pdalhpd").mean() <= 0.08
    np.testing.assert_array_equal(valid(batch, "date_decision_dalo"), dalo)
    depot = values(batch, "date_depot")
    assert (values(batch, "date_decision_dalo")[dalo] >= depot[dalo]).all()
    refusals = values(batch, "nb_refus_propositions")
    assert np.mean(refusals == 0) > 0.7 and refusals.max() <= 3
    np.testing.assert_array_equal(valid(batch, "date_dernier_refus"), refusals > 0)
    assert (values(batch, "date_dernier_refus")[refusals > 0] >= depot[refusals > 0]).all()


def test_work(batch: Batch) -> None:
    pro = values(batch, "situation_professionnelle")
    workers = np.isin(
        pro, [code(batch, "situation_professionnelle", s) for s in ("cdi", "cdd", "fonctionnaire")]
    )
    idle = np.isin(pro, [code(batch, "situation_professionnelle", s) for s in ("retraite", "chomage")])
    assert valid(batch, "commune_travail")[workers].mean() > 0.8
    assert not valid(batch, "commune_travail")[idle].any()
    assert not valid(batch, "temps_trajet_travail")[idle].any()
    assert (values(batch, "temps_trajet_travail") >= 0).all()


def test_local_fields_are_missing() -> None:
    extra = Field("score_local", Kind.INT, "Score local", "", local=True)
    catalogue = default_catalogue().extend((extra,))
    batch = generate_applications(100, seed=1, catalogue=catalogue)
    col = batch.column("score_local")
    assert col.valid is not None and not col.valid.any()
    assert batch.catalogue is catalogue


def test_zero_rows() -> None:
    empty = generate_applications(0)
    assert len(empty) == 0 and values(empty, "communes_souhaitees").shape == (0, 8)
    with pytest.raises(ValueError):
        generate_applications(-1)
