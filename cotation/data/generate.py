"""Stage 2 (data): seeded synthetic applications that look like a French social-housing demand stock.

:func:`generate_applications` draws ``n`` applications with NumPy only (no per-row Python), so
millions of rows take seconds. The same seed always gives the same batch. The stock imitates a
large metropolis (Toulouse area communes, INSEE codes 31xxx): about 40 % single persons, median
monthly resources around 1 500 euros, a third of private tenants, a fifth of HLM tenants asking for
a transfer, a few percent homeless or sheltered, 3 % DALO. Every generated batch passes the
validation of :func:`cotation.data.batch.read_applications` with the same ``date_calcul``.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..grid.catalogue import Catalogue, Field, Kind, default_catalogue
from .batch import Batch, Column, absent_column, day_number
from .buffers import from_numpy, objects

__all__ = ["COMMUNES", "generate_applications", "generate_dwellings"]

#: Toulouse metropolis communes (INSEE codes), Toulouse first, with their weight as a first wish.
COMMUNES: tuple[tuple[str, float], ...] = (
    ("31555", 40.0),
    ("31149", 4.0),
    ("31557", 3.5),
    ("31069", 3.0),
    ("31044", 2.0),
    ("31157", 2.0),
    ("31561", 1.5),
    ("31506", 1.5),
    ("31446", 1.8),
    ("31113", 1.5),
    ("31424", 1.2),
    ("31488", 1.0),
    ("31588", 1.0),
    ("31022", 1.0),
    ("31182", 0.8),
    ("31282", 0.8),
    ("31467", 0.6),
    ("31445", 0.6),
    ("31056", 0.7),
    ("31150", 0.7),
    ("31032", 0.6),
    ("31541", 0.5),
    ("31351", 0.4),
    ("31417", 0.6),
    ("31088", 0.4),
    ("31291", 0.5),
    ("31186", 0.3),
    ("31116", 0.6),
    ("31230", 0.3),
    ("31091", 0.4),
    ("31490", 0.5),
    ("31293", 0.3),
    ("31205", 0.3),
    ("31355", 0.2),
    ("31184", 0.2),
    ("31163", 0.2),
    ("31418", 0.2),
    ("31352", 0.1),
    ("31053", 0.3),
    ("31003", 0.2),
)

SIZE_P = (0.40, 0.24, 0.15, 0.11, 0.06, 0.03, 0.01)
SITUATIONS: dict[str, float] = {
    "locataire_prive": 0.31,
    "heberge_parents": 0.14,
    "heberge_tiers": 0.11,
    "locataire_hlm": 0.20,
    "hotel": 0.015,
    "structure_hebergement": 0.035,
    "sans_abri": 0.012,
    "squat": 0.005,
    "foyer": 0.04,
    "residence_etudiante": 0.02,
    "proprietaire": 0.02,
    "logement_fonction": 0.01,
    "camping_caravane": 0.005,
    "autre": 0.048,
}
PRO: dict[str, float] = {
    "cdi": 0.30,
    "cdd": 0.10,
    "interim": 0.05,
    "apprentissage": 0.02,
    "fonctionnaire": 0.05,
    "independant": 0.03,
    "chomage": 0.18,
    "retraite": 0.08,
    "etudiant": 0.04,
    "sans_activite": 0.15,
}
WORKERS = ("cdi", "cdd", "interim", "apprentissage", "fonctionnaire", "independant")
TENANTS = ("locataire_prive", "locataire_hlm", "foyer", "residence_etudiante", "logement_fonction")
OWN_HOME = (*TENANTS, "proprietaire")
HOMELESS = ("hotel", "structure_hebergement", "sans_abri", "squat", "camping_caravane")
#: Main motif by current housing situation (others: the general mix below).
MAIN_MOTIFS: dict[str, dict[str, float]] = {
    "locataire_prive": {
        "trop_cher": 0.45,
        "trop_petit": 0.25,
        "procedure_expulsion": 0.07,
        "logement_repris": 0.08,
        "logement_indigne": 0.07,
        "rapprochement_travail": 0.08,
    },
    "locataire_hlm": {
        "trop_petit": 0.40,
        "trop_grand": 0.10,
        "trop_cher": 0.15,
        "handicap": 0.08,
        "rapprochement_travail": 0.12,
        "sante": 0.07,
        "rapprochement_famille": 0.08,
    },
    "heberge_parents": {"decohabitation": 0.75, "futur_couple": 0.15, "sans_logement": 0.10},
    "heberge_tiers": {"sans_logement": 0.60, "decohabitation": 0.20, "divorce_separation": 0.20},
    "homeless": {"sans_logement": 0.90, "violences": 0.05, "procedure_expulsion": 0.05},
    "other": {
        "sans_logement": 0.15,
        "trop_cher": 0.20,
        "rapprochement_travail": 0.15,
        "divorce_separation": 0.15,
        "sante": 0.10,
        "mutation_professionnelle": 0.10,
        "autre": 0.15,
    },
}
EXTRA_MOTIFS: dict[str, float] = {
    "trop_cher": 0.18,
    "trop_petit": 0.14,
    "rapprochement_travail": 0.12,
    "rapprochement_services": 0.10,
    "rapprochement_famille": 0.10,
    "sante": 0.08,
    "handicap": 0.05,
    "divorce_separation": 0.07,
    "violences": 0.03,
    "logement_indigne": 0.05,
    "regroupement_familial": 0.03,
    "demolition": 0.01,
    "autre": 0.04,
}
PRIORITY_FLAGS: dict[str, float] = {
    "accord_collectif": 0.03,
    "sortie_act": 0.003,
    "reprise_activite": 0.02,
    "habitat_indigne": 0.02,
    "violences_couple": 0.02,
    "victime_viol_agression": 0.003,
    "sortie_prostitution": 0.001,
    "victime_traite": 0.001,
    "logement_suroccupe_ou_indecent": 0.04,
    "menace_expulsion": 0.02,
    "sortie_ase": 0.005,
    "difficultes_financieres": 0.06,
}
BASE_TYPOLOGY = np.array([0, 1, 1, 2, 3, 3, 4, 5])  # index = household size
YEAR = 365.25


@dataclass
class _Draw:
    """The generator, the size, the computation day, and the columns built so far."""

    rng: np.random.Generator
    n: int
    today: int
    cols: dict[str, Column]

    def put(self, name: str, values: np.ndarray, valid: np.ndarray | None = None) -> None:
        self.cols[name] = Column(values, None if valid is None or valid.all() else valid)


def generate_applications(
    n: int,
    *,
    seed: int = 0,
    date_calcul: datetime.date = datetime.date(2026, 1, 1),
    catalogue: Catalogue | None = None,
) -> Batch:
    """``n`` synthetic applications, deterministic for ``seed``, all dated on or before ``date_calcul``.

    Fields of ``catalogue`` that the generator does not know (local fields) are all missing
    (sets and communes: empty); category values absent from the catalogue become missing.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    catalogue = catalogue or default_catalogue()
    d = _Draw(np.random.default_rng(seed), n, day_number(date_calcul), {})
    household = _household(d)
    _dates(d, household)
    _resources(d, household)
    housing = _housing(d)
    _motifs(d, housing)
    _wishes(d, household)
    _labels(d, housing)
    _work(d)
    ids, text = _ids(d)
    cols = _fit(d.cols, catalogue, n)
    _verified(cols, catalogue, seed, n)
    return Batch(catalogue, ids, cols, "<generated>", ())._with_id_strings(text)


