"""The three peers of ``grids/exemple-metropole.yaml``, written by hand for all of that grid (issue 18).

Each peer is what an analyst would write for this grid with the tool alone, no call into cotation:
pandas (``np.where`` / ``np.select`` per criterion over the DataFrame's columns), polars (lazy,
``pl.when/then``) and DuckDB (one SQL query of ``CASE WHEN``). They implement all 24 criteria (the
civil-month arithmetic of ``months_between`` and ``age``, per-unit points with their unit and cap,
bands, expression points, the ``valid_for`` window of the malus), the rubric ``logement`` (only the
best criterion counts, the first declared on a tie), the capped groups ``ressources`` and ``urgence``,
the 17 priority flags (the 15 of ``publics-prioritaires.yaml`` and the grid's 2 with their points),
the tier and the total. The ``breakdown`` variants also output the kernel's 28 breakdown columns as
the kernel writes them (rubric applied, ``plafond_<group>`` adjustments), but not the K x N ``met``
matrix. ``date_calcul`` is a parameter of the query (a constant), as it is of the kernel.

Data, built once outside the timed region (:func:`frames`): categories are their codes, sets their
bit masks (``motifs``), dates ``datetime64`` (pandas) or ``date32`` (Arrow, polars, DuckDB). pandas
gets values + ``valid_<field>`` masks and the wished communes as 8 columns ``w0..w7`` (-1 padded);
polars and DuckDB get nulls for missing values and a ``list<int32>`` of wished communes.

Missing values follow docs/expressions.md: a missing operand makes the result missing, ``and`` /
``or`` are three-valued (polars and SQL are Kleene natively; pandas tests each atom's mask), a
division by zero is missing, and a criterion whose condition, points or value is missing is not met.
``benchmarks.summary.Case.verify`` checks each peer's total, flags, tier and breakdown columns equal to
the kernel's before anything is timed.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Callable
from typing import Any

import numpy as np

CRITERIA = [
    "anciennete",
    "delai_anormalement_long",
    "dalo",
    "attente_dalo",
    "sans_abri",
    "hebergement_temporaire",
    "heberge_tiers",
    "heberge_parents",
    "suroccupation",
    "logement_indigne",
    "enfants",
    "parent_isole",
    "jeune_menage",
    "handicap",
    "taux_effort",
    "reste_a_vivre",
    "menace_expulsion",
    "violences",
    "logement_repris",
    "emploi_precaire",
    "rapprochement_travail",
    "jeune_decohabitation",
    "accompagnement_social",
    "refus_proposition",
]
RUBRIC_LOGEMENT = CRITERIA[4:10]  # in declaration order: the first declared wins a tie
GROUPS = {"ressources": (["taux_effort", "reste_a_vivre"], 20), "urgence": (CRITERIA[16:19], 30)}
# (id, condition on boolean fields or None for the composite ones below, tier, points)
PRIORITIES = [
    ("prio_dalo", "dalo", 2, 0),
    ("prio_handicap", "handicap_menage", 1, 0),
    ("prio_sortie_act", "sortie_act", 1, 0),
    ("prio_defavorise", "difficultes_financieres", 1, 0),
    ("prio_structure_transition", None, 1, 0),
    ("prio_reprise_activite", "reprise_activite", 1, 0),
    ("prio_habitat_indigne", "habitat_indigne", 1, 0),
    ("prio_violences_couple", "violences_couple", 1, 0),
    ("prio_viol_agression", "victime_viol_agression", 1, 0),
    ("prio_sortie_prostitution", "sortie_prostitution", 1, 0),
    ("prio_traite", "victime_traite", 1, 0),
    ("prio_suroccupation_enfant", None, 1, 0),
    ("prio_sans_logement", None, 1, 0),
    ("prio_menace_expulsion", "menace_expulsion", 1, 0),
    ("prio_sortie_ase", "sortie_ase", 1, 0),
    ("prio_pdalhpd", "pdalhpd", 1, 40),
    ("prio_accord_collectif", "accord_collectif", 1, 30),
]
FLAGS = [p[0] for p in PRIORITIES]
# the kernel's breakdown columns, in its order: criteria, priorities with points, group caps; and the
# peers' output column of each (a priority's points are "<id>_points", "<id>" being its flag)
COLUMNS = CRITERIA + [p[0] for p in PRIORITIES if p[3]] + [f"plafond_{g}" for g in GROUPS]
OUTPUT = {c: c + "_points" if c in FLAGS else c for c in COLUMNS}
DATES = [
    "date_depot",
    "date_decision_dalo",
    "date_naissance_demandeur",
    "date_naissance_codemandeur",
    "date_dernier_refus",
]
FIELDS = [
    *DATES,
    "typologie_souhaitee",
    "dalo",
    "situation_logement",
    "surface_actuelle",
    "nb_personnes",
    "habitat_indigne",
    "motifs",
    "nb_enfants",
    "nb_enfants_moins_14",
    "parent_isole",
    "handicap_menage",
    "loyer_actuel",
    "ressources_mensuelles",
    "menace_expulsion",
    "violences_couple",
    "situation_professionnelle",
    "temps_trajet_travail",
    "commune_travail",
    "suivi_travailleur_social",
    "nb_refus_propositions",
    "pdalhpd",
    "accord_collectif",
    "sortie_act",
    "difficultes_financieres",
    "heberge_structure_transition",
    "reprise_activite",
    "violences_couple",
    "victime_viol_agression",
    "sortie_prostitution",
    "victime_traite",
    "logement_suroccupe_ou_indecent",
    "sortie_ase",
]
FIELDS = list(dict.fromkeys(FIELDS))
WISHES = "communes_souhaitees"


class Codes:
    """The codes of the category values and the bits of the set values the grid names."""

    def __init__(self, catalogue) -> None:
        def code(field: str, *values: str) -> list[int]:
            return [catalogue[field].values.index(v) for v in values]

        def bit(value: str) -> int:
            return 1 << catalogue["motifs"].values.index(value)

        self.sans_abri = code("situation_logement", "sans_abri", "squat")
        self.hebergement = code("situation_logement", "structure_hebergement", "hotel", "camping_caravane")
        (self.heberge_tiers,) = code("situation_logement", "heberge_tiers")
        (self.heberge_parents,) = code("situation_logement", "heberge_parents")
        (self.structure,) = code("situation_logement", "structure_hebergement")
        self.sans_logement = code("situation_logement", "sans_abri", "squat", "heberge_tiers")
        self.grand = code("typologie_souhaitee", "T4", "T5", "T6")
        self.precaire = code("situation_professionnelle", "cdd", "interim")
        self.m_indigne = bit("logement_indigne")
        self.m_expulsion = bit("procedure_expulsion")
        self.m_violences = bit("violences")
        self.m_repris = bit("logement_repris")
        self.m_travail = bit("rapprochement_travail")
        self.m_decohabitation = bit("decohabitation")


def _today(date: datetime.date) -> tuple[int, int, int]:
    """date_calcul as (months since 1970-01, day, last day of its month): months_between's constants."""
    return (date.year - 1970) * 12 + date.month - 1, date.day, calendar.monthrange(date.year, date.month)[1]


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def frames(batch) -> tuple[Any, Any, Any]:
    """(pandas DataFrame, polars DataFrame, Arrow table) of the fields the grid reads."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    n = len(batch)
    cols: dict[str, np.ndarray] = {}
    arrays = {}
    for f in FIELDS:
        col = batch.column(f)
        ok = np.ones(n, np.bool_) if col.valid is None else np.ascontiguousarray(col.valid, np.bool_)
        values = np.ascontiguousarray(col.values)
        if f in DATES:
            days = values.astype("datetime64[D]")
            cols[f] = days.astype("datetime64[s]")
            arrays[f] = pa.array(values, mask=~ok).cast(pa.date32())
        else:
            cols[f] = values
            arrays[f] = pa.array(values, mask=~ok)
        cols["valid_" + f] = ok
    wishes = np.ascontiguousarray(batch.column(WISHES).values)
    for j in range(wishes.shape[1]):
        cols[f"w{j}"] = np.ascontiguousarray(wishes[:, j])
    filled = wishes >= 0  # -1 pads the list
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(filled.sum(axis=1), out=offsets[1:])
    arrays[WISHES] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(wishes[filled]))
    table = pa.table(arrays)
    return pd.DataFrame(cols, copy=False), pl.from_arrow(table), table


# --------------------------------------------------------------------------------------------------
# pandas: np.where / np.select per criterion
# --------------------------------------------------------------------------------------------------


def pandas_peer(codes: Codes, date: datetime.date, breakdown: bool) -> Callable[[Any], Any]:
    import pandas as pd

    mb, db, eom = _today(date)
    today = np.datetime64(date, "s")

    def run(df):
        def v(f):
            return df[f].to_numpy()

        def ok(f):
            return df["valid_" + f].to_numpy()

        def true(f):  # a bool field that is true (missing: not true)
            return v(f) & ok(f)

        motifs = v("motifs")

        def has(bit):
            return (motifs & np.uint64(bit)) != 0

        def months_to(f):  # months_between(f, date_calcul), art. 641 CPC; garbage where f is missing
            d = v(f)
            month = d.astype("datetime64[M]")
            day = (d - month).astype("timedelta64[D]").astype(np.int64) + 1
            return mb - month.astype(np.int64) - (np.minimum(day, eom) > db)

        sl = v("situation_logement")
        nbp = v("nb_personnes").astype(np.int64)
        ne, ok_ne = v("nb_enfants").astype(np.int64), ok("nb_enfants")
        n14, ok_14 = v("nb_enfants_moins_14").astype(np.int64), ok("nb_enfants_moins_14")
        loyer, ok_loyer = v("loyer_actuel"), ok("loyer_actuel")
        res, ok_res = v("ressources_mensuelles"), ok("ressources_mensuelles")
        anc = months_to("date_depot")  # required: never missing
        age_d = months_to("date_naissance_demandeur") // 12
        p: dict[str, np.ndarray] = {}
        p["anciennete"] = np.minimum(anc, 120)
        grand = np.isin(v("typologie_souhaitee"), codes.grand) & ok("typologie_souhaitee")
        p["delai_anormalement_long"] = np.where(anc >= np.where(grand, 24, 30), 20, 0)
        dalo = true("dalo")
        p["dalo"] = np.where(dalo, 50, 0)
        attente = np.minimum(months_to("date_decision_dalo") // 3 * 5, 20)
        p["attente_dalo"] = np.where(dalo & ok("date_decision_dalo"), attente, 0)
        p["sans_abri"] = np.where(np.isin(sl, codes.sans_abri), 17, 0)
        p["hebergement_temporaire"] = np.where(np.isin(sl, codes.hebergement), 12, 0)
        p["heberge_tiers"] = np.where(sl == codes.heberge_tiers, 4, 0)
        p["heberge_parents"] = np.where(sl == codes.heberge_parents, 2, 0)
        ok_spp = ok("surface_actuelle") & (nbp != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            spp = v("surface_actuelle") / nbp
            ok_te = ok_loyer & ok_res & (res != 0)
            te = loyer / res
        p["suroccupation"] = np.select([ok_spp & (spp < 9), ok_spp & (spp >= 9) & (spp < 12)], [8, 4], 0)
        p["logement_indigne"] = np.where(true("habitat_indigne") | has(codes.m_indigne), 10, 0)
        p["enfants"] = np.where(ok_ne & (ne > 0), np.minimum(np.where(ne == 1, 6, 4 * ne), 16), 0)
        p["parent_isole"] = np.where(true("parent_isole"), 5, 0)
        age_c = months_to("date_naissance_codemandeur") // 12
        p["jeune_menage"] = np.where(ok("date_naissance_codemandeur") & (age_d + age_c <= 55), 3, 0)
        p["handicap"] = np.where(true("handicap_menage"), 4, 0)
        p["taux_effort"] = np.select(
            [ok_te & (te >= 0.3) & (te < 0.4), ok_te & (te >= 0.4) & (te < 0.5), ok_te & (te >= 0.5)],
            [5, 10, 15],
            0,
        )
        n14c = np.where(ok_14, n14, 0)
        uc = 1 + 0.5 * np.maximum(nbp - 1 - n14c, 0) + 0.3 * n14c
        rav = (res - np.where(ok_loyer, loyer, 0)) / uc / 30  # uc >= 1
        p["reste_a_vivre"] = np.select([ok_res & (rav < 10), ok_res & (rav >= 10) & (rav < 15)], [10, 5], 0)
        p["menace_expulsion"] = np.where(true("menace_expulsion") | has(codes.m_expulsion), 20, 0)
        p["violences"] = np.where(true("violences_couple") | has(codes.m_violences), 20, 0)
        p["logement_repris"] = np.where(has(codes.m_repris), 10, 0)
        precaire = np.isin(v("situation_professionnelle"), codes.precaire) & ok("situation_professionnelle")
        p["emploi_precaire"] = np.where(precaire, 4, 0)
        ct = v("commune_travail")
        wished = np.logical_or.reduce([v(f"w{j}") == ct for j in range(8)]) & ok("commune_travail")
        trajet = (v("temps_trajet_travail") >= 45) & ok("temps_trajet_travail")
        p["rapprochement_travail"] = np.where(has(codes.m_travail) & (trajet | wished), 5, 0)
        p["jeune_decohabitation"] = np.where((age_d >= 18) & (age_d < 30) & has(codes.m_decohabitation), 3, 0)
        p["accompagnement_social"] = np.where(true("suivi_travailleur_social"), 5, 0)
        nr = v("nb_refus_propositions").astype(np.int64)
        window = (
            ok("date_dernier_refus")
            & (v("date_dernier_refus") <= today)
            & (months_to("date_dernier_refus") < 12)
        )
        p["refus_proposition"] = np.where(
            ok("nb_refus_propositions") & (nr > 0) & window, np.maximum(-10 * nr, -20), 0
        )

        flags = {pid: true(f) for pid, f, _, _ in PRIORITIES if f}
        flags["prio_structure_transition"] = true("heberge_structure_transition") | (sl == codes.structure)
        flags["prio_suroccupation_enfant"] = true("logement_suroccupe_ou_indecent") & (
            (ok_ne & (ne > 0)) | (ok_14 & (n14 > 0))
        )
        flags["prio_sans_logement"] = np.isin(sl, codes.sans_logement)
        flags = {pid: flags[pid] for pid in FLAGS}
        tier = np.where(flags["prio_dalo"], 2, np.where(np.logical_or.reduce(list(flags.values())), 1, 0))

        # rubric 'logement' (all its points are positive): only the best met criterion counts
        rubric = [p[c] for c in RUBRIC_LOGEMENT]
        total = sum(p[c] for c in CRITERIA if c not in RUBRIC_LOGEMENT)
        out: dict[str, np.ndarray] = {}
        if breakdown:  # the winner keeps its points: beats every earlier one, ties or beats every later one
            for i, c in enumerate(RUBRIC_LOGEMENT):
                keep = rubric[i] > np.maximum.reduce([np.zeros_like(rubric[i]), *rubric[:i]])
                if i + 1 < len(rubric):
                    keep &= rubric[i] >= np.maximum.reduce(rubric[i + 1 :])
                out[c] = np.where(keep, rubric[i], 0)
            p = {**p, **out}
        total = total + np.maximum.reduce(rubric)
        caps = {}
        for g, (members, cap) in GROUPS.items():
            s = sum(p[c] for c in members)
            caps[f"plafond_{g}"] = np.minimum(s, cap) - s
            total = total + caps[f"plafond_{g}"]
        prio_points = {pid + "_points": np.where(flags[pid], pts, 0) for pid, _, _, pts in PRIORITIES if pts}
        total = total + sum(prio_points.values())
        res_cols = {"total": total, "tier": tier, **flags}
        if breakdown:
            res_cols.update(p)
            res_cols.update(prio_points)
            res_cols.update(caps)
        return pd.DataFrame(res_cols, copy=False)

    return run


# --------------------------------------------------------------------------------------------------
# polars: pl.when/then, lazy
# --------------------------------------------------------------------------------------------------


def polars_peer(codes: Codes, date: datetime.date, breakdown: bool) -> Callable[[Any], Any]:
    import polars as pl

    mb, db, eom = _today(date)
    col = pl.col

    def months_to(f: str):  # months_between(f, date_calcul), art. 641 CPC; null when f is
        d = col(f)
        month = (d.dt.year().cast(pl.Int64) - 1970) * 12 + d.dt.month().cast(pl.Int64) - 1
        return mb - month - (pl.min_horizontal(d.dt.day(), pl.lit(eom)) > db).cast(pl.Int64)

    def has(bit: int):
        return (col("motifs") & bit) != 0

    def pts(cond, points):
        return pl.when(cond).then(points).otherwise(0)

    uc = (
        1
        + 0.5
        * pl.max_horizontal(col("nb_personnes") - 1 - col("nb_enfants_moins_14").fill_null(0), pl.lit(0))
        + 0.3 * col("nb_enfants_moins_14").fill_null(0)
    )
    variables = [
        months_to("date_depot").alias("anciennete_mois"),
        pl.when(col("typologie_souhaitee").is_in(codes.grand).fill_null(False))
        .then(24)
        .otherwise(30)
        .alias("delai_anormal"),
        (months_to("date_naissance_demandeur") // 12).alias("age_demandeur"),
        pl.when(col("ressources_mensuelles") != 0)
        .then(col("loyer_actuel") / col("ressources_mensuelles"))
        .alias("taux_effort_v"),
        ((col("ressources_mensuelles") - col("loyer_actuel").fill_null(0)) / uc / 30).alias(
            "reste_a_vivre_v"
        ),
        pl.when(col("nb_personnes") != 0)
        .then(col("surface_actuelle") / col("nb_personnes"))
        .alias("surface_par_personne"),
    ]
    te, rav, spp, age_d = (
        col("taux_effort_v"),
        col("reste_a_vivre_v"),
        col("surface_par_personne"),
        col("age_demandeur"),
    )
    sl, ne = col("situation_logement"), col("nb_enfants")
    window = (col("date_dernier_refus") <= pl.lit(date)) & (months_to("date_dernier_refus") < 12)
    criteria = {
        "anciennete": col("anciennete_mois").clip(upper_bound=120),
        "delai_anormalement_long": pts(col("anciennete_mois") >= col("delai_anormal"), 20),
        "dalo": pts(col("dalo"), 50),
        "attente_dalo": pl.when(col("dalo"))
        .then((months_to("date_decision_dalo") // 3 * 5).clip(upper_bound=20))
        .fill_null(0),
        "sans_abri": pts(sl.is_in(codes.sans_abri), 17),
        "hebergement_temporaire": pts(sl.is_in(codes.hebergement), 12),
        "heberge_tiers": pts(sl == codes.heberge_tiers, 4),
        "heberge_parents": pts(sl == codes.heberge_parents, 2),
        "suroccupation": pl.when(spp < 9).then(8).when((spp >= 9) & (spp < 12)).then(4).otherwise(0),
        "logement_indigne": pts(col("habitat_indigne") | has(codes.m_indigne), 10),
        "enfants": pl.when(ne > 0)
        .then(pl.when(ne == 1).then(6).otherwise(4 * ne).clip(upper_bound=16))
        .otherwise(0),
        "parent_isole": pts(col("parent_isole"), 5),
        "jeune_menage": pts(
            col("date_naissance_codemandeur").is_not_null()
            & (age_d + months_to("date_naissance_codemandeur") // 12 <= 55),
            3,
        ),
        "handicap": pts(col("handicap_menage"), 4),
        "taux_effort": pl.when((te >= 0.3) & (te < 0.4))
        .then(5)
        .when((te >= 0.4) & (te < 0.5))
        .then(10)
        .when(te >= 0.5)
        .then(15)
        .otherwise(0),
        "reste_a_vivre": pl.when(rav < 10).then(10).when((rav >= 10) & (rav < 15)).then(5).otherwise(0),
        "menace_expulsion": pts(col("menace_expulsion") | has(codes.m_expulsion), 20),
        "violences": pts(col("violences_couple") | has(codes.m_violences), 20),
        "logement_repris": pts(has(codes.m_repris), 10),
        "emploi_precaire": pts(col("situation_professionnelle").is_in(codes.precaire), 4),
        "rapprochement_travail": pts(
            has(codes.m_travail)
            & ((col("temps_trajet_travail") >= 45) | col(WISHES).list.contains(col("commune_travail"))),
            5,
        ),
        "jeune_decohabitation": pts((age_d >= 18) & (age_d < 30) & has(codes.m_decohabitation), 3),
        "accompagnement_social": pts(col("suivi_travailleur_social"), 5),
        "refus_proposition": pl.when((col("nb_refus_propositions") > 0) & window)
        .then((-10 * col("nb_refus_propositions")).clip(lower_bound=-20))
        .otherwise(0),
    }
    flag_cond = {pid: col(f).fill_null(False) for pid, f, _, _ in PRIORITIES if f}
    flag_cond["prio_structure_transition"] = (
        col("heberge_structure_transition") | (sl == codes.structure)
    ).fill_null(False)
    flag_cond["prio_suroccupation_enfant"] = (
        col("logement_suroccupe_ou_indecent") & ((ne > 0) | (col("nb_enfants_moins_14") > 0))
    ).fill_null(False)
    flag_cond["prio_sans_logement"] = sl.is_in(codes.sans_logement).fill_null(False)
    step1 = [e.cast(pl.Int64).alias(c) for c, e in criteria.items()]
    step1 += [flag_cond[pid].alias(pid) for pid in FLAGS]
    rub = [col(c) for c in RUBRIC_LOGEMENT]
    step2 = []
    if breakdown:  # the rubric's winner keeps its points (the first declared on a tie), the others 0
        for i, c in enumerate(RUBRIC_LOGEMENT):
            keep = rub[i] > pl.max_horizontal([pl.lit(0), *rub[:i]])
            if i + 1 < len(rub):
                keep = keep & (rub[i] >= pl.max_horizontal(rub[i + 1 :]))
            step2.append(pl.when(keep).then(rub[i]).otherwise(0).alias(c))
    caps = []
    for g, (members, cap) in GROUPS.items():
        s = pl.sum_horizontal([col(c) for c in members])
        caps.append((s.clip(upper_bound=cap) - s).alias(f"plafond_{g}"))
    prio_points = [pts(col(pid), p).alias(pid + "_points") for pid, _, _, p in PRIORITIES if p]
    others = [col(c) for c in CRITERIA if c not in RUBRIC_LOGEMENT]
    total = pl.sum_horizontal(
        [*others, pl.max_horizontal(rub), *[col(c.meta.output_name()) for c in caps + prio_points]]
    )
    tier = (
        pl.when(col("prio_dalo"))
        .then(2)
        .when(pl.any_horizontal([col(f) for f in FLAGS]))
        .then(1)
        .otherwise(0)
    )
    keep = [total.alias("total"), tier.alias("tier"), *FLAGS]
    if breakdown:
        keep += CRITERIA + [pid + "_points" for pid, _, _, p in PRIORITIES if p]
        keep += [f"plafond_{g}" for g in GROUPS]

    def run(frame):
        lazy = frame.lazy().with_columns(variables).with_columns(step1).with_columns(caps + prio_points)
        if breakdown:  # each keep test reads the raw points (one with_columns); the rubric's max is unchanged
            lazy = lazy.with_columns(step2)
        return lazy.select(keep).collect()

    return run


# --------------------------------------------------------------------------------------------------
# DuckDB: one query, CASE WHEN per criterion
# --------------------------------------------------------------------------------------------------


def duckdb_sql(codes: Codes, date: datetime.date, breakdown: bool) -> str:
    mb, db, eom = _today(date)

    def months_to(f: str) -> str:
        return (
            f"({mb} - ((year({f}) - 1970) * 12 + month({f}) - 1) - (least(day({f}), {eom}) > {db})::BIGINT)"
        )

    def has(bit: int) -> str:
        return f"((motifs & {bit}::UBIGINT) <> 0)"

    def in_(f: str, values: list[int]) -> str:
        return f"{f} IN ({', '.join(map(str, values))})"

    variables = f"""
        {months_to("date_depot")} AS anciennete_mois,
        CASE WHEN coalesce({in_("typologie_souhaitee", codes.grand)}, false) THEN 24 ELSE 30 END
          AS delai_anormal,
        floor({months_to("date_naissance_demandeur")} / 12)::BIGINT AS age_demandeur,
        floor({months_to("date_naissance_codemandeur")} / 12)::BIGINT AS age_codemandeur,
        {months_to("date_decision_dalo")} AS mois_dalo,
        {months_to("date_dernier_refus")} AS mois_refus,
        CASE WHEN ressources_mensuelles <> 0 THEN loyer_actuel / ressources_mensuelles END AS taux_effort_v,
        (ressources_mensuelles - coalesce(loyer_actuel, 0))
          / (1 + 0.5::DOUBLE * greatest(nb_personnes - 1 - coalesce(nb_enfants_moins_14, 0), 0)
             + 0.3::DOUBLE * coalesce(nb_enfants_moins_14, 0)) / 30 AS reste_a_vivre_v,
        CASE WHEN nb_personnes <> 0 THEN surface_actuelle / nb_personnes END AS spp"""
    crit = {
        "anciennete": "least(anciennete_mois, 120)",
        "delai_anormalement_long": "CASE WHEN anciennete_mois >= delai_anormal THEN 20 ELSE 0 END",
        "dalo": "CASE WHEN dalo THEN 50 ELSE 0 END",
        "attente_dalo": "CASE WHEN dalo AND mois_dalo IS NOT NULL "
        "THEN least(floor(mois_dalo / 3)::BIGINT * 5, 20) ELSE 0 END",
        "sans_abri": f"CASE WHEN {in_('situation_logement', codes.sans_abri)} THEN 17 ELSE 0 END",
        "hebergement_temporaire": f"CASE WHEN {in_('situation_logement', codes.hebergement)} "
        "THEN 12 ELSE 0 END",
        "heberge_tiers": f"CASE WHEN situation_logement = {codes.heberge_tiers} THEN 4 ELSE 0 END",
        "heberge_parents": f"CASE WHEN situation_logement = {codes.heberge_parents} THEN 2 ELSE 0 END",
        "suroccupation": "CASE WHEN spp < 9 THEN 8 WHEN spp >= 9 AND spp < 12 THEN 4 ELSE 0 END",
        "logement_indigne": f"CASE WHEN habitat_indigne OR {has(codes.m_indigne)} THEN 10 ELSE 0 END",
        "enfants": "CASE WHEN nb_enfants > 0 "
        "THEN least(CASE WHEN nb_enfants = 1 THEN 6 ELSE 4 * nb_enfants END, 16) ELSE 0 END",
        "parent_isole": "CASE WHEN parent_isole THEN 5 ELSE 0 END",
        "jeune_menage": "CASE WHEN date_naissance_codemandeur IS NOT NULL "
        "AND age_demandeur + age_codemandeur <= 55 THEN 3 ELSE 0 END",
        "handicap": "CASE WHEN handicap_menage THEN 4 ELSE 0 END",
        "taux_effort": "CASE WHEN taux_effort_v >= 0.3 AND taux_effort_v < 0.4 THEN 5 "
        "WHEN taux_effort_v >= 0.4 AND taux_effort_v < 0.5 THEN 10 "
        "WHEN taux_effort_v >= 0.5 THEN 15 ELSE 0 END",
        "reste_a_vivre": "CASE WHEN reste_a_vivre_v < 10 THEN 10 "
        "WHEN reste_a_vivre_v >= 10 AND reste_a_vivre_v < 15 THEN 5 ELSE 0 END",
        "menace_expulsion": f"CASE WHEN menace_expulsion OR {has(codes.m_expulsion)} THEN 20 ELSE 0 END",
        "violences": f"CASE WHEN violences_couple OR {has(codes.m_violences)} THEN 20 ELSE 0 END",
        "logement_repris": f"CASE WHEN {has(codes.m_repris)} THEN 10 ELSE 0 END",
        "emploi_precaire": f"CASE WHEN {in_('situation_professionnelle', codes.precaire)} THEN 4 ELSE 0 END",
        "rapprochement_travail": f"CASE WHEN {has(codes.m_travail)} AND (temps_trajet_travail >= 45 "
        f"OR list_contains({WISHES}, commune_travail)) THEN 5 ELSE 0 END",
        "jeune_decohabitation": f"CASE WHEN age_demandeur >= 18 AND age_demandeur < 30 "
        f"AND {has(codes.m_decohabitation)} THEN 3 ELSE 0 END",
        "accompagnement_social": "CASE WHEN suivi_travailleur_social THEN 5 ELSE 0 END",
        "refus_proposition": f"CASE WHEN nb_refus_propositions > 0 AND date_dernier_refus <= DATE '{date}' "
        "AND mois_refus < 12 THEN greatest(-10 * nb_refus_propositions, -20) ELSE 0 END",
    }
    flag = {pid: f"coalesce({f}, false)" for pid, f, _, _ in PRIORITIES if f}
    flag["prio_structure_transition"] = (
        f"coalesce(heberge_structure_transition OR situation_logement = {codes.structure}, false)"
    )
    flag["prio_suroccupation_enfant"] = (
        "coalesce(logement_suroccupe_ou_indecent AND (nb_enfants > 0 OR nb_enfants_moins_14 > 0), false)"
    )
    flag["prio_sans_logement"] = f"coalesce({in_('situation_logement', codes.sans_logement)}, false)"
    step1 = [f"({e})::BIGINT AS {c}" for c, e in crit.items()] + [f"{flag[pid]} AS {pid}" for pid in FLAGS]
    caps = {
        g: f"least({' + '.join(members)}, {cap}) - ({' + '.join(members)})"
        for g, (members, cap) in GROUPS.items()
    }
    prio_points = {pid: f"CASE WHEN {pid} THEN {p} ELSE 0 END" for pid, _, _, p in PRIORITIES if p}
    others = [c for c in CRITERIA if c not in RUBRIC_LOGEMENT]
    total = " + ".join(
        [*others, f"greatest({', '.join(RUBRIC_LOGEMENT)})", *caps.values(), *prio_points.values()]
    )
    tier = f"CASE WHEN prio_dalo THEN 2 WHEN {' OR '.join(FLAGS)} THEN 1 ELSE 0 END"
    keep = [f"{total} AS total", f"{tier} AS tier", *FLAGS]
    if breakdown:
        rub = RUBRIC_LOGEMENT
        for i, c in enumerate(rub):
            keep_i = f"{c} > greatest({', '.join(['0', *rub[:i]])})"
            if i + 1 < len(rub):
                keep_i += f" AND {c} >= greatest({', '.join(rub[i + 1 :])})"
            keep.append(f"CASE WHEN {keep_i} THEN {c} ELSE 0 END AS {c}")
        keep += [c for c in others]
        keep += [f"{e} AS {pid}_points" for pid, e in prio_points.items()]
        keep += [f"{e} AS plafond_{g}" for g, e in caps.items()]
    return (
        f"WITH v AS (SELECT *, {variables} FROM apps), c AS (SELECT {', '.join(step1)} FROM v) "
        f"SELECT {', '.join(keep)} FROM c"
    )


def duckdb_peer(codes: Codes, date: datetime.date, breakdown: bool, con) -> Callable[[Any], Any]:
    sql = duckdb_sql(codes, date, breakdown)
    rel = con.sql(sql)
    fetch = "to_arrow_table" if hasattr(rel, "to_arrow_table") else "arrow"

    def run(_):
        return getattr(con.sql(sql), fetch)()

    return run


def peers(catalogue, batch, date: datetime.date) -> tuple[dict[str, tuple[Any, Any, Any]], Any]:
    """{peer: (total-and-flags callable, breakdown callable, its input)} and the DuckDB connection."""
    import duckdb

    codes = Codes(catalogue)
    df, frame, table = frames(batch)
    con = duckdb.connect()
    con.register("apps", table)
    return {
        "pandas": (pandas_peer(codes, date, False), pandas_peer(codes, date, True), df),
        "polars": (polars_peer(codes, date, False), polars_peer(codes, date, True), frame),
        "duckdb": (duckdb_peer(codes, date, False, con), duckdb_peer(codes, date, True, con), None),
    }, con
