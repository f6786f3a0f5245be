"""Workload (b) of perf-notes §4: M dwellings x N applications, the top k candidates per dwelling.

Run ``python -m benchmarks.pairs [--quick] [--repeats 7]``: one JSON object (also the ``pairs`` key
of ``python -m benchmarks.summary``; keys in benchmarks/README.md). ``cotation.rank`` (compiled
engine) and its pair kernel are timed against three analyst-style peers (numpy, polars, DuckDB) on
the same data, round-robin, median of ``repeats`` runs after a warm-up. Every peer's (M, k) lists of
ids and pair totals are checked equal to cotation's Ranking before anything is timed.
``python -m benchmarks.pairs --steps [--sizes MxN]`` prints instead where one ``cotation.rank`` call
spends its time (500 x 50 000 by default): each step's function wrapped by a timer (:data:`STEPS`).

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import cotation
from cotation.api import parse_grid
from cotation.data.batch import Column
from cotation.data.ceilings import ceiling_table
from cotation.grid.functions import FINANCINGS, ZONES
from cotation.match.compiled import compile_pairs
from cotation.match.pool import prepare_pool
from cotation.match.prepared import DwellingResult

DATE = datetime.date(2026, 1, 1)
K = 10
REPEATS = 7
SIZES = [(500, 50_000), (2_000, 100_000), (2_000, 1_000_000)]  # (M dwellings, N applications)
QUICK_SIZES = [(500, 50_000)]
CROSS_MAX_PAIRS = 25_000_000  # the cross-join peers only up to 500 x 50 000
PEERS_MAX_PAIRS = 200_000_000  # beyond (2 000 x 1 000 000), cotation alone: the peers take many seconds a run
COMMUNES = np.arange(31001, 31301, dtype=np.int32)  # 300 synthetic commune codes
TARGETS = {
    "best_peer_over_rank_call_min": 15.0,
    "rank_call_2000x100000_s_max": 0.3,
    "rank_call_2000x1000000_s_max": 1.0,
}
PEER_SIZES = ("500x50000", "2000x100000")  # issue 18, target 5: best_peer_over_rank_call at both

# The default typology table of the grid (persons 1..7+ -> min, max rooms), as the peers know it.
TYPO_LO = np.array([1, 1, 2, 3, 3, 4, 4], np.int64)
TYPO_HI = np.array([2, 3, 4, 5, 6, 7, 8], np.int64)

GRID_TEXT = """\
id: bench-pairs
title: Grille de benchmark du rapprochement offre-demande
version: "1"
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1,
     max: 60}
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
    - {id: premier_souhait, label: Premier souhait,
       when: "rang_souhait(logement.commune, communes_souhaitees) == 1", points: 60}
    - {id: autre_souhait, label: Autre souhait,
       when: "rang_souhait(logement.commune, communes_souhaitees) >= 2", points: 30}
    - {id: typologie, label: Typologie adaptée,
       when: "adequation_typologie(nb_personnes, logement.pieces) == 0", points: 40}
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
    dw: dict[str, np.ndarray]  # commune, pieces, surface (NaN: missing), rent, ceil (M,6), extra, acc, etage,
    #                            lift


