"""Stage 7 (experiment): the annual allocation review (bilan annuel des attributions) a CIL is shown.

From an allocation history (:mod:`.history`) and the applications file: the volumes (mutations and
first accesses); the allocations by commune, QPV, reservation holder, financing and typology; the
profile of the housed households against the profile of the demand (composition, age, resources
quartile, priority publics, seniority of the demand, DALO); each CIA objective with the figure
reached and whether it is met (:func:`cotation.experiment.measure.figures`); the holders' flow
shares (:mod:`.flux`); the previous year side by side when the history has allocations in it.

**Who is "the demand"**: every application of the applications file filed by 31 December of the
year reviewed, its age and seniority taken on that day; a housed household's at its allocation
date. (The file is the demand as extracted; housed households stay in it.)

**Statistical secrecy**: the figures are exact in the :class:`Bilan`; every published rendering
(HTML, JSON, CSV) replaces a count below ``secret`` (default :data:`SECRET`) but above 0 by
"< secret", and, where only one cell of a table would be hidden, the next smallest too (so that the
total does not give it back). No rendering ever shows an application number.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.batch import Batch, as_applications
from ..dates import day_number
from ..errors import DataError, DataProblem
from ..grid import ir
from .bilan_page import (
    AGE_BANDS,
    SECTIONS,
    SENIORITY_BANDS,
    UNKNOWN,
    bilan_csv,
    bilan_dict,
    bilan_page,
)
from .flux import FlowShare, flow_shares
from .history import Allocations, read_allocations
from .measure import DAYS_PER_MONTH, Facts, Figures, figures
from .objectives import Objectives, quartiles, resources_per_uc
from .publics import priority_publics
from .simulate import Allocation

SECRET = 5  # counts from 1 to 4 are hidden in published figures (see the module's docstring)


@dataclass(frozen=True)
class Year:
    """One year's figures (exact counts)."""

    year: int
    allocations: int
    sections: dict[str, dict[str, int]]  # section -> label -> count
    housed: dict[str, dict[str, int]]  # profile of the housed households
    objectives: Figures
    flows: tuple[FlowShare, ...]


