"""Workload (b) of perf-notes §4: M dwellings x N applications, the top k candidates per dwelling.

Run ``python -m benchmarks.pairs [--quick] [--repeats 7]``: one JSON object (also the ``pairs`` key
of ``python -m benchmarks.summary``; keys in benchmarks/README.md). ``cotation.rank`` (compiled
engine) and its pair kernel are timed against three analyst-style peers (numpy, polars, DuckDB) on
the same data, round-robin, median of ``repeats`` runs after a warm-up. Every peer's (M, k) lists of
ids and pair totals are checked equal to cotation's Ranking before anything is timed.

Given to the peers precomputed, outside the timed region (the same for all of them, and not timed
for cotation either when only the pair kernel is timed): each application's own total and tier
(cotation's scoring), its tie-break rank (date_depot, numero_unique), the flag age >= 70, the room
bounds of its household size (the typology table), and each dwelling's income ceilings by category
(the ceiling table of its financing and zone). The full ``rank_call`` does all of that itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import cotation
from cotation.api import parse_grid
from cotation.ceilings import ceiling_table
from cotation.data import Column
from cotation.functions import FINANCINGS, ZONES
from cotation.pairs import compile_pairs
from cotation.ranking import prepare

DATE = datetime.date(2026, 1, 1)
K = 10
REPEATS = 7
SIZES = [(500, 50_000), (2_000, 100_000)]  # (M dwellings, N applications)
QUICK_SIZES = [(500, 50_000)]
CROSS_MAX_PAIRS = 25_000_000  # the cross-join peers only up to 500 x 50 000
COMMUNES = np.arange(31001, 31301, dtype=np.int32)  # 300 synthetic commune codes
TARGETS = {"best_peer_over_rank_call_min": 15.0, "rank_call_2000x100000_s_max": 0.3}

# The default typology table of the grid (persons 1..7+ -> min, max rooms), as the peers know it.
TYPO_LO = np.array([1, 1, 2, 3, 3, 4, 4], np.int64)
TYPO_HI = np.array([2, 3, 4, 5, 6, 7, 8], np.int64)

GRID_TEXT = """\
id: bench-pairs
title: Grille de benchmark du rapprochement offre-demande
version: "1"
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1, max: 60}
  - {id: parent_isole, label: Parent isolé, when: parent_isole, points: 5}
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 1}
tie_break: [date_depot asc, numero_unique asc]
match:
  filters:
    - id: commune
      label: Commune souhaitée
      when: logement.commune in communes_souhaitees
    - id: plafond
      label: Sous le plafond de ressources
      when: "coalesce(revenu_fiscal_reference, 0) <= plafond_ressources(logement.financement, logement.zone,
        min(nb_personnes, 6), max(nb_personnes - 6, 0))"
    - id: taille
      label: Pas trop petit
      when: adequation_typologie(nb_personnes, logement.pieces) >= 0
    - id: accessibilite
      label: Accessible si besoin
      when: not coalesce(besoin_logement_adapte, false) or coalesce(logement.accessible, false)
  criteria:
    - {id: premier_souhait, label: Premier souhait, when: "rang_souhait(logement.commune, communes_souhaitees) == 1",
       points: 60}
    - {id: autre_souhait, label: Autre souhait, when: "rang_souhait(logement.commune, communes_souhaitees) >= 2",
       points: 30}
    - {id: typologie, label: Typologie adaptée, when: "adequation_typologie(nb_personnes, logement.pieces) == 0",
       points: 40}
    - {id: trop_grand, label: Trop grand, when: "adequation_typologie(nb_personnes, logement.pieces) == 1",
       points: -50}
    - id: effort
      label: Taux d'effort
      value: "(logement.loyer + coalesce(logement.charges, 0)) / ressources_mensuelles"
      bands:
        - {to: 0.25, points: 40}
        - {from: 0.25, to: 0.33, points: 20}
        - {from: 0.40, points: -80}
    - {id: accessible, label: Accessible, when: "coalesce(besoin_logement_adapte, false) and
        coalesce(logement.accessible, false)", points: 80}
    - {id: travail, label: Commune de travail, when: "commune_travail == logement.commune", points: 30}
    - {id: etage, label: Étage sans ascenseur, when: "age(date_naissance_demandeur) >= 70 and
        coalesce(logement.etage, 0) >= 3 and not coalesce(logement.ascenseur, false)", points: -50}
    - {id: surface, label: Surface, when: "logement.surface >= 14 * nb_personnes", points: 20}
"""


def bench_grid():
    return parse_grid(GRID_TEXT, "bench-pairs.yaml")


# --------------------------------------------------------------------------------------------------
# Data: 300 communes, 1-8 distinct wishes per application (4.5 on average), dwellings uniform
# --------------------------------------------------------------------------------------------------

def distinct_wishes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 8) int32 commune codes, 1-8 distinct per row (uniform count), padded with -1."""
    idx = rng.integers(0, len(COMMUNES), (n, 8))
    while True:
        s = np.sort(idx, axis=1)
        dup = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
        if not dup.size:
            break
        idx[dup] = rng.integers(0, len(COMMUNES), (dup.size, 8))
    wishes = COMMUNES[idx]
    count = rng.integers(1, 9, n)
    wishes[np.arange(8)[None, :] >= count[:, None]] = -1
    return wishes.astype(np.int32)


def make_data(m: int, n: int, seed: int = 7) -> tuple[Any, Any]:
    """(applications, dwellings) Batches from the generators, communes replaced by the 300 codes."""
    rng = np.random.default_rng(seed)
    apps = cotation.generate_applications(n, seed=seed)
    dws = cotation.generate_dwellings(m, seed=seed + 1)
    wishes = distinct_wishes(rng, n)
    apps.columns["communes_souhaitees"] = Column(wishes, None)
    work = apps.column("commune_travail")
    # half of the working applicants work in their first wished commune, the others anywhere
    values = np.where(rng.random(n) < 0.5, wishes[:, 0], rng.choice(COMMUNES, n)).astype(np.int32)
    apps.columns["commune_travail"] = Column(values, work.valid)
    dws.columns["commune"] = Column(rng.choice(COMMUNES, m).astype(np.int32), None)
    return apps, dws


def _filled(batch: Any, name: str, default: Any) -> np.ndarray:
    col = batch.column(name)
    return col.values if col.valid is None else np.where(col.valid, col.values, default)


def _mask(batch: Any, name: str) -> np.ndarray:
    col = batch.column(name)
    return np.ones(len(batch), np.bool_) if col.valid is None else np.asarray(col.valid, np.bool_)


def civil_age(birth: np.ndarray, day: datetime.date) -> np.ndarray:
    """Whole years from birth (days since 1970) to day, as months_between(...) // 12."""
    d = np.asarray(birth, "datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    months = (day.year - y) * 12 + (day.month - mo) - (day.day < dd)
    return months // 12


@dataclass
class PeerData:
    """The same data as plain arrays for the peers (application rows in the order given)."""

    app: dict[str, np.ndarray]  # wishes (N,8), nwish, rfr (+ rfr_ok), persons, res, need, work (+ work_ok),
    #                             senior, lo, hi, base, tier, rank, date_depot, numero_unique
    dw: dict[str, np.ndarray]  # commune, pieces, surface (+ surface_ok), rent, ceil (M,6), extra, acc, etage, lift


def peer_data(grid: Any, apps: Any, dws: Any, prep: Any) -> PeerData:
    """Application and dwelling columns (the precomputed parts: see the module docstring)."""
    n = len(apps)
    persons = apps.column("nb_personnes").values.astype(np.int64)
    rank = np.empty(n, np.int64)
    rank[prep.perm] = np.arange(n)
    base = np.empty(n, np.int64)
    base[prep.perm] = prep.scores.total
    tier = np.empty(n, np.int64)
    tier[prep.perm] = prep.scores.tier
    wishes = apps.column("communes_souhaitees").values
    h = np.clip(persons, 1, 7) - 1
    app = {
        "wishes": wishes, "nwish": (wishes >= 0).sum(axis=1),
        "rfr": _filled(apps, "revenu_fiscal_reference", 0.0), "rfr_ok": _mask(apps, "revenu_fiscal_reference"),
        "persons": persons, "res": apps.column("ressources_mensuelles").values.astype(np.float64),
        "need": _filled(apps, "besoin_logement_adapte", False).astype(np.bool_),
        "need_ok": _mask(apps, "besoin_logement_adapte"),
        "work": _filled(apps, "commune_travail", -1).astype(np.int64), "work_ok": _mask(apps, "commune_travail"),
        "senior": civil_age(apps.column("date_naissance_demandeur").values, DATE) >= 70,
        "lo": TYPO_LO[h], "hi": TYPO_HI[h], "base": base, "tier": tier, "rank": rank,
        "date_depot": apps.column("date_depot").values.astype(np.int64), "numero_unique": apps.ids.astype(str),
    }
    table = ceiling_table(DATE.year, FINANCINGS, ZONES)
    fin_names = grid.match.catalogue["financement"].values
    zone_names = grid.match.catalogue["zone"].values
    fin = np.array([FINANCINGS.index(v) for v in fin_names])[dws.column("financement").values]
    zone = np.array([ZONES.index(v) for v in zone_names])[dws.column("zone").values]
    cells = table[fin, zone]
    assert (cells >= 0).all(), "a dwelling without an income ceiling"
    dw = {
        "commune": dws.column("commune").values.astype(np.int64),
        "pieces": dws.column("pieces").values.astype(np.int64),
        "surface": _filled(dws, "surface", np.nan).astype(np.float64),
        "rent": dws.column("loyer").values + _filled(dws, "charges", 0.0),
        "ceil": np.ascontiguousarray(cells[:, :6]), "extra": cells[:, 6].copy(),
        "acc": _filled(dws, "accessible", False).astype(np.bool_),
        "etage": _filled(dws, "etage", 0).astype(np.int64),
        "lift": _filled(dws, "ascenseur", False).astype(np.bool_),
    }
    for name in ("commune", "pieces", "loyer", "financement", "zone"):
        assert dws.column(name).valid is None or dws.column(name).valid.all(), name
    return PeerData(app, dw)


# --------------------------------------------------------------------------------------------------
# Peers. Each returns (rows (M, k) int64 into the applications as given, -1 padded; pair totals)
# or a frame that `to_lists` turns into those.
# --------------------------------------------------------------------------------------------------

TOTAL_OFFSET = 1 << 20  # pair totals fit in +-2**20; the int64 key is tier | total | tie-break rank


def numpy_peer(a: dict[str, np.ndarray], d: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """A Python loop over dwellings, vectorised over the applications; argpartition on an int64 key."""
    m_count = len(d["commune"])
    rows = np.full((m_count, k), -1, np.int64)
    totals = np.zeros((m_count, k), np.int64)
    app_key = (a["tier"] << 53) + ((a["base"] + TOTAL_OFFSET) << 32) + (0xFFFFFFFF - a["rank"])
    cat = np.minimum(a["persons"], 6) - 1
    extra_persons = np.maximum(a["persons"] - 6, 0)
    wishes = a["wishes"]
    for m in range(m_count):
        c = d["commune"][m]
        hit = wishes == c
        idx = np.flatnonzero(hit.any(axis=1))
        ceiling = d["ceil"][m][cat[idx]] + extra_persons[idx] * d["extra"][m]
        ok = ((a["rfr"][idx] <= ceiling) & (d["pieces"][m] >= a["lo"][idx])
              & (~a["need"][idx] | d["acc"][m]))
        idx = idx[ok]
        if not idx.size:
            continue
        pts = np.where(hit[idx].argmax(axis=1) == 0, 60, 30)
        pts += np.where(d["pieces"][m] <= a["hi"][idx], 40, -50)
        res = a["res"][idx]
        effort = d["rent"][m] / np.where(res > 0, res, 1.0)
        pts += np.where(res > 0, np.select([effort < 0.25, effort < 0.33, effort >= 0.40], [40, 20, -80], 0), 0)
        if d["acc"][m]:
            pts += np.where(a["need"][idx], 80, 0)
        pts += np.where(a["work"][idx] == c, 30, 0)
        if d["etage"][m] >= 3 and not d["lift"][m]:
            pts -= np.where(a["senior"][idx], 50, 0)
        pts += np.where(d["surface"][m] >= 14 * a["persons"][idx], 20, 0)
        keys = app_key[idx] + (pts.astype(np.int64) << 32)
        top = np.argpartition(-keys, k - 1)[:k] if keys.size > k else np.arange(keys.size)
        top = top[np.argsort(-keys[top])]
        rows[m, :top.size] = idx[top]
        totals[m, :top.size] = a["base"][idx[top]] + pts[top]
    return rows, totals