def peer_data(grid: Any, apps: Any, dws: Any, prep: Any) -> PeerData:
    """Application and dwelling columns (the precomputed parts: see the module docstring)."""
    persons = apps.column("nb_personnes").values.astype(np.int64)
    rank = np.asarray(prep.tie_rank, np.int64)  # the scores and rows are those of the applications as given
    base = prep.scores.total.astype(np.int64)
    tier = prep.scores.tier.astype(np.int64)
    wishes = apps.column("communes_souhaitees").values
    h = np.clip(persons, 1, 7) - 1
    app = {
        "wishes": wishes,
        "nwish": (wishes >= 0).sum(axis=1),
        "rfr": _filled(apps, "revenu_fiscal_reference", 0.0),
        "rfr_ok": _mask(apps, "revenu_fiscal_reference"),
        "persons": persons,
        "res": apps.column("ressources_mensuelles").values.astype(np.float64),
        "need": _filled(apps, "besoin_logement_adapte", False).astype(np.bool_),
        "need_ok": _mask(apps, "besoin_logement_adapte"),
        "work": _filled(apps, "commune_travail", -1).astype(np.int64),
        "work_ok": _mask(apps, "commune_travail"),
        "senior": civil_age(apps.column("date_naissance_demandeur").values, DATE) >= 70,
        "lo": TYPO_LO[h],
        "hi": TYPO_HI[h],
        "base": base,
        "tier": tier,
        "rank": rank,
        "date_depot": apps.column("date_depot").values.astype(np.int64),
        "numero_unique": apps.ids.astype(str),
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
        "ceil": np.ascontiguousarray(cells[:, :6]),
        "extra": cells[:, 6].copy(),
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
        ok = (a["rfr"][idx] <= ceiling) & (d["pieces"][m] >= a["lo"][idx]) & (~a["need"][idx] | d["acc"][m])
        idx = idx[ok]
        if not idx.size:
            continue
        pts = np.where(hit[idx].argmax(axis=1) == 0, 60, 30)
        pts += np.where(d["pieces"][m] <= a["hi"][idx], 40, -50)
        res = a["res"][idx]
        effort = d["rent"][m] / np.where(res > 0, res, 1.0)
        bands = np.select([effort < 0.25, effort < 0.33, effort >= 0.40], [40, 20, -80], 0)
        pts += np.where(res > 0, bands, 0)
        if d["acc"][m]:
            pts += np.where(a["need"][idx], 80, 0)
        pts += np.where(a["work"][idx] == c, 30, 0)
        if d["etage"][m] >= 3 and not d["lift"][m]:
            pts -= np.where(a["senior"][idx], 50, 0)
        pts += np.where(d["surface"][m] >= 14 * a["persons"][idx], 20, 0)
        keys = app_key[idx] + (pts.astype(np.int64) << 32)
        top = np.argpartition(-keys, k - 1)[:k] if keys.size > k else np.arange(keys.size)
        top = top[np.argsort(-keys[top])]
        rows[m, : top.size] = idx[top]
        totals[m, : top.size] = a["base"][idx[top]] + pts[top]
    return rows, totals


def arrow_tables(p: PeerData) -> tuple[Any, Any]:
    """(applications, dwellings) as Arrow tables with nulls, wishes as a list column (what polars and
    DuckDB read). ``row`` and ``dw`` are the positions in the inputs."""
    import pyarrow as pa

    a, d = p.app, p.dw
    n = len(a["persons"])
    flat = a["wishes"][a["wishes"] >= 0]
    offsets = np.concatenate([[0], np.cumsum(a["nwish"])]).astype(np.int32)
    apps = pa.table(
        {
            "row": np.arange(n, dtype=np.int64),
            "wishes": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.astype(np.int64))),
            "rfr": pa.array(a["rfr"], mask=~a["rfr_ok"]),
            "persons": a["persons"],
            "res": a["res"],
            "need": pa.array(a["need"], mask=~a["need_ok"]),
            "work": pa.array(a["work"], mask=~a["work_ok"]),
            "senior": a["senior"],
            "lo": a["lo"],
            "hi": a["hi"],
            "base": a["base"],
            "tier": a["tier"],
            "date_depot": a["date_depot"],
            "numero_unique": a["numero_unique"],
        }
    )
    m = len(d["commune"])
    ceil = pa.FixedSizeListArray.from_arrays(pa.array(d["ceil"].reshape(-1)), 6)
    dws = pa.table(
        {
            "dw": np.arange(m, dtype=np.int64),
            "commune": d["commune"],
            "pieces": d["pieces"],
            "surface": pa.array(d["surface"], mask=np.isnan(d["surface"])),
            "rent": d["rent"],
            "ceil": ceil.cast(pa.list_(pa.int64())),
            "extra": d["extra"],
            "acc": d["acc"],
            "etage": d["etage"],
            "lift": d["lift"],
        }
    )
    return apps, dws


