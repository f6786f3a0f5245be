"""Stage 7 (experiment): the allocation objectives of a territory (its CIA), as dated data, and what
an application counts for in them: priority public, resources quartile.

Three objectives, each with its legal basis; the law's figures are built in (:data:`LEGAL_DEFAULTS`)
and a territory's YAML file (``cotation simulate --objectifs``) may set its own:

- ``publics_prioritaires``: at least 25 % of each reservation holder's yearly allocations (and of
  the landlord's own) to households recognised DALO or, failing them, to the priority publics of
  L441-1 CCH;
- ``premier_quartile_hors_qpv``: at least 25 % of the allocations outside QPV to applicants of the
  first quartile of resources per consumption unit (L441-1 CCH, from loi Égalité et citoyenneté);
- ``autres_quartiles_en_qpv``: at least 50 % of the allocations inside QPV to the other three
  quartiles (the CIA may set another figure).

The first-quartile threshold (€ per UC per year) is fixed yearly per EPCI by arrêté: the shipped
table ``cotation/resources/quartiles.yaml`` holds the figures whose source is known, a user may
supply another table or the amount itself, and a missing EPCI or year is error D160, never a guess.
Without any EPCI, the threshold is computed from the applications given, as the arrêté computes it
from the SNE (the first quartile of resources per UC), and every page says so. Who is a priority
public is :mod:`cotation.experiment.publics`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..data.batch import Batch
from ..errors import MAX_ROWS, Collector, DataError, DataProblem, did_you_mean
from ..grid import yamlio

__all__ = [
    "LEGAL_DEFAULTS",
    "Objective",
    "Objectives",
    "Threshold",
    "load_objectives",
    "load_thresholds",
    "quartiles",
    "require_threshold",
    "resources_per_uc",
]


@dataclass(frozen=True)
class Objective:
    """One objective: a minimum share of allocations, and the text it comes from."""

    id: str
    label: str
    minimum: float  # share, 0..1
    legal_basis: str


LEGAL_OBJECTIVES = (
    Objective(
        "publics_prioritaires",
        "Attributions aux ménages DALO et aux publics prioritaires, par réservataire",
        0.25,
        "Art. L441-1 CCH : au moins 25 % des attributions annuelles de chaque réservataire (et du "
        "bailleur sur ses logements non réservés) aux ménages DALO ou, à défaut, aux publics prioritaires",
    ),
    Objective(
        "premier_quartile_hors_qpv",
        "Attributions hors QPV aux demandeurs du premier quartile de ressources",
        0.25,
        "Art. L441-1 CCH (loi n° 2017-86 du 27 janvier 2017, art. 70) : au moins 25 % des attributions "
        "annuelles hors QPV aux demandeurs du premier quartile (ou relogés par le renouvellement urbain)",
    ),
    Objective(
        "autres_quartiles_en_qpv",
        "Attributions en QPV aux demandeurs des trois autres quartiles",
        0.50,
        "Art. L441-1 CCH : objectif fixé par la convention intercommunale d'attribution, à défaut au "
        "moins 50 % des attributions en QPV aux demandeurs des trois autres quartiles",
    ),
)
OBJECTIVE_IDS = tuple(o.id for o in LEGAL_OBJECTIVES)


@dataclass(frozen=True)
class Threshold:
    """The first-quartile threshold of one EPCI and year, € per consumption unit per year."""

    epci: str
    year: int
    amount: float
    source: str


@dataclass(frozen=True)
class Objectives:
    """A territory's objectives (its CIA), dated; ``epci`` and ``threshold`` fix the first quartile."""

    territory: str
    date: datetime.date | None
    objectives: tuple[Objective, ...]
    epci: str | None = None
    threshold: float | None = None  # € / UC / year given by the user (with threshold_source)
    threshold_source: str | None = None
    source: str = "défauts légaux (art. L441-1 CCH)"
    thresholds_file: Path | None = None

    def get(self, objective_id: str) -> Objective:
        return next(o for o in self.objectives if o.id == objective_id)

    def first_quartile(self, year: int, batch: Batch) -> Threshold:
        """The threshold for ``year``: the user's amount, the table's for the EPCI (D160 when
        missing), or, without EPCI, the first quartile of the given applications."""
        if self.threshold is not None:
            return Threshold(
                self.epci or self.territory, year, self.threshold, self.threshold_source or self.source
            )
        if self.epci is not None:
            return require_threshold(self.epci, year, load_thresholds(self.thresholds_file), self.source)
        rpu = resources_per_uc(batch)
        amount = float(np.quantile(rpu, 0.25, method="inverted_cdf")) if len(rpu) else 0.0
        return Threshold(
            self.territory,
            year,
            round(amount, 2),
            f"calculé sur les {len(rpu)} demandes fournies (premier quartile des ressources par UC, "
            "méthode de l'arrêté) faute d'EPCI déclaré",
        )


LEGAL_DEFAULTS = Objectives("Objectifs légaux", None, LEGAL_OBJECTIVES)


