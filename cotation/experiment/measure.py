"""Stage 7 (experiment): what a set of allocations counts for in the objectives: the share of each
objective (overall, and per reservation holder for the priority publics) against its minimum, and
the waiting time of the housed households; the facts each share is counted from (priority public
and quartile of each application, QPV and holder of each dwelling)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..data.batch import Batch
from ..dates import day_number
from .objectives import Objectives, Threshold, quartiles, resources_per_uc
from .publics import priority_publics

DAYS_PER_MONTH = 30.436875  # 365.2425 / 12


class Allocated(Protocol):
    """An allocation as the figures read it (:class:`cotation.experiment.simulate.Allocation`)."""

    @property
    def application(self) -> int: ...
    @property
    def dwelling(self) -> int: ...
    @property
    def date(self) -> datetime.date: ...


@dataclass(frozen=True)
class Share:
    """A share of allocations against an objective's minimum."""

    objective: str
    group: str  # "" for the whole period or month, else a reservation holder
    count: int  # allocations that count for the objective
    of: int  # allocations in its scope
    minimum: float

    @property
    def share(self) -> float | None:
        return self.count / self.of if self.of else None

    @property
    def met(self) -> bool | None:
        s = self.share
        return None if s is None else s >= self.minimum

    @property
    def gap(self) -> float | None:
        """Share minus the minimum (positive: met by that much; negative: missed)."""
        s = self.share
        return None if s is None else s - self.minimum

    def to_dict(self) -> dict[str, Any]:
        return {
            "objectif": self.objective,
            "groupe": self.group,
            "nombre": self.count,
            "sur": self.of,
            "part": self.share,
            "minimum": self.minimum,
            "atteint": self.met,
            "ecart": self.gap,
        }


@dataclass(frozen=True)
class Figures:
    """One grid's figures for a set of allocations (the period, or one month)."""

    allocations: int
    shares: tuple[Share, ...]
    waiting_months: tuple[float, ...]  # of each housed household (mean, median derived)

    @property
    def mean_wait(self) -> float | None:
        return float(np.mean(self.waiting_months)) if self.waiting_months else None

    @property
    def median_wait(self) -> float | None:
        return float(np.median(self.waiting_months)) if self.waiting_months else None

    def share(self, objective: str, group: str = "") -> Share:
        return next(s for s in self.shares if s.objective == objective and s.group == group)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributions": self.allocations,
            "attente_moyenne_mois": self.mean_wait,
            "attente_mediane_mois": self.median_wait,
            "objectifs": [s.to_dict() for s in self.shares],
        }


@dataclass(frozen=True)
class Facts:
    """What each application and dwelling counts for in the objectives (fixed during a replay)."""

    priority: np.ndarray  # per application: DALO or a public of L441-1
    quartile: np.ndarray  # per application: 1..4 (first quartile by the threshold of the start year)
    filed: np.ndarray  # per application: date_depot (day number)
    qpv: np.ndarray  # per dwelling: True, False
    qpv_known: np.ndarray
    holder: np.ndarray  # per dwelling: reservation holder's label ("non renseigné" when missing)
    threshold: Threshold


def facts(apps: Batch, dwellings: Batch, start: datetime.date, objectives: Objectives) -> Facts:
    """Priority publics and quartiles of the applications, QPV and holder of the dwellings."""
    threshold = objectives.first_quartile(start.year, apps)
    rpu = resources_per_uc(apps)
    qpv = dwellings.column("qpv")
    holder = dwellings.column("reservataire")
    field_ = dwellings.catalogue["reservataire"]
    names = np.array([*field_.values, "non_renseigne"], dtype=object)
    codes = holder.values.astype(np.int64)
    if holder.valid is not None:
        codes = np.where(holder.valid, codes, len(field_.values))
    codes = np.where(codes < 0, len(field_.values), codes)
    return Facts(
        priority=priority_publics(apps, start).any,
        quartile=quartiles(rpu, threshold.amount),
        filed=apps.column("date_depot").values,
        qpv=qpv.values.astype(bool),
        qpv_known=np.ones(len(dwellings), bool) if qpv.valid is None else qpv.valid,
        holder=names[codes],
        threshold=threshold,
    )


def figures(allocs: Sequence[Allocated], f: Facts, objectives: Objectives) -> Figures:
    """The shares of ``allocs`` against each objective, and the waiting times."""
    a = np.array([x.application for x in allocs], np.int64)
    d = np.array([x.dwelling for x in allocs], np.int64)
    days = np.array([day_number(x.date) for x in allocs], np.int64)
    prio, quart = f.priority[a], f.quartile[a]
    known = f.qpv_known[d]
    inside, outside = known & f.qpv[d], known & ~f.qpv[d]
    p, q1, q234 = (
        objectives.get(k).minimum
        for k in ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv")
    )
    shares = [Share("publics_prioritaires", "", int(prio.sum()), len(a), p)]
    for holder in sorted(set(f.holder[d].tolist())):
        mine = f.holder[d] == holder
        shares.append(Share("publics_prioritaires", str(holder), int(prio[mine].sum()), int(mine.sum()), p))
    shares.append(
        Share("premier_quartile_hors_qpv", "", int((quart[outside] == 1).sum()), int(outside.sum()), q1)
    )
    shares.append(
        Share("autres_quartiles_en_qpv", "", int((quart[inside] > 1).sum()), int(inside.sum()), q234)
    )
    waits = tuple(((days - f.filed[a]) / DAYS_PER_MONTH).round(2).tolist())
    return Figures(len(a), tuple(shares), waits)