def polars_points():
    """The filters and the pair points as polars expressions over the joined frame."""
    import polars as pl

    col = pl.col
    ceiling = col("ceil").list.get(pl.min_horizontal(col("persons"), 6) - 1) + pl.max_horizontal(
        col("persons") - 6, 0
    ) * col("extra")
    keep = (
        (col("rfr").fill_null(0) <= ceiling)
        & (col("pieces") >= col("lo"))
        & (~col("need").fill_null(False) | col("acc"))
    )
    effort = pl.when(col("res") > 0).then(col("rent") / col("res"))
    points = (
        pl.when(col("pos") == 0).then(60).otherwise(30)
        + pl.when(col("pieces") <= col("hi")).then(40).otherwise(-50)
        + pl.when(effort < 0.25)
        .then(40)
        .when(effort < 0.33)
        .then(20)
        .when(effort >= 0.40)
        .then(-80)
        .otherwise(0)
        .fill_null(0)
        + pl.when(col("need").fill_null(False) & col("acc")).then(80).otherwise(0)
        + pl.when(col("work") == col("commune")).then(30).otherwise(0).fill_null(0)
        + pl.when(col("senior") & (col("etage") >= 3) & ~col("lift")).then(-50).otherwise(0)
        + pl.when(col("surface") >= 14 * col("persons")).then(20).otherwise(0).fill_null(0)
    )
    return keep, points


def polars_peer(k: int, cross: bool = False) -> Callable[[Any, Any], Any]:
    """Equi-join of the dwellings on the exploded wishes, filters and points as expressions, then sort
    and group_by(maintain_order).head(k). ``cross``: a cross join of (row, w0..w7) with (dw, commune)
    filtered on any_horizontal(w_j == commune), the other columns joined back (``wide_frame``)."""
    import polars as pl

    keep, points = polars_points()
    col = pl.col
    wish = [f"w{j}" for j in range(8)]

    def run(apps, dws):
        if cross:
            pos = pl.coalesce([pl.when(col(w) == col("commune")).then(j) for j, w in enumerate(wish)])
            pairs = (
                apps.lazy()
                .select("row", *wish)
                .join(dws.lazy().select("dw", "commune"), how="cross")
                .filter(pl.any_horizontal([col(w) == col("commune") for w in wish]))
                .select("row", "dw", "commune", pos=pos)
                .join(apps.lazy().drop(*wish), on="row")
                .join(dws.lazy().drop("commune"), on="dw")
            )
        else:
            long = (
                apps.lazy()
                .with_columns(pos=pl.int_ranges(0, col("wishes").list.len()))
                .explode("wishes", "pos")
            )
            pairs = dws.lazy().join(long, left_on="commune", right_on="wishes")
        return (
            pairs.filter(keep)
            .select("dw", "row", "tier", "date_depot", "numero_unique", total=col("base") + points)
            .sort(
                ["dw", "tier", "total", "date_depot", "numero_unique"],
                descending=[False, True, True, False, False],
            )
            .group_by("dw", maintain_order=True)
            .head(k)
            .select("dw", "row", "total")
            .collect()
        )

    return run


def wide_frame(apps: Any) -> Any:
    """The applications with the wishes as 8 nullable columns w0..w7 instead of a list."""
    import polars as pl

    wishes = [pl.col("wishes").list.get(j, null_on_oob=True).alias(f"w{j}") for j in range(8)]
    return apps.with_columns(wishes).drop("wishes")


DUCKDB_POINTS = """
    CASE WHEN pos = 1 THEN 60 ELSE 30 END
    + CASE WHEN pieces <= hi THEN 40 ELSE -50 END
    + CASE WHEN res > 0 AND rent / res < 0.25 THEN 40 WHEN res > 0 AND rent / res < 0.33 THEN 20
           WHEN res > 0 AND rent / res >= 0.40 THEN -80 ELSE 0 END
    + CASE WHEN coalesce(need, false) AND acc THEN 80 ELSE 0 END
    + CASE WHEN work = commune THEN 30 ELSE 0 END
    + CASE WHEN senior AND etage >= 3 AND NOT lift THEN -50 ELSE 0 END
    + CASE WHEN surface >= 14 * persons THEN 20 ELSE 0 END"""
