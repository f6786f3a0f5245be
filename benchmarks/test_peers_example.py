"""The hand-written peers of the example grid (benchmarks/peers_example.py) against the reference
engine on awkward data: every optional field missing at random, zero resources and surfaces, dates
on month ends and leap days, several computation dates. Run:
``.venv/bin/python -m pytest -q -p no:cacheprovider benchmarks/test_peers_example.py``.
"""

from __future__ import annotations

import datetime
from dataclasses import replace

import numpy as np
import pytest

import cotation
from benchmarks import peers_example
from cotation.api import load_grid
from cotation.data.batch import Column
from cotation.data.generate import generate_applications
from cotation.grid.catalogue import Kind

EXAMPLE = peers_example.__file__.rsplit("/", 2)[0] + "/grids/exemple-metropole.yaml"
REQUIRED = {"date_depot", "nb_personnes", "nb_adultes", "date_naissance_demandeur", "ressources_mensuelles"}
REQUIRED |= {"situation_logement"}


def awkward_batch(n: int, date: datetime.date, seed: int = 3):
    """Generated applications, then: a third of each optional field's values missing, some zero
    resources, surfaces and rents, every bool field and the local field set at random, dates moved
    to month ends, the 29th of February or ``date`` itself, and at most ``date``."""
    grid = load_grid(EXAMPLE)
    rng = np.random.default_rng(seed)
    batch = generate_applications(n, seed=seed).with_catalogue(grid.catalogue)
    today = (date - datetime.date(1970, 1, 1)).days
    special = [
        (d - datetime.date(1970, 1, 1)).days
        for d in (
            datetime.date(2024, 2, 29),
            datetime.date(2025, 1, 31),
            datetime.date(2025, 2, 28),
            datetime.date(2025, 3, 31),
            datetime.date(2025, date.month if date.month != 2 else 1, 31 if date.month != 2 else 30),
            date.replace(year=date.year - 1) if (date.month, date.day) != (2, 29) else date,
            date,
        )
        if d <= date
    ]
    cols = {}
    for f in grid.catalogue:
        if f.kind is Kind.ID:
            continue
        col = batch.column(f.name)
        values = col.values.copy()
        if f.kind is Kind.BOOL:
            values = rng.random(n) < 0.3
        if f.kind is Kind.DATE:
            pick = rng.random(n) < 0.3
            values[pick] = rng.choice(special, pick.sum())
            values = np.minimum(values, today).astype(values.dtype)
        if f.name in ("ressources_mensuelles", "surface_actuelle", "loyer_actuel"):
            values[rng.random(n) < 0.1] = 0
        if f.name == "nb_refus_propositions":
            values = rng.integers(0, 4, n).astype(values.dtype)
        valid = col.valid
        if f.name not in REQUIRED and f.kind not in (Kind.SET, Kind.COMMUNES):
            valid = (np.ones(n, bool) if valid is None else valid.copy()) & (rng.random(n) > 0.33)
        cols[f.name] = Column(values, valid)
    return grid, replace(batch, columns=cols)


@pytest.mark.parametrize(
    "date",
    [
        datetime.date(2026, 1, 1),
        datetime.date(2026, 3, 31),
        datetime.date(2024, 2, 29),
        datetime.date(2025, 2, 28),
    ],
)
def test_peers_equal_the_reference(date):
    grid, batch = awkward_batch(20_000, date)
    ref = cotation.score(grid, batch, date, engine="reference", breakdown=True)
    bd = np.asarray(ref.breakdown)
    flag_ids = [p.id for p in grid.priorities]
    flags = np.asarray(ref.flag_bits)
    assert [c.id for c in grid.columns] == peers_example.COLUMNS
    peers, _con = peers_example.peers(grid.catalogue, batch, date)
    for name, (lean, full, data) in peers.items():
        for out in (lean(data), full(data)):
            get = (
                (lambda k, out=out: out.column(k).to_numpy())
                if name == "duckdb"
                else (lambda k, out=out: out[k].to_numpy())
            )
            np.testing.assert_array_equal(
                np.asarray(get("total"), np.int64), ref.total, err_msg=f"{name} total"
            )
            np.testing.assert_array_equal(np.asarray(get("tier"), np.int64), ref.tier, err_msg=f"{name} tier")
            for k, pid in enumerate(flag_ids):
                want = ((flags >> flags.dtype.type(k)) & 1).astype(bool)
                np.testing.assert_array_equal(np.asarray(get(pid), bool), want, err_msg=f"{name} {pid}")
        for j, cid in enumerate(peers_example.COLUMNS):
            got = np.asarray(get(peers_example.OUTPUT[cid]), np.int64)
            np.testing.assert_array_equal(got, bd[:, j], err_msg=f"{name} {cid}")
