"""Stage 7 (experiment): gestion en flux: orient the vacancies without a holder, and count the flow
shares the holders reached.

**Orientation policy** (declared, deterministic): the dwellings are taken in the order given (the
simulation: the order in which they fall vacant); a dwelling that already has a holder counts for
it; one without a holder goes to the holder furthest behind its flow share, i.e. the largest
``share * (n + 1) - count`` where ``n`` dwellings were counted before it and ``count`` of them went
to that holder; ties go to the holder declared first. The shares are the declared ``flow_share``;
the landlord (``bailleur``, declared or not) keeps the rest of the flow, ``1 - sum`` of them (R441-5
CCH: what no convention reserves stays with the landlord). Other holders without a
``flow_share`` are never chosen. Without any holder with a share, nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batch import Batch, Column
from ..grid import ir

LANDLORD = "bailleur"


@dataclass(frozen=True)
class FlowShare:
    """A holder's share of the allocations against its flow share."""

    holder: str
    label: str
    count: int
    of: int
    target: float | None

    @property
    def share(self) -> float | None:
        return self.count / self.of if self.of else None

    @property
    def met(self) -> bool | None:
        s = self.share
        return None if s is None or self.target is None else s >= self.target - 1e-9

    def to_dict(self) -> dict[str, Any]:
        return {
            "reservataire": self.holder,
            "libelle": self.label,
            "nombre": self.count,
            "sur": self.of,
            "part": self.share,
            "part_flux": self.target,
            "atteint": self.met,
        }


def shares_of(holders: Sequence[ir.Holder]) -> list[tuple[str, float]]:
    """(holder, share of the flow) used by the orientation: the declared shares, in declaration
    order, and the landlord's rest (``1 - sum``), declared or not, when the shares leave one."""
    out = [(h.id, float(h.flow_share)) for h in holders if h.flow_share]
    rest = 1.0 - sum(x for _, x in out)
    if out and rest > 1e-9 and all(h != LANDLORD for h, _ in out):
        at = next((i for i, h in enumerate(holders) if h.id == LANDLORD), len(holders))
        before = sum(1 for h in holders[:at] if h.flow_share)
        out.insert(before, (LANDLORD, rest))
    return out


def orient_codes(
    holders: Sequence[ir.Holder], codes: np.ndarray, known: np.ndarray, values: tuple[str, ...]
) -> np.ndarray:
    """The holder code of each dwelling (``codes``, valid where ``known``), the unknown ones oriented."""
    shared = shares_of(holders)
    out = np.where(known, codes, -1).astype(np.int64)
    if not shared:
        return out
    index = {v: i for i, v in enumerate(values)}
    wanted = np.array([x for _, x in shared])
    mine = np.array([index[h] for h, _ in shared], np.int64)
    counts = np.zeros(len(shared), np.int64)
    for n, code in enumerate(out.tolist()):
        if code < 0:
            choice = int(np.argmax(wanted * (n + 1) - counts))  # argmax: the first of equal deficits
            out[n] = mine[choice]
            counts[choice] += 1
        else:
            counts[mine == code] += 1
    return out


def orient(grid: ir.Grid, dwellings: Batch, order: np.ndarray | None = None) -> Batch:
    """``dwellings`` with every dwelling without a holder oriented (see the module's docstring);
    ``order`` (a permutation of the rows) is the order in which the vacancies come."""
    if not any(h.flow_share for h in grid.holders):
        return dwellings
    field = dwellings.catalogue["reservataire"]
    col = dwellings.column("reservataire")
    rows = np.arange(len(dwellings)) if order is None else np.asarray(order, np.int64)
    known = (np.ones(len(dwellings), bool) if col.valid is None else col.valid) & (col.values >= 0)
    oriented = orient_codes(grid.holders, col.values[rows], known[rows], field.values)
    values = col.values.copy()
    values[rows] = oriented.astype(values.dtype)
    valid = np.ones(len(dwellings), bool)
    valid[rows] = oriented >= 0
    columns = {**dwellings.columns, "reservataire": Column(values, None if valid.all() else valid)}
    return Batch(dwellings.catalogue, dwellings.ids, columns, dwellings.source, dwellings.ignored_columns)


def flow_shares(
    holders: Sequence[ir.Holder], allocated: Sequence[str | None], values: dict[str, str]
) -> tuple[FlowShare, ...]:
    """Each holder's count among ``allocated`` (the holder of each allocation, None: unknown),
    declared holders first (with their flow share), then the others met in the allocations."""
    n = len(allocated)
    seen = [h.id for h in holders] + sorted({a for a in allocated if a} - {h.id for h in holders})
    target = {h.id: h.flow_share for h in holders}
    label = {**values, **{h.id: h.label for h in holders}}
    return tuple(
        FlowShare(h, label.get(h, h), sum(1 for a in allocated if a == h), n, target.get(h)) for h in seen
    )