DUCKDB_KEEP = """coalesce(rfr, 0) <= ceil[least(persons, 6)] + greatest(persons - 6, 0) * extra
    AND pieces >= lo AND (NOT coalesce(need, false) OR acc)"""


def duckdb_sql(k: int, cross: bool = False) -> str:
    """Equi-join on the unnested wishes (or a cross join filtered by list_contains) + QUALIFY row_number()."""
    if cross:
        pairs = (
            "SELECT *, list_position(wishes, commune) AS pos FROM dws CROSS JOIN apps "
            "WHERE list_contains(wishes, commune)"
        )
    else:
        pairs = (
            "SELECT * FROM dws JOIN (SELECT *, unnest(wishes) AS wish, "
            "unnest(range(1, len(wishes) + 1)) AS pos FROM apps) w ON w.wish = dws.commune"
        )
    return f"""
WITH p AS ({pairs}),
     s AS (SELECT dw, row, tier, date_depot, numero_unique, base + {DUCKDB_POINTS} AS total
           FROM p WHERE {DUCKDB_KEEP})
SELECT dw, row, total FROM s
QUALIFY row_number() OVER (PARTITION BY dw ORDER BY tier DESC, total DESC, date_depot, numero_unique) <= {k}
ORDER BY dw, tier DESC, total DESC, date_depot, numero_unique"""