# -- resources per consumption unit and quartiles -------------------------------------------------------


def resources_per_uc(batch: Batch) -> np.ndarray:
    """Yearly resources per consumption unit (€/UC/year), the predefined variable
    ``ressources_annuelles_uc`` computed directly (tested equal): ``ressources_mensuelles`` x 12
    divided by ``unites_consommation`` (OECD-modified scale: 1 for the first adult, 0.5 per other
    person aged 14 or more, 0.3 per child under 14). ``ressources_mensuelles`` is required."""
    persons = batch.column("nb_personnes").values.astype(np.float64)
    kids_col = batch.column("nb_enfants_moins_14")
    kids = kids_col.values.astype(np.float64)
    if kids_col.valid is not None:
        kids = np.where(kids_col.valid, kids, 0.0)
    uc = 1 + 0.5 * np.maximum(persons - 1 - kids, 0) + 0.3 * np.minimum(kids, persons - 1)
    money = batch.column("ressources_mensuelles")
    monthly = money.values.astype(np.float64)
    if money.valid is not None:
        monthly = np.where(money.valid, monthly, 0.0)
    return monthly * 12 / uc


def quartiles(rpu: np.ndarray, first: float, reference: np.ndarray | None = None) -> np.ndarray:
    """The resources quartile 1..4 of each value of ``rpu``: 1 below the legal threshold ``first``
    (strictly: "inférieur à", L441-1 CCH); 2, 3, 4 split at the median and third quartile of
    ``reference`` (default ``rpu``), which no text fixes (they only describe the demand)."""
    ref = rpu if reference is None else reference
    median, third = np.quantile(ref, [0.5, 0.75], method="inverted_cdf") if len(ref) else (first, first)
    out = np.full(len(rpu), 4, np.int8)
    out[rpu <= third] = 3
    out[rpu <= median] = 2
    out[rpu < first] = 1
    return out


# -- the threshold table ----------------------------------------------------------------------------


def load_thresholds(path: str | Path | None = None) -> tuple[Threshold, ...]:
    """The first-quartile thresholds of ``path`` (default: the shipped table); D162 when malformed."""
    if path is None:
        return _shipped()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            [DataProblem("D162", "<seuils>", f"cannot read the threshold table: {exc}", source=str(p))]
        ) from None
    return _parse_thresholds(yamlio.load_plain(text), str(p))


@cache
def _shipped() -> tuple[Threshold, ...]:
    text = (resources.files("cotation") / "resources" / "quartiles.yaml").read_text(encoding="utf-8")
    return _parse_thresholds(yamlio.load_plain(text), "cotation/resources/quartiles.yaml")


def _parse_thresholds(raw: Any, where: str) -> tuple[Threshold, ...]:
    bad = DataError(
        [
            DataProblem(
                "D162",
                "tables",
                "expected 'tables:' a list of {annee: YEAR, source: TEXT, seuils: {EPCI: € per UC per year}}",
                source=where,
            )
        ]
    )
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), list):
        raise bad
    rows: list[Threshold] = []
    for i, table in enumerate(raw["tables"]):
        if not isinstance(table, dict) or set(table) != {"annee", "source", "seuils"}:
            raise _table_problem(where, i, "expected exactly the keys annee, source, seuils")
        year, source, amounts = table["annee"], table["source"], table["seuils"]
        if not isinstance(year, int) or not isinstance(source, str) or not isinstance(amounts, dict):
            raise _table_problem(where, i, "annee must be a year, source a text, seuils a mapping")
        for epci, amount in amounts.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
                raise _table_problem(where, i, f"EPCI {epci!r}: the amount must be a positive number of €")
            rows.append(Threshold(str(epci), year, float(amount), " ".join(source.split())))
    return tuple(rows)


def _table_problem(where: str, index: int, message: str) -> DataError:
    return DataError([DataProblem("D162", f"tables[{index}]", message, source=where)])


def require_threshold(
    epci: str, year: int, rows: tuple[Threshold, ...], source: str | None = None
) -> Threshold:
    """The threshold of ``epci`` (name as in the arrêté, case ignored) for ``year``; D160 otherwise."""
    key = epci.casefold()
    for row in rows:
        if row.epci.casefold() == key and row.year == year:
            return row
    years = sorted({r.year for r in rows if r.epci.casefold() == key})
    known = sorted({r.epci for r in rows})
    shipped = f"shipped for {epci!r}: {', '.join(map(str, years))}" if years else "no year shipped for it"
    raise DataError(
        [
            DataProblem(
                "D160",
                "epci",
                f"aucun seuil du premier quartile pour l'EPCI {epci!r} en {year} "
                f"(no first-quartile threshold for EPCI {epci!r}, year {year}; {shipped}); give the "
                "amount of the year's arrêté in the objectives file (seuil_premier_quartile) or a table",
                rows=(epci,),
                values=(str(year),),
                count=1,
                suggestion=did_you_mean(epci, known) if not years else None,
                source=source,
            )
        ]
    )