@dataclass(eq=False, kw_only=True)
class Bilan:
    """The annual review: the year reviewed (``years[-1]``), the year before when there is one."""

    grid_id: str
    grid_version: str | None
    grid_hash: str
    years: tuple[Year, ...]
    demand: dict[str, dict[str, int]]  # profile of the demand (the applications file)
    demand_count: int
    objectives: Objectives
    threshold: Any
    data: str
    secret: int = SECRET
    holders: tuple[ir.Holder, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return bilan_dict(self)

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_html(self) -> str:
        return bilan_page(self)

    def to_csv(self) -> str:
        return bilan_csv(self)


def bilan(
    grid: ir.Grid,
    applications: Any,
    allocations: Any,
    *,
    annee: int | None = None,
    objectives: Objectives,
    secret: int = SECRET,
) -> Bilan:
    """The review of year ``annee`` (default: the latest year of the history)."""
    hist = allocations if isinstance(allocations, Allocations) else read_allocations(allocations)
    years = sorted({d.year for d in hist.history.dates})
    year = annee if annee is not None else (years[-1] if years else None)
    if year is None or year not in years:
        raise DataError(
            [DataProblem("D181", "date_attribution", f"no allocation in {year}", source=hist.history.source)]
        )
    end = datetime.date(year, 12, 31)
    last = datetime.date(years[-1], 12, 31)  # a file extracted after the year reviewed is valid
    asof = max(end, last)
    apps = as_applications(applications, grid.catalogue, asof)
    rows = _rows(apps, hist)
    threshold = objectives.first_quartile(year, apps)
    quart = quartiles(resources_per_uc(apps), threshold.amount)
    prio = priority_publics(apps, asof).any
    out = tuple(
        _year(grid, apps, hist, rows, y, quart, prio, threshold, objectives)
        for y in (year - 1, year)
        if y in years
    )
    pending = np.flatnonzero(apps.column("date_depot").values <= day_number(end))
    demand = _profile(apps, pending, np.full(len(pending), day_number(end)), quart, prio)
    return Bilan(
        grid_id=grid.meta.id,
        grid_version=grid.meta.version,
        grid_hash=grid.content_hash,
        years=out,
        demand=demand,
        demand_count=len(pending),
        objectives=objectives,
        threshold=threshold,
        data=f"{apps.source or '<demandes>'} ; {hist.history.source}",
        secret=secret,
        holders=grid.holders,
    )


def _rows(apps: Batch, hist: Allocations) -> np.ndarray:
    """The application row of each allocation (D165 naming the lines of unknown applications)."""
    index = {str(x): i for i, x in enumerate(apps.ids.tolist())}
    ids = hist.history.application_ids.tolist()
    bad = [i for i, x in enumerate(ids) if str(x) not in index]
    if bad:
        raise DataError(
            [
                DataProblem(
                    "D165",
                    "numero_unique",
                    "allocation of an application absent from the applications file",
                    rows=tuple(f"line {i + 2}" for i in bad[:10]),
                    count=len(bad),
                    source=hist.history.source,
                )
            ]
        )
    return np.array([index[str(x)] for x in ids], np.int64)


def _year(
    grid: ir.Grid,
    apps: Batch,
    hist: Allocations,
    rows: np.ndarray,
    year: int,
    quart: np.ndarray,
    prio: np.ndarray,
    threshold: Any,
    objectives: Objectives,
) -> Year:
    sel = np.array([d.year == year for d in hist.history.dates], bool)
    idx = np.flatnonzero(sel)
    cols = {c: [hist.columns[c][i] for i in idx.tolist()] for c in SECTIONS}
    holder_labels = _holder_labels(grid)
    sections = {c: _counts(cols[c], _labeller(c, holder_labels)) for c in SECTIONS}
    days = np.array([day_number(hist.history.dates[i]) for i in idx.tolist()], np.int64)
    housed = _profile(apps, rows[idx], days, quart, prio)
    qpv = [v for v in cols["qpv"]]
    holder = np.array([v or "non_renseigne" for v in cols["reservataire"]], dtype=object)
    f = Facts(
        priority=prio,
        quartile=quart,
        filed=apps.column("date_depot").values,
        qpv=np.array([v == "true" for v in qpv], bool),
        qpv_known=np.array([v is not None for v in qpv], bool),
        holder=holder,
        threshold=threshold,
    )
    allocs = [Allocation(0, hist.history.dates[i], int(rows[i]), j, 0) for j, i in enumerate(idx.tolist())]
    figs = figures(allocs, f, objectives)
    field_ = grid.match.catalogue["reservataire"] if grid.match else None
    labels = (
        dict(zip(field_.values, field_.value_labels, strict=True)) if field_ and field_.value_labels else {}
    )
    flows = flow_shares(grid.holders, list(cols["reservataire"]), labels)
    return Year(year, len(idx), sections, housed, figs, flows)


def _holder_labels(grid: ir.Grid) -> dict[str, str]:
    """Holder value -> label: the grid's holders, else the dwelling catalogue's labels."""
    from ..grid.catalogue import dwelling_catalogue

    f = dwelling_catalogue()["reservataire"]
    return {
        **dict(zip(f.values, f.value_labels or f.values, strict=True)),
        **{h.id: h.label for h in grid.holders},
    }


def _labeller(column: str, holders: dict[str, str]) -> Any:
    names = {
        "qpv": {"true": "En QPV", "false": "Hors QPV"},
        "type_attribution": {"mutation": "Mutation (déjà locataire HLM)", "premier_acces": "Premier accès"},
        "reservataire": holders,
    }.get(column, {})
    return lambda v: UNKNOWN if v is None else names.get(v, v)


def _counts(values: list[Any], label: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = label(v)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == UNKNOWN, kv[0])))


def _profile(
    apps: Batch, rows: np.ndarray, days: np.ndarray, quart: np.ndarray, prio: np.ndarray
) -> dict[str, dict[str, int]]:
    """The profile of the applications ``rows``, their age and seniority on ``days``."""
    persons = apps.column("nb_personnes").values[rows]
    born = apps.column("date_naissance_demandeur").values[rows]
    filed = apps.column("date_depot").values[rows]
    dalo = apps.column("dalo")
    is_dalo = (dalo.values[rows].astype(bool)) & (True if dalo.valid is None else dalo.valid[rows])
    ages = (days - born) / (DAYS_PER_MONTH * 12)
    months = (days - filed) / DAYS_PER_MONTH
    comp = [
        f"{int(p)} personne" if p == 1 else ("5 personnes et plus" if p >= 5 else f"{int(p)} personnes")
        for p in persons.tolist()
    ]
    return {
        "composition": _counts(comp, lambda v: v),
        "age": _counts([_band(a, AGE_BANDS) for a in ages.tolist()], lambda v: v),
        "quartile": _counts([f"Quartile {int(q)}" for q in quart[rows].tolist()], lambda v: v),
        "publics_prioritaires": _counts(["Oui" if p else "Non" for p in prio[rows].tolist()], lambda v: v),
        "anciennete": _counts([_band(m, SENIORITY_BANDS) for m in months.tolist()], lambda v: v),
        "dalo": _counts(["Oui" if d else "Non" for d in is_dalo.tolist()], lambda v: v),
    }


def _band(x: float, bands: tuple[tuple[int, int, str], ...]) -> str:
    return next((label for lo, hi, label in bands if lo <= x < hi), bands[0][2] if x < 0 else bands[-1][2])