def to_lists(frame: Any, m_count: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A long (dw, row, total) result, best first within each dwelling, as (M, k) arrays."""
    import pyarrow as pa

    table = frame if isinstance(frame, pa.Table) else frame.to_arrow()
    dw = table.column("dw").to_numpy()
    rows = np.full((m_count, k), -1, np.int64)
    totals = np.zeros((m_count, k), np.int64)
    if len(dw):
        assert (np.diff(dw) >= 0).all(), "the result is not grouped by dwelling"
        start = np.searchsorted(dw, dw, side="left")
        rank = np.arange(len(dw)) - start
        rows[dw, rank] = table.column("row").to_numpy()
        totals[dw, rank] = table.column("total").to_numpy()
    return rows, totals


# --------------------------------------------------------------------------------------------------
# One size: cotation's callables and the peers, verified, then timed round-robin
# --------------------------------------------------------------------------------------------------


class PairCase:
    """M dwellings x N applications: the prepared inputs of cotation and of every peer."""

    def __init__(
        self, m: int, n: int, k: int = K, seed: int = 7, cross: bool | None = None, peers: bool | None = None
    ):
        self.m, self.n, self.k = m, n, k
        self.grid = bench_grid()
        self.apps, self.dws = make_data(m, n, seed)
        t0 = time.perf_counter()
        self.expected = self.rank_call()  # the first call compiles (or loads the cached kernels)
        self.first_rank_call_s = time.perf_counter() - t0
        self.cp = compile_pairs(self.grid)
        self.prep = prepare_pool(self.grid, self.apps, DATE).prepare(self.dws)
        self.pool = cotation.prepare_pool(self.grid, self.apps, DATE)
        self.pool.rank(self.dws, self.k)  # fills the pool's cache (index, hoisted values, copies)
        self.args = self.cp.arguments(self.prep)
        self.peers: dict[str, Callable[[], Any]] = {}
        if peers if peers is not None else m * n <= PEERS_MAX_PAIRS:
            self._add_peers(cross)

    def _add_peers(self, cross: bool | None) -> None:
        import duckdb
        import polars as pl

        m, n, k = self.m, self.n, self.k
        self.data = peer_data(self.grid, self.apps, self.dws, self.prep)
        apps, dws = arrow_tables(self.data)
        self.frames = (pl.from_arrow(apps), pl.from_arrow(dws))
        self.con = duckdb.connect()
        self.con.register("apps", apps)
        self.con.register("dws", dws)
        cross = m * n <= CROSS_MAX_PAIRS if cross is None else cross
        polars_query, sql = polars_peer(k), duckdb_sql(k)
        self.peers = {
            "numpy": lambda: numpy_peer(self.data.app, self.data.dw, k),
            "polars": lambda: polars_query(*self.frames),
            "duckdb": lambda: self.con.sql(sql).to_arrow_table(),
        }
        if cross:
            wide = wide_frame(self.frames[0])
            polars_cross, sql_cross = polars_peer(k, True), duckdb_sql(k, True)
            self.peers["polars_cross"] = lambda: polars_cross(wide, self.frames[1])
            self.peers["duckdb_cross"] = lambda: self.con.sql(sql_cross).to_arrow_table()

    # the timed callables of cotation -----------------------------------------------------------
    def rank_call(self) -> Any:
        return cotation.rank(self.grid, self.apps, self.dws, self.k, date_calcul=DATE)

    def rank_prepared(self) -> Any:
        """``Pool.rank``: the applications prepared once (validated, scored, sorted, indexed), as a
        landlord's system ranks each day's vacancies against the same applications."""
        return self.pool.rank(self.dws, self.k)

    def prepare_call(self) -> Any:
        return prepare_pool(self.grid, self.apps, DATE).prepare(self.dws)

    def pair_kernel(self) -> Any:
        """CompiledPairs.run on a prepared input: arguments (incl. the inverted index) + kernel."""
        return self.cp.run(self.prep, self.k, None)[0]

    def pair_loop(self) -> Any:
        """The kernel alone, over prebuilt arguments, in threads (CompiledPairs._parallel)."""
        out = DwellingResult.empty(self.m, self.k, len(self.grid.match.filters))
        self.cp._parallel(self.args, np.arange(self.m, dtype=np.int64), self.k, out)
        return out

    # verification --------------------------------------------------------------------------------
    def peer_lists(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        res = self.peers[name]()
        return res if isinstance(res, tuple) else to_lists(res, self.m, self.k)

    def verify(self) -> dict[str, str]:
        """Every callable's (M, k) rows, ids and pair totals equal cotation.rank's; raise otherwise."""
        exp = self.expected
        ids = np.where(exp.rows >= 0, self.apps.ids[exp.rows], "")
        assert np.array_equal(exp.application_ids, ids), "Ranking.application_ids do not follow Ranking.rows"
        out = self.pair_kernel()
        _same("pair_kernel", out.rows, out.total, exp)
        loop = self.pair_loop()  # tie-break ranks: mapped back to rows
        _same(
            "pair_loop (ranks mapped back)",
            np.where(loop.rows >= 0, self.prep.perm[loop.rows], -1),
            loop.total,
            exp,
        )
        ranked = self.rank_prepared()
        _same("rank_prepared", ranked.rows, ranked.total, exp)
        done = {"pair_kernel": "rows, totals", "pair_loop": "rows, totals", "rank_prepared": "rows, totals"}
        for name in self.peers:
            rows, totals = self.peer_lists(name)
            _same(f"peer {name}", rows, totals, exp)
            done[name] = "ids, totals"
        return done

    def stats(self) -> dict[str, Any]:
        exp = self.expected
        candidates = int(self.n * self.m - exp.excluded[:, 0].sum())
        return {
            "m": self.m,
            "n": self.n,
            "k": self.k,
            "pairs": self.m * self.n,
            "candidate_pairs": candidates,
            "commune_pass_rate": round(candidates / (self.m * self.n), 5),
            "eligible_pairs": int(exp.eligible.sum()),
            "dwellings_short_of_k": int((exp.rows[:, -1] < 0).sum()) if self.k else 0,
        }


def _same(what: str, rows: np.ndarray, totals: np.ndarray, exp: Any) -> None:
    has = exp.rows >= 0
    bad = np.argwhere((rows != exp.rows) | (np.where(has, totals, 0) != exp.total))
    if bad.size:
        m, r = bad[0]
        raise AssertionError(
            f"{what} differs from cotation.rank at {len(bad)} places, e.g. dwelling {m} "
            f"rank {r + 1}: row {rows[m, r]} total {totals[m, r]} vs row {exp.rows[m, r]} "
            f"total {exp.total[m, r]}"
        )


def time_round_robin(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds per callable, after one warm-up each, interleaved round-robin."""
    from benchmarks.summary import time_round_robin as timer

    return timer(fns, repeats)


def measure(case: PairCase, repeats: int) -> dict[str, Any]:
    own = {
        "rank_call": case.rank_call,
        "rank_prepared": case.rank_prepared,
        "prepare": case.prepare_call,
        "pair_kernel": case.pair_kernel,
        "pair_loop": case.pair_loop,
    }
    ms = time_round_robin({**own, **case.peers}, repeats)

    def r(a: float, b: float) -> float:
        return round(a / b, 2)

    mine = {"rank_call_over_pair_kernel": r(ms["rank_call"], ms["pair_kernel"])}
    if not case.peers:  # cotation alone (PEERS_MAX_PAIRS)
        return {"ms": {name: round(v, 3) for name, v in ms.items()}, "best_peer": None, "ratios": mine}
    best = min(case.peers, key=lambda nm: ms[nm])
    return {
        "ms": {name: round(v, 3) for name, v in ms.items()},
        "best_peer": best,
        "ratios": {
            "best_peer_over_rank_call": r(ms[best], ms["rank_call"]),
            "best_peer_over_rank_prepared": r(ms[best], ms["rank_prepared"]),
            "best_peer_over_pair_kernel": r(ms[best], ms["pair_kernel"]),
            "best_peer_over_pair_loop": r(ms[best], ms["pair_loop"]),
            **mine,
        },
    }


def reference_check(m: int = 60, n: int = 4_000, seed: int = 3) -> dict[str, Any]:
    """The reference engine equals the compiled one on small data (every field of the Ranking)."""
    grid = bench_grid()
    apps, dws = make_data(m, n, seed)
    ref = cotation.rank(grid, apps, dws, K, date_calcul=DATE, engine="reference")
    out = cotation.rank(grid, apps, dws, K, date_calcul=DATE)
    fields = ("rows", "application_ids", "tier", "total", "application_total", "eligible", "excluded")
    for name in fields:
        if not np.array_equal(getattr(ref, name), getattr(out, name)):
            raise AssertionError(f"reference and compiled engines differ on {name} ({m} x {n})")
    return {"m": m, "n": n, "equal": list(fields)}


def _key(m: int, n: int) -> str:
    return f"{m}x{n}"


def run(
    quick: bool = False, repeats: int = REPEATS, sizes: list[tuple[int, int]] | None = None
) -> dict[str, Any]:
    """The ``pairs`` summary (keys: benchmarks/README.md)."""
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    out: dict[str, Any] = {
        "k": K,
        "communes": len(COMMUNES),
        "repeats": repeats,
        "sizes": [_key(m, n) for m, n in sizes],
        "grid": _grid_shape(bench_grid()),
        "targets": TARGETS,
        "reference_check": reference_check(),
        "results": {},
    }
    for m, n in sizes:
        case = PairCase(m, n)
        res = {
            **case.stats(),
            "first_rank_call_s": round(case.first_rank_call_s, 3),
            "peers_timed": bool(case.peers),
            "verified": case.verify(),
        }
        res.update(measure(case, repeats))
        out["results"][_key(m, n)] = res
        del case
    out["checks"] = _checks(out)
    return out


def _grid_shape(grid: Any) -> dict[str, int]:
    return {
        "criteria": len(grid.criteria),
        "priorities": len(grid.priorities),
        "filters": len(grid.match.filters),
        "pair_criteria": len(grid.match.criteria),
    }


def _checks(s: dict[str, Any]) -> dict[str, Any]:
    """Each target: [measured, met], or null where the size was not run."""
    res, t = s["results"], s["targets"]
    minimum = t["best_peer_over_rank_call_min"]
    compared = {key: r for key, r in res.items() if r["best_peer"] is not None}
    largest = max(compared, key=lambda key: compared[key]["pairs"])
    speedup = res[largest]["ratios"]["best_peer_over_rank_call"]

    def seconds(key: str) -> list[Any] | None:
        if key not in res:
            return None
        value = round(res[key]["ms"]["rank_call"] / 1e3, 4)
        return [value, value < t[f"rank_call_{key}_s_max"]]

    def ratio(r: dict[str, Any], name: str) -> list[Any]:
        return [r["ratios"][name], r["ratios"][name] >= minimum]

    return {
        "at": largest,
        "best_peer_over_rank_call": [speedup, speedup >= minimum],
        "best_peer_over_rank_call_by_size": {
            key: ratio(compared[key], "best_peer_over_rank_call") if key in compared else None
            for key in PEER_SIZES
        },
        "best_peer_over_rank_prepared": {
            key: ratio(r, "best_peer_over_rank_prepared") for key, r in compared.items()
        },
        "rank_call_2000x100000_s": seconds("2000x100000"),
        "rank_call_2000x1000000_s": seconds("2000x1000000"),
    }


# the steps of one cotation.rank call that --steps times (module, attribute, name); nested steps
# (tie order and scoring inside the pool's preparation) are listed after the step they are part of
STEPS = (
    ("cotation.match.pool", "prepare_pool", "prepare_pool"),
    ("cotation.match.pool", "tie_order", "prepare_pool.tie_order"),
    ("cotation.match.pool", "score_batch", "prepare_pool.scoring"),
    ("cotation.match.compiled:CompiledPairs", "_index", "commune_index"),
    ("cotation.match.compiled:CompiledPairs", "_app_values", "hoisted_values"),
    ("cotation.match.compiled:CompiledPairs", "_major", "candidate_major_copy"),
    ("cotation.match.compiled:CompiledPairs", "_parallel", "pair_kernel"),
    ("cotation.match.pool", "finish", "finish"),
)


def steps(m: int, n: int, calls: int = 100) -> dict[str, Any]:
    """Milliseconds of each step of ``cotation.rank`` (mean over ``calls`` calls after one), each step's
    function wrapped by a timer for the time of the measurement."""
    import importlib

    grid = bench_grid()
    apps, dws = make_data(m, n)
    spent = dict.fromkeys([name for *_, name in STEPS], 0.0)
    saved = []

    def timed(function: Callable[..., Any], name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0

        return call

    for where, attribute, name in STEPS:
        module, _, cls = where.partition(":")
        owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
        saved.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, timed(getattr(owner, attribute), name))
    try:
        cotation.rank(grid, apps, dws, K, date_calcul=DATE)
        spent.update(dict.fromkeys(spent, 0.0))
        t0 = time.perf_counter()
        for _ in range(calls):
            cotation.rank(grid, apps, dws, K, date_calcul=DATE)
        whole = time.perf_counter() - t0
    finally:
        for owner, attribute, function in saved:
            setattr(owner, attribute, function)
    return {
        "size": f"{m}x{n}",
        "calls": calls,
        "rank_call_ms": round(whole / calls * 1000, 2),
        "ms": {name: round(s / calls * 1000, 2) for name, s in spent.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 x 50 000 only")
    ap.add_argument("--sizes", help="MxN,MxN,... instead of the default sizes (e.g. 2000x1000000)")
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--steps", action="store_true", help="time the steps of one rank call instead")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sizes = [tuple(int(x) for x in v.split("x")) for v in args.sizes.split(",")] if args.sizes else None
    if args.steps:
        print(json.dumps([steps(m, n) for m, n in sizes or QUICK_SIZES], indent=2))
        return 0
    out = run(args.quick, args.repeats, sizes)  # type: ignore[arg-type]
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
