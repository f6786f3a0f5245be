"""Stage 7 (experiment): a period of allocations replayed month by month under one grid, measured
against the objectives.

Month ``i`` starts on ``date_debut + i`` months (art. 641 CPC: same day number, or the month's last
day). Its vacancies are the dwellings whose ``date_liberation`` falls in the month; dwellings
without one are spread evenly over the period in the file's order (the ``j``-th of ``m`` in month
``floor(j * months / m)``); a dwelling left without a taker is offered again the next month. Each
month the pending applications (filed by the month's date, not yet housed) are scored and ranked
on the month's date, so seniority grows, with the batch assignment of :mod:`cotation.match`
(dwellings in the given order, an application proposed for at most one dwelling), ``k``
candidates per dwelling. The committee follows a declared policy: the first candidate accepts,
or each proposal is refused with probability ``refusal`` (seeded): a refusal adds one to the
candidate's ``nb_refus_propositions`` and sets ``date_dernier_refus`` to the month's date, which
the grid's refusal criterion then reads, and the next candidate is asked. A housed application
leaves the pool. Deterministic for a seed, and the same under both engines.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.batch import Batch, Column, as_applications, as_dwellings
from ..dates import add_months, as_date, day_number
from ..grid import ir
from ..match.pool import prepare_pool
from ..scoring.engine import check_engine
from .flux import FlowShare, flow_shares, orient
from .measure import Facts, Figures, facts, figures
from .objectives import LEGAL_DEFAULTS, Objectives
from .publics import adapt

MUTATION_SITUATION = "locataire_hlm"  # a social tenant moving: a mutation, else a first access


@dataclass(frozen=True)
class Allocation:
    """One simulated allocation (one row of the allocation history)."""

    month: int
    date: datetime.date
    application: int  # row in the applications
    dwelling: int  # row in the dwellings
    refusals: int  # proposals refused for this dwelling before it was accepted


@dataclass(eq=False, kw_only=True)
class Replay:
    """What one grid's replay produced; :mod:`cotation.experiment.measure` turns it into figures."""

    grid_id: str
    grid_version: str | None
    grid_hash: str
    allocations: list[Allocation]
    months: tuple[datetime.date, ...]  # the first day of each month
    vacancies: np.ndarray  # per month: dwellings offered (new and carried over)
    unallocated: int  # dwellings still vacant at the end
    outside_period: int  # dwellings whose date_liberation is outside the period
    refusals: int  # proposals refused in all
    engine: str