# -- the objectives file -------------------------------------------------------------------------------

_KEYS = {"territoire", "date", "epci", "seuil_premier_quartile", "table_seuils", "objectifs"}
_OBJECTIVE_KEYS = {"minimum", "fondement", "libelle"}


def load_objectives(path: str | Path) -> Objectives:
    """A territory's objectives file (YAML); every problem in one DataError (D161), located."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            [DataProblem("D161", "<objectifs>", f"cannot read the objectives file: {exc}", source=str(p))]
        ) from None
    errors = Collector()
    doc = yamlio.load_yaml(text, str(p), errors)
    errors.raise_if_any()
    assert doc is not None
    problems: list[DataProblem] = []
    objectives = _objectives(doc, problems, p)
    if problems:
        raise DataError(problems[: MAX_ROWS * 2])
    assert objectives is not None
    return objectives


def _objectives(doc: yamlio.Document, problems: list[DataProblem], path: Path) -> Objectives | None:
    raw = doc.value

    def problem(where: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        span = doc.key_span(where)
        column = ".".join(map(str, where)) or "<objectifs>"
        problems.append(
            DataProblem(
                "D161", column, message, suggestion=hint, source=f"{span.file}:{span.line}:{span.col}"
            )
        )

    if not isinstance(raw, dict):
        problem((), "expected a mapping (territoire, date, epci, seuil_premier_quartile, objectifs)")
        return None
    for key in raw:
        if key not in _KEYS:
            problem(
                (key,),
                f"unknown key {key!r} (expected: {', '.join(sorted(_KEYS))})",
                did_you_mean(str(key), _KEYS),
            )
    territory = raw.get("territoire")
    if not isinstance(territory, str) or not territory.strip():
        problem(("territoire",), "territoire: the territory's name is required (a text)")
    date = raw.get("date")
    if date is not None and not isinstance(date, datetime.date):
        problem(("date",), "date: the date the objectives take effect, YYYY-MM-DD")
    epci = raw.get("epci")
    if epci is not None and not isinstance(epci, str):
        problem(("epci",), "epci: the EPCI's name as written in the first-quartile arrêté")
    amount, amount_source = _threshold(raw.get("seuil_premier_quartile"), problem)
    table = raw.get("table_seuils")
    if table is not None and not isinstance(table, str):
        problem(("table_seuils",), "table_seuils: the path of a threshold table (quartiles.yaml format)")
    objectives = _objective_list(raw.get("objectifs", {}), problem)
    if problems:
        return None
    return Objectives(
        territory=str(territory),
        date=date,
        objectives=objectives,
        epci=epci,
        threshold=amount,
        threshold_source=amount_source,
        source=str(path),
        thresholds_file=(path.parent / table) if isinstance(table, str) else None,
    )


def _threshold(raw: Any, problem: Any) -> tuple[float | None, str | None]:
    if raw is None:
        return None, None
    where = ("seuil_premier_quartile",)
    if (
        not isinstance(raw, dict)
        or set(raw) - {"montant", "source"}
        or "montant" not in raw
        or "source" not in raw
    ):
        problem(where, "seuil_premier_quartile: expected {montant: € per UC per year, source: the arrêté}")
        return None, None
    amount = raw["montant"]
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        problem((*where, "montant"), "montant: a positive amount in € per consumption unit per year")
        return None, None
    return float(amount), str(raw["source"])


def _objective_list(raw: Any, problem: Any) -> tuple[Objective, ...]:
    if not isinstance(raw, dict):
        problem(("objectifs",), f"objectifs: a mapping of {', '.join(OBJECTIVE_IDS)}")
        return LEGAL_OBJECTIVES
    out = []
    for key in raw:
        if key not in OBJECTIVE_IDS:
            problem(("objectifs", key), f"unknown objective {key!r}", did_you_mean(str(key), OBJECTIVE_IDS))
    for legal in LEGAL_OBJECTIVES:
        given = raw.get(legal.id)
        out.append(legal if given is None else _objective(legal, given, problem))
    return tuple(out)


def _objective(legal: Objective, raw: Any, problem: Any) -> Objective:
    where = ("objectifs", legal.id)
    if not isinstance(raw, dict) or set(raw) - _OBJECTIVE_KEYS:
        problem(where, f"{legal.id}: expected {{minimum: share 0..1, fondement: text, libelle: text}}")
        return legal
    minimum = raw.get("minimum", legal.minimum)
    if isinstance(minimum, bool) or not isinstance(minimum, int | float) or not 0 <= minimum <= 1:
        problem((*where, "minimum"), "minimum: a share between 0 and 1 (0.25 for 25 %)")
        return legal
    basis = raw.get("fondement", legal.legal_basis)
    return replace(
        legal, minimum=float(minimum), legal_basis=str(basis), label=str(raw.get("libelle", legal.label))
    )