VERIFIED_P = 0.7  # share of the declared justificatifs that a caseworker has checked


def _verified(cols: dict[str, Column], catalogue: Catalogue, seed: int, n: int) -> None:
    """``justificatifs_verifies``: each criterion's document checked with probability VERIFIED_P (its
    own random stream, so that the other fields do not depend on the grid's justificatifs)."""
    f = catalogue.get("justificatifs_verifies")
    if f is None or f.kind is not Kind.SET or not f.values:
        return
    rng = np.random.default_rng([seed, 1])
    bits = np.zeros(n, np.uint64)
    for k in range(len(f.values)):
        bits |= (rng.random(n) < VERIFIED_P).astype(np.uint64) << np.uint64(k)
    cols[f.name] = Column(bits, None)


def _choice(d: _Draw, probs: dict[str, float] | tuple[float, ...], size: int | None = None) -> np.ndarray:
    """Indices drawn with the given (normalised) probabilities."""
    p = np.array(list(probs.values()) if isinstance(probs, dict) else probs, np.float64)
    return d.rng.choice(len(p), size=d.n if size is None else size, p=p / p.sum())


def _codes(field: str, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Codes in the standard catalogue of ``names`` (values of category/set ``field``)."""
    values = default_catalogue()[field].values
    return np.array([values.index(name) for name in names], np.int64)


def _among(picked: np.ndarray, names: list[str], subset: tuple[str, ...]) -> np.ndarray:
    """Rows whose drawn index (into ``names``) names a value of ``subset``."""
    return np.isin(picked, [names.index(s) for s in subset])


# --- household -------------------------------------------------------------------------------------


def _household(d: _Draw) -> dict[str, np.ndarray]:
    size = _choice(d, SIZE_P) + 1
    p_two = np.where(size == 2, 0.6, 0.68)
    adults = np.where((size >= 2) & (d.rng.random(d.n) < p_two), 2, 1)
    children = size - adults
    under14 = d.rng.binomial(children, 0.7)
    d.put("nb_personnes", size.astype(np.int32))
    d.put("nb_adultes", adults.astype(np.int32))
    d.put("nb_enfants", children.astype(np.int32))
    d.put("nb_enfants_moins_14", under14.astype(np.int32))
    d.put("parent_isole", (adults == 1) & (children > 0))
    _family(d, adults)
    _health(d, adults, children)
    return {"size": size, "adults": adults, "children": children}


def _family(d: _Draw, adults: np.ndarray) -> None:
    couple = _choice(d, {"marie": 0.45, "pacse": 0.2, "concubinage": 0.35})
    single = _choice(d, {"celibataire": 0.55, "divorce": 0.2, "separe": 0.15, "veuf": 0.1})
    couple_codes = _codes("situation_familiale", ["marie", "pacse", "concubinage"])[couple]
    single_codes = _codes("situation_familiale", ["celibataire", "divorce", "separe", "veuf"])[single]
    d.put("situation_familiale", np.where(adults == 2, couple_codes, single_codes).astype(np.int8))


def _health(d: _Draw, adults: np.ndarray, children: np.ndarray) -> None:
    handicap = d.rng.random(d.n) < 0.08
    d.put("handicap_menage", handicap)
    d.put("besoin_logement_adapte", handicap & (d.rng.random(d.n) < 0.4))
    d.put("grossesse", (d.rng.random(d.n) < 0.03 + 0.02 * (adults == 2)) & (children < 4))


def _dates(d: _Draw, household: dict[str, np.ndarray]) -> None:
    filed_ago = np.floor(3652 * d.rng.beta(1.0, 2.2, d.n)).astype(np.int64)
    depot = d.today - filed_ago
    d.put("date_depot", depot.astype(np.int32))
    renewed = filed_ago >= 365
    renewal = d.today - d.rng.integers(0, 365, d.n)
    d.put("date_renouvellement", np.where(renewed, renewal, 0).astype(np.int32), renewed)
    age = _ages(d, household, filed_ago)
    household["age"] = age
    birth = d.today - np.floor(age * YEAR).astype(np.int64)
    d.put("date_naissance_demandeur", birth.astype(np.int32))
    partner_age = np.clip(age + d.rng.normal(0, 4, d.n), 18 + filed_ago / YEAR + 0.01, 90)
    partner = d.today - np.floor(partner_age * YEAR).astype(np.int64)
    two = household["adults"] == 2
    d.put("date_naissance_codemandeur", np.where(two, partner, 0).astype(np.int32), two)


def _ages(d: _Draw, household: dict[str, np.ndarray], filed_ago: np.ndarray) -> np.ndarray:
    """Applicant ages (years, fractional) at date_calcul: 18-90, adult when the demand was filed."""
    mean = np.where(household["children"] > 0, 37.0, 44.0)
    age = d.rng.normal(mean, np.where(household["children"] > 0, 9.0, 16.0))
    return np.clip(age, 18.0 + filed_ago / YEAR + 0.01, 90.0)


# --- resources and housing ---------------------------------------------------------------------------


def _resources(d: _Draw, household: dict[str, np.ndarray]) -> None:
    scale = 1.0 + 0.22 * (household["size"] - 1) + 0.25 * (household["adults"] - 1)
    monthly = 1150.0 * scale * np.exp(d.rng.normal(0.0, 0.6, d.n))
    monthly = np.where(d.rng.random(d.n) < 0.04, 0.0, np.round(monthly, 2))
    household["monthly"] = monthly
    d.put("ressources_mensuelles", monthly)
    yearly = np.round(monthly * d.rng.uniform(10.0, 12.0, d.n) * np.exp(d.rng.normal(0, 0.12, d.n)))
    known = d.rng.random(d.n) >= 0.12
    d.put("revenu_fiscal_reference", np.where(known, yearly, 0.0), known)


def _housing(d: _Draw) -> np.ndarray:
    """Current housing (drawn index into SITUATIONS), rooms, surface and rent."""
    names = list(SITUATIONS)
    situation = _choice(d, SITUATIONS)
    d.put("situation_logement", _codes("situation_logement", names)[situation].astype(np.int8))
    rooms = np.clip(d.rng.poisson(1.6, d.n) + 1, 1, 7)
    surface = np.round(12.0 + 17.0 * rooms + d.rng.normal(0, 6, d.n), 1).clip(9, None)
    own = _among(situation, names, OWN_HOME)
    homeless = _among(situation, names, HOMELESS)
    known = (own & (d.rng.random(d.n) < 0.92)) | (~own & ~homeless & (d.rng.random(d.n) < 0.25))
    d.put("surface_actuelle", np.where(known, surface, 0.0), known)
    d.put("pieces_actuelles", np.where(known, rooms, 0).astype(np.int32), known)
    hlm = situation == names.index("locataire_hlm")
    per_m2 = np.where(hlm, 6.5, 12.5) * np.exp(d.rng.normal(0, 0.15, d.n))
    flat_rent = _among(situation, names, ("foyer", "residence_etudiante"))
    rent = np.where(flat_rent, 420.0, per_m2 * surface)
    paying = _among(situation, names, TENANTS) & (d.rng.random(d.n) < 0.95)
    d.put("loyer_actuel", np.where(paying, np.round(rent, 2), 0.0), paying)
    return situation


def _motif_group(situation: np.ndarray) -> np.ndarray:
    """Index into MAIN_MOTIFS of each row's motif profile."""
    names, groups = list(SITUATIONS), list(MAIN_MOTIFS)
    table = np.full(len(names), groups.index("other"))
    for i, name in enumerate(names):
        if name in MAIN_MOTIFS:
            table[i] = groups.index(name)
        elif name in HOMELESS:
            table[i] = groups.index("homeless")
    return table[situation]


def _motifs(d: _Draw, situation: np.ndarray) -> None:
    """A main motif by housing situation, plus 0-2 extra motifs from a general mix."""
    group = _motif_group(situation)
    mask = np.zeros(d.n, np.uint64)
    for g, probs in enumerate(MAIN_MOTIFS.values()):
        rows = np.flatnonzero(group == g)
        mask[rows] |= _bits(_codes("motifs", list(probs))[_choice(d, probs, len(rows))])
    extra = _codes("motifs", list(EXTRA_MOTIFS))
    for share in (0.45, 0.15):
        rows = np.flatnonzero(d.rng.random(d.n) < share)
        mask[rows] |= _bits(extra[_choice(d, EXTRA_MOTIFS, len(rows))])
    d.put("motifs", mask)


def _bits(codes: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint64(1), codes.astype(np.uint64))


# --- wishes ----------------------------------------------------------------------------------------------


def _wishes(d: _Draw, household: dict[str, np.ndarray]) -> None:
    shift = _choice(d, (0.15, 0.7, 0.15)) - 1
    wanted = np.clip(BASE_TYPOLOGY[household["size"]] + shift, 0, 5)
    d.put("typologie_souhaitee", wanted.astype(np.int8))
    lower = (wanted > 0) & (d.rng.random(d.n) < 0.4)
    upper = (wanted < 5) & (d.rng.random(d.n) < 0.5)
    accepted = _bits(wanted)
    accepted |= np.where(lower, _bits(np.maximum(wanted - 1, 0)), np.uint64(0))
    accepted |= np.where(upper, _bits(np.minimum(wanted + 1, 5)), np.uint64(0))
    d.put("typologies_acceptees", accepted)
    d.put("communes_souhaitees", _communes_wished(d))


def _commune_table() -> tuple[np.ndarray, np.ndarray]:
    codes = np.array([int(c) for c, _ in COMMUNES], np.int32)
    weights = np.array([w for _, w in COMMUNES], np.float64)
    return codes, weights / weights.sum()


def _communes_wished(d: _Draw) -> np.ndarray:
    """1-8 distinct communes per row, ordered by preference (weighted draws without repeats)."""
    codes, weights = _commune_table()
    cdf = np.cumsum(weights)
    count = np.minimum(d.rng.geometric(0.38, d.n), 8)
    out = np.full((d.n, 8), -1, np.int32)
    for k in range(8):
        pending = np.flatnonzero(count > k)
        while len(pending):
            picked = codes[
                np.minimum(np.searchsorted(cdf, d.rng.random(len(pending)) * cdf[-1]), len(codes) - 1)
            ]
            repeat = (out[pending, :k] == picked[:, None]).any(axis=1)
            out[pending[~repeat], k] = picked[~repeat]
            pending = pending[repeat]
    return out


# --- labels, refusals, work ------------------------------------------------------------------------------


def _labels(d: _Draw, situation: np.ndarray) -> None:
    names = list(SITUATIONS)
    depot = d.cols["date_depot"].values.astype(np.int64)
    dalo = d.rng.random(d.n) < np.where(_among(situation, names, HOMELESS), 0.15, 0.025)
    dalo &= depot < d.today
    decision = depot + np.floor(d.rng.random(d.n) * (d.today - depot)).astype(np.int64) + 1
    d.put("dalo", dalo)
    d.put("date_decision_dalo", np.where(dalo, np.minimum(decision, d.today), 0).astype(np.int32), dalo)
    d.put("pdalhpd", d.rng.random(d.n) < 0.05)
    for name, p in PRIORITY_FLAGS.items():
        d.put(name, d.rng.random(d.n) < p)
    transition = _among(situation, names, ("structure_hebergement", "foyer"))
    d.put("heberge_structure_transition", d.rng.random(d.n) < np.where(transition, 0.3, 0.005))
    refusals = _choice(d, (0.85, 0.10, 0.04, 0.01))
    last = depot + np.floor(d.rng.random(d.n) * (d.today - depot + 1)).astype(np.int64)
    d.put("nb_refus_propositions", refusals.astype(np.int32))
    d.put("date_dernier_refus", np.where(refusals > 0, last, 0).astype(np.int32), refusals > 0)


def _work(d: _Draw) -> None:
    age = (d.today - d.cols["date_naissance_demandeur"].values) / YEAR
    names = list(PRO)
    pro = _choice(d, PRO)
    retired = (age >= 63) & (d.rng.random(d.n) < 0.85)
    pro = np.where(retired, names.index("retraite"), pro)
    d.put("situation_professionnelle", _codes("situation_professionnelle", names)[pro].astype(np.int8))
    works = _among(pro, names, WORKERS)
    codes, weights = _commune_table()
    where = codes[_choice(d, tuple(weights))]
    known = works & (d.rng.random(d.n) < 0.9)
    d.put("commune_travail", np.where(known, where, -1).astype(np.int32), known)
    minutes = np.clip(np.round(d.rng.gamma(2.5, 12.0, d.n)), 1, 180).astype(np.int32)
    timed = works & (d.rng.random(d.n) < 0.9)
    d.put("temps_trajet_travail", np.where(timed, minutes, 0).astype(np.int32), timed)


def _ids(d: _Draw) -> tuple[np.ndarray, pa.Array]:
    """Unique ids '031' + filing year + 8-digit sequence, e.g. '031202400000042' (and as Arrow)."""
    years = (
        d.cols["date_depot"].values.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    )
    number = 31 * 10**12 + years * 10**8 + np.arange(d.n, dtype=np.int64)
    text = pc.utf8_lpad(pc.cast(from_numpy(number), pa.string()), 15, "0")
    return objects(text), text


# --- fit to the catalogue ------------------------------------------------------------------------------


def _fit(
    cols: dict[str, Column], catalogue: Catalogue, n: int, standard: Catalogue | None = None
) -> dict[str, Column]:
    """One column per non-id catalogue field: generated ones remapped, unknown ones missing."""
    standard = standard or default_catalogue()
    out = {}
    for f in catalogue:
        if f.kind is Kind.ID:
            continue
        known = f.name in cols and f.name in standard and standard[f.name].kind is f.kind
        out[f.name] = _remap(standard[f.name], f, cols[f.name]) if known else absent_column(f, n)
    return out


def _remap(std: Field, f: Field, col: Column) -> Column:
    """Category/set codes of the standard catalogue re-expressed in ``f``'s values."""
    if f.kind is Kind.COMMUNES and f.width != col.values.shape[1]:
        out = np.full((len(col.values), f.width), -1, np.int32)
        keep = min(f.width, col.values.shape[1])
        out[:, :keep] = col.values[:, :keep]
        return Column(out, None)
    if std.values == f.values or f.kind not in (Kind.CATEGORY, Kind.SET):
        return col
    table = np.array([f.values.index(v) if v in f.values else -1 for v in std.values], np.int64)
    if f.kind is Kind.CATEGORY:
        codes = np.where(col.values >= 0, table[np.maximum(col.values, 0)], -1)
        valid = codes >= 0
        return Column(codes.astype(np.int8), None if valid.all() else valid)
    bits = np.zeros(len(col.values), np.uint64)
    for i, j in enumerate(table):
        if j >= 0:
            hit = (col.values >> np.uint64(i)) & np.uint64(1)
            bits |= hit << np.uint64(j)
    return Column(bits, None)


# --- dwellings ---------------------------------------------------------------------------------------------

TYPOLOGY_P = (0.10, 0.25, 0.33, 0.22, 0.08, 0.02)  # T1..T6
RENT_PER_M2 = {"PLAI": 5.6, "PLUS": 6.4, "PLS": 9.6, "PLI": 11.5}  # EUR/m2/month, orders of magnitude
RESERVATION_P = {
    "prefet": 0.25,
    "commune": 0.20,
    "epci": 0.05,
    "action_logement": 0.30,
    "bailleur": 0.18,
    "autre": 0.02,
}


def _default_mix(zone: str, date_calcul: datetime.date | None) -> dict[str, float]:
    """PLUS and PLS, and PLAI when its ceilings for the zone and year are known (see generate_dwellings)."""
    from .ceilings import MissingCeilingError, require

    if date_calcul is not None:
        try:
            require(date_calcul.year, "PLAI", zone)
            return {"PLAI": 0.2, "PLUS": 0.55, "PLS": 0.25}
        except MissingCeilingError:
            pass
    return {"PLUS": 0.7, "PLS": 0.3}


def generate_dwellings(
    n: int,
    *,
    seed: int = 0,
    financings: dict[str, float] | None = None,
    zone: str = "autres",
    catalogue: Catalogue | None = None,
    vacancies_from: datetime.date | None = None,
    vacancy_months: int = 12,
    date_calcul: datetime.date | None = None,
) -> Batch:
    """``n`` synthetic vacant dwellings in the communes of :data:`COMMUNES`, deterministic for ``seed``.

    About 20 % are in a QPV; each has a reservation holder (State, commune, EPCI, Action Logement,
    the landlord...). With ``vacancies_from``, each gets a ``date_liberation`` drawn uniformly over
    the ``vacancy_months`` months from that date (for ``cotation simulate``); the other columns
    are the same as without it.

    ``financings``: the mix of financings. Default PLUS 70 %, PLS 30 %; with ``date_calcul``, PLAI
    20 % (PLUS 55 %, PLS 25 %) whenever the income ceilings (shipped, or supplied through
    ``COTATION_PLAFONDS``) cover PLAI in ``zone`` for the year of ``date_calcul``, so that the
    dwellings can always be ranked (the shipped tables have PLAI for 2022 in every zone and for 2025
    in Paris and its neighbouring communes only).
    """
    from ..grid.catalogue import dwelling_catalogue

    if n < 0:
        raise ValueError("n must be >= 0")
    catalogue = catalogue or dwelling_catalogue()
    rng = np.random.default_rng(seed)
    d = _Draw(rng, n, 0, {})
    codes, weights = _commune_table()
    d.put("commune", rng.choice(codes, size=n, p=weights).astype(np.int32))
    d.put("zone", np.full(n, catalogue["zone"].code_of(zone), np.int8))
    typ = rng.choice(6, size=n, p=TYPOLOGY_P)
    d.put("typologie", typ.astype(np.int8))
    rooms = typ + 1
    d.put("pieces", rooms.astype(np.int32))
    surface = np.round(14.0 + 15.5 * rooms + rng.normal(0, 4, n), 1).clip(9, None)
    d.put("surface", surface)
    mix = financings or _default_mix(zone, date_calcul)
    names = list(mix)
    fin = rng.choice(len(names), size=n, p=np.array(list(mix.values())) / sum(mix.values()))
    d.put("financement", np.array([catalogue["financement"].code_of(names[i]) for i in fin], np.int8))
    rate = np.array([RENT_PER_M2[names[i]] for i in fin])
    d.put("loyer", np.round(surface * rate * rng.uniform(0.9, 1.1, n), 2))
    d.put("charges", np.round(surface * rng.uniform(1.2, 2.4, n), 2))
    d.put("qpv", rng.random(n) < 0.2)
    d.put("accessible", rng.random(n) < 0.15)
    floor = rng.integers(0, 9, n)
    d.put("etage", floor.astype(np.int32))
    d.put("ascenseur", (floor >= 3) & (rng.random(n) < 0.75) | (rng.random(n) < 0.1))
    res = list(RESERVATION_P)
    d.put(
        "reservataire",
        np.array(
            [
                catalogue["reservataire"].code_of(res[i])
                for i in rng.choice(len(res), size=n, p=list(RESERVATION_P.values()))
            ],
            np.int8,
        ),
    )
    if vacancies_from is not None:
        _vacancies(d, seed, vacancies_from, vacancy_months)
    ids = np.array([f"L{i + 1:06d}" for i in range(n)], dtype=object)
    return Batch(catalogue, ids, _fit(d.cols, catalogue, n, dwelling_catalogue()), "<generated>", ())


def _vacancies(d: _Draw, seed: int, start: datetime.date, months: int) -> None:
    """``date_liberation`` uniform over ``months`` months from ``start`` (its own random stream, so
    that the other columns do not change)."""
    rng = np.random.default_rng([seed, 14])
    y, m = divmod(start.month - 1 + months, 12)
    last = calendar.monthrange(start.year + y, m + 1)[1]
    end = datetime.date(start.year + y, m + 1, min(start.day, last))
    d.put("date_liberation", rng.integers(day_number(start), day_number(end), d.n).astype(np.int64))