@dataclass(frozen=True)
class Policy:
    """The committee's choice: the first candidate (``refusal=0``), or each proposal refused with
    probability ``refusal``, drawn from ``seed``; ``k`` candidates examined per dwelling."""

    refusal: float = 0.0
    seed: int = 0
    k: int = 3
    orient: bool = False  # orient the vacancies without a holder by flow share (cotation.experiment.flux)

    def __post_init__(self) -> None:
        if not 0 <= self.refusal < 1:
            raise ValueError(f"refusal must be in [0, 1), got {self.refusal}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


def replay(
    grid: ir.Grid,
    apps: Batch,
    dwellings: Batch,
    start: datetime.date,
    months: int,
    policy: Policy,
    engine: str = "compiled",
) -> Replay:
    """Replay ``months`` months from ``start`` (see the module's docstring)."""
    check_engine(engine, ("compiled", "reference", "auto"))
    if grid.match is None:
        raise ValueError(f"grid '{grid.meta.id}' has no match part: it cannot allocate dwellings")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    firsts = tuple(add_months(start, i) for i in range(months + 1))
    month_of = vacancy_months(dwellings, firsts)
    state = _State.of(apps)
    rng = np.random.default_rng(policy.seed)
    allocations: list[Allocation] = []
    offered = np.zeros(months, np.int64)
    waiting = np.zeros(0, np.int64)
    refusals = 0
    grid_hash = ""
    for i in range(months):
        waiting = np.concatenate([waiting, np.flatnonzero(month_of == i)])
        offered[i] = len(waiting)
        if len(waiting) == 0:
            continue
        day = firsts[i]
        active = state.pending(day)
        pool = prepare_pool(grid, state.batch(active), day, engine=engine)
        grid_hash = pool.scores.grid_hash
        ranking = pool.rank(dwellings.take(waiting), policy.k, assignment="given")
        order = ranking.dwelling_order if ranking.dwelling_order is not None else np.arange(len(waiting))
        left = []
        for m in order.tolist():
            taker, refused = _committee(ranking.rows[m], rng, policy.refusal)
            for r in refused:
                state.refuse(int(active[r]), day)
            refusals += len(refused)
            if taker < 0:
                left.append(waiting[m])
                continue
            row = int(active[taker])
            state.housed[row] = True
            allocations.append(Allocation(i, day, row, int(waiting[m]), len(refused)))
        waiting = np.array(sorted(left), np.int64)
    return Replay(
        grid_id=grid.meta.id,
        grid_version=grid.meta.version,
        grid_hash=grid_hash,
        allocations=allocations,
        months=firsts[:-1],
        vacancies=offered,
        unallocated=len(waiting),
        outside_period=int((month_of < 0).sum()),
        refusals=refusals,
        engine=engine,
    )


def _committee(candidates: np.ndarray, rng: np.random.Generator, refusal: float) -> tuple[int, list[int]]:
    """The candidate the committee houses (-1: none) and those who refused before, in order."""
    refused = []
    for c in candidates.tolist():
        if c < 0:
            break
        if refusal > 0 and rng.random() < refusal:
            refused.append(c)
            continue
        return c, refused
    return -1, refused


def arrival_order(dwellings: Batch, start: datetime.date, months: int) -> np.ndarray:
    """The dwellings in the order they fall vacant (by month, then as given; outside the period last)."""
    month_of = vacancy_months(dwellings, tuple(add_months(start, i) for i in range(months + 1)))
    return np.argsort(np.where(month_of < 0, months, month_of), kind="stable")


def vacancy_months(dwellings: Batch, firsts: tuple[datetime.date, ...]) -> np.ndarray:
    """The month (0-based) each dwelling falls vacant; -1 outside the period."""
    n, months = len(dwellings), len(firsts) - 1
    out = np.full(n, -1, np.int64)
    col = dwellings.columns.get("date_liberation")
    dated = (
        np.zeros(n, bool) if col is None else (np.ones(n, bool) if col.valid is None else col.valid.copy())
    )
    if col is not None and dated.any():
        bounds = np.array([day_number(d) for d in firsts], np.int64)
        month = np.searchsorted(bounds, col.values[dated], "right") - 1
        out[dated] = np.where((month >= 0) & (month < months), month, -1)
    undated = np.flatnonzero(~dated)
    out[undated] = np.arange(len(undated)) * months // max(len(undated), 1)
    return out


@dataclass(eq=False)
class _State:
    """The applications during a replay: who is housed, and the refusals the committee recorded."""

    apps: Batch
    housed: np.ndarray
    refusal_count: np.ndarray
    refusal_count_ok: np.ndarray
    refusal_date: np.ndarray
    refusal_date_ok: np.ndarray
    filed: np.ndarray
    changed: bool = field(default=False)

    @classmethod
    def of(cls, apps: Batch) -> _State:
        count, date = apps.column("nb_refus_propositions"), apps.column("date_dernier_refus")
        n = len(apps)
        return cls(
            apps,
            np.zeros(n, bool),
            count.values.copy(),
            np.ones(n, bool) if count.valid is None else count.valid.copy(),
            date.values.copy(),
            np.ones(n, bool) if date.valid is None else date.valid.copy(),
            apps.column("date_depot").values,
        )

    def pending(self, day: datetime.date) -> np.ndarray:
        return np.flatnonzero(~self.housed & (self.filed <= day_number(day)))

    def refuse(self, row: int, day: datetime.date) -> None:
        self.refusal_count[row] = (self.refusal_count[row] if self.refusal_count_ok[row] else 0) + 1
        self.refusal_count_ok[row] = True
        self.refusal_date[row] = day_number(day)
        self.refusal_date_ok[row] = True
        self.changed = True

    def batch(self, rows: np.ndarray) -> Batch:
        """The applications at ``rows``, with the refusals recorded so far."""
        if self.changed:
            columns = dict(self.apps.columns)
            columns["nb_refus_propositions"] = _column(self.refusal_count, self.refusal_count_ok)
            columns["date_dernier_refus"] = _column(self.refusal_date, self.refusal_date_ok)
            base = Batch(
                self.apps.catalogue, self.apps.ids, columns, self.apps.source, self.apps.ignored_columns
            )
        else:
            base = self.apps
        return base.take(rows)


def _column(values: np.ndarray, ok: np.ndarray) -> Column:
    return Column(values.copy(), None if ok.all() else ok.copy())


# -- the result -------------------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class GridRun:
    """One grid's replay and its figures, for the period and per month."""

    replay: Replay
    period: Figures
    per_month: tuple[Figures, ...]
    flows: tuple[FlowShare, ...] = ()  # the flow share each reservation holder reached


@dataclass(eq=False, kw_only=True)
class Simulation:
    """A simulated period under one grid (``runs[0]``), or two side by side (``--compare``)."""

    runs: tuple[GridRun, ...]
    objectives: Objectives
    facts: Facts
    start: datetime.date
    months: int
    policy: Policy
    applications: int
    dwellings: int
    data: str  # what the applications and dwellings were
    apps: Batch = field(repr=False)
    dwelling_batch: Batch = field(repr=False)
    backtests: tuple[Any, ...] = ()  # one Backtest per grid when a real history was given

    def history(self, run: int = 0) -> dict[str, list[Any]]:
        """The allocations of ``runs[run]`` in the allocation-history format (:mod:`.history`)."""
        return history_rows(self.runs[run].replay.allocations, self.apps, self.dwelling_batch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "debut": self.start.isoformat(),
            "mois": self.months,
            "politique": {"refus": self.policy.refusal, "graine": self.policy.seed, "k": self.policy.k},
            "demandes": self.applications,
            "logements": self.dwellings,
            "donnees": self.data,
            "objectifs_source": self.objectives.source,
            "seuil_premier_quartile": {
                "montant": self.facts.threshold.amount,
                "annee": self.facts.threshold.year,
                "source": self.facts.threshold.source,
            },
            "grilles": [_run_dict(r) for r in self.runs],
            "retro_tests": [b.to_dict() for b in self.backtests],
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_html(self) -> str:
        """The simulation page (French, printable, SVG charts), with the back-tests if any."""
        from .pages import simulation_page

        return simulation_page(self, backtests=self.backtests)

    def _repr_html_(self) -> str:
        from .pages import simulation_page

        return simulation_page(self, standalone=False, backtests=self.backtests)


def _run_dict(run: GridRun) -> dict[str, Any]:
    r = run.replay
    return {
        "grille": r.grid_id,
        "version": r.grid_version,
        "empreinte": r.grid_hash,
        "moteur": r.engine,
        "periode": run.period.to_dict(),
        "par_mois": [
            {"mois": r.months[i].isoformat(), "offerts": int(r.vacancies[i]), **f.to_dict()}
            for i, f in enumerate(run.per_month)
        ],
        "non_attribues": r.unallocated,
        "hors_periode": r.outside_period,
        "refus": r.refusals,
        "parts_flux": [x.to_dict() for x in run.flows],
    }


def history_rows(allocs: list[Allocation], apps: Batch, dwellings: Batch) -> dict[str, list[Any]]:
    a = np.array([x.application for x in allocs], np.int64)
    d = np.array([x.dwelling for x in allocs], np.int64)
    out: dict[str, list[Any]] = {
        "numero_unique": [str(x) for x in apps.ids[a]],
        "logement": [str(x) for x in dwellings.ids[d]],
    }
    out["date_attribution"] = [x.date.isoformat() for x in allocs]
    for name in ("reservataire", "commune", "qpv", "financement", "typologie"):
        out[name] = _labels(dwellings, name, d)
    situation = apps.column("situation_logement")
    hlm = apps.catalogue["situation_logement"].code_of(MUTATION_SITUATION)
    mutation = (situation.values[a] == hlm) & (True if situation.valid is None else situation.valid[a])
    out["type_attribution"] = ["mutation" if m else "premier_acces" for m in mutation.tolist()]
    return out


def _labels(batch: Batch, name: str, rows: np.ndarray) -> list[Any]:
    f = batch.catalogue[name]
    col = batch.column(name)
    ok = np.ones(len(rows), bool) if col.valid is None else col.valid[rows]
    values = col.values[rows]
    if f.values:
        return [
            f.values[int(v)] if k and v >= 0 else None
            for v, k in zip(values.tolist(), ok.tolist(), strict=True)
        ]
    if f.kind.value == "bool":
        return [
            "true" if v else "false" if k else None for v, k in zip(values.tolist(), ok.tolist(), strict=True)
        ]
    if f.kind.value == "commune":
        return [f"{int(v):05d}" if k else None for v, k in zip(values.tolist(), ok.tolist(), strict=True)]
    return [v if k else None for v, k in zip(values.tolist(), ok.tolist(), strict=True)]


def simulate_grids(
    grids: list[ir.Grid],
    applications: Any,
    dwellings: Any,
    *,
    date_debut: datetime.date | str,
    months: int = 12,
    objectives: Objectives | None = None,
    policy: Policy | None = None,
    engine: str = "compiled",
    history: Any = None,
) -> Simulation:
    """Replay the period under each grid (one, or two side by side) and measure it; with ``history``
    (a path to an allocation history), also back-test each grid on those real allocations."""
    start = as_date(date_debut)
    objectives = objectives or LEGAL_DEFAULTS
    policy = policy or Policy()
    first = grids[0]
    apps = as_applications(applications, first.catalogue, start)
    if first.match is None:
        raise ValueError(f"grid '{first.meta.id}' has no match part: it cannot allocate dwellings")
    dw = as_dwellings(dwellings, first.match.catalogue)
    if policy.orient:
        dw = orient(first, dw, arrival_order(dw, start, months))
    f = facts(apps, dw, start, objectives)
    runs = []
    for grid in grids:
        r = replay(grid, adapt(apps, grid.catalogue), dw, start, months, policy, engine)
        period = figures(r.allocations, f, objectives)
        per_month = tuple(
            figures([x for x in r.allocations if x.month == i], f, objectives) for i in range(months)
        )
        held = [str(f.holder[x.dwelling]) for x in r.allocations]
        labels = dict(
            zip(dw.catalogue["reservataire"].values, dw.catalogue["reservataire"].value_labels, strict=True)
        )
        flows = flow_shares(grid.holders, held, {**labels, "non_renseigne": "Non renseigné"})
        runs.append(GridRun(replay=r, period=period, per_month=per_month, flows=flows))
    backtests: tuple[Any, ...] = ()
    if history is not None:
        from .backtest import backtest
        from .history import read_history

        past = read_history(history)
        backtests = tuple(backtest(g, adapt(apps, g.catalogue), dw, past, engine) for g in grids)
    return Simulation(
        backtests=backtests,
        runs=tuple(runs),
        objectives=objectives,
        facts=f,
        start=start,
        months=months,
        policy=policy,
        applications=len(apps),
        dwellings=len(dw),
        data=f"{apps.source or '<demandes>'} ; {dw.source or '<logements>'}",
        apps=apps,
        dwelling_batch=dw,
    )


__all__ = ["Policy", "Simulation", "add_months", "simulate_grids"]
