"""Stage 5 (match): :class:`Ranking`, the top ``k`` candidates of each dwelling with the filters' counts."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from ..markup import th, tr


@dataclass(eq=False, kw_only=True)
class Ranking:
    """The top ``k`` candidates of each dwelling (``M`` dwellings), with the filters' counts.

    ``rows[m, r]`` is the row (in the applications as given) of the candidate of rank ``r + 1`` for
    dwelling ``dwelling_ids[m]``, ``-1`` when the dwelling has fewer than ``r + 1`` eligible
    applications; ``application_ids``, ``tier``, ``total`` (the pair total) and
    ``application_total`` (the application's own total) follow the same layout.
    ``excluded[m, f]`` counts the applications that filter ``filter_ids[f]`` excluded (each under
    the first filter that excludes it) and ``eligible[m]`` those that passed every filter. With an
    assignment (``assignment`` = "given" or "best"), an application is proposed for at most one
    dwelling of the batch: ``already_proposed[m]`` counts the eligible applications skipped because
    an earlier dwelling (in ``dwelling_order``) had taken them.
    """

    grid_id: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    k: int
    dwelling_ids: np.ndarray
    filter_ids: tuple[str, ...]
    rows: np.ndarray
    application_ids: np.ndarray
    tier: np.ndarray
    total: np.ndarray
    application_total: np.ndarray
    eligible: np.ndarray
    excluded: np.ndarray
    assignment: str | None = None
    dwelling_order: np.ndarray | None = None
    already_proposed: np.ndarray | None = field(default=None)
    tables_digest: str = ""  # as Scores.tables_digest: grid hash, catalogue and ceiling tables
    out_of_force: bool = False  # the grid was used outside its validity on request

    def __len__(self) -> int:
        return len(self.dwelling_ids)

    def __repr__(self) -> str:
        mode = f" assignment={self.assignment!r}" if self.assignment else ""
        return (
            f"<Ranking grid={self.grid_id!r} date_calcul={self.date_calcul} dwellings={len(self)} "
            f"k={self.k}{mode}>"
        )

    @property
    def pair_points(self) -> np.ndarray:
        """Points of the match criteria (pair total minus the application's total); 0 where no candidate."""
        return np.where(self.rows >= 0, self.total - self.application_total, 0)

    def index_of(self, dwelling_id: str) -> int:
        hits = np.flatnonzero(self.dwelling_ids == dwelling_id)
        if len(hits) == 0:
            raise KeyError(dwelling_id)
        return int(hits[0])

    def candidates(self, dwelling_id: str) -> list[dict[str, Any]]:
        """The candidates of one dwelling, best first, as plain dicts."""
        m = self.index_of(dwelling_id)
        return [self._row(m, r) for r in range(self.k) if self.rows[m, r] >= 0]

    def _row(self, m: int, r: int) -> dict[str, Any]:
        return {
            "logement": str(self.dwelling_ids[m]),
            "rang": r + 1,
            "numero_unique": str(self.application_ids[m, r]),
            "tier": int(self.tier[m, r]),
            "total": int(self.total[m, r]),
            "points_demande": int(self.application_total[m, r]),
            "points_logement": int(self.total[m, r] - self.application_total[m, r]),
        }

    def table(self) -> dict[str, Any]:
        """One row per (dwelling, candidate), best first within each dwelling."""
        m, r = np.nonzero(self.rows >= 0)
        return {
            "logement": self.dwelling_ids[m],
            "rang": r + 1,
            "numero_unique": self.application_ids[m, r],
            "tier": self.tier[m, r],
            "total": self.total[m, r],
            "points_demande": self.application_total[m, r],
            "points_logement": self.total[m, r] - self.application_total[m, r],
        }

    def counts(self) -> dict[str, Any]:
        """One row per dwelling: eligible applications and how many each filter excluded."""
        out: dict[str, Any] = {"logement": self.dwelling_ids, "eligibles": self.eligible}
        for f, fid in enumerate(self.filter_ids):
            out[f"exclus_{fid}"] = self.excluded[:, f]
        if self.already_proposed is not None:
            out["deja_proposes"] = self.already_proposed
        return out

    def _meta(self) -> dict[str, str]:
        return {
            "grid_id": self.grid_id,
            "grid_version": self.grid_version or "",
            "grid_hash": self.grid_hash,
            "date_calcul": self.date_calcul.isoformat(),
            "k": str(self.k),
            "assignment": self.assignment or "",
            "tables_digest": self.tables_digest,
            "out_of_force": "true" if self.out_of_force else "false",
        }

    def to_arrow(self) -> Any:
        from ..data.buffers import table

        return table(self.table()).replace_schema_metadata(self._meta())

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.table())
        frame.attrs.update(self._meta())
        return frame

    def _repr_html_(self) -> str:
        return ranking_html(self)


def ranking_html(ranking: Ranking, limit: int = 20) -> str:
    """The candidates of the first ``limit`` dwellings, one row per candidate, with the filters' counts."""
    head = [
        "logement",
        "éligibles",
        "rang",
        "numero_unique",
        "tier",
        "total",
        "points demande",
        "points logement",
    ]
    rows = []
    for m in range(min(limit, len(ranking))):
        cands: list[int | None] = [r for r in range(ranking.k) if ranking.rows[m, r] >= 0] or [None]
        for j, r in enumerate(cands):
            lead = [ranking.dwelling_ids[m], ranking.eligible[m]] if j == 0 else ["", ""]
            cells: list[Any] = lead + (
                ["", "aucun candidat", "", "", "", ""]
                if r is None
                else [
                    r + 1,
                    ranking.application_ids[m, r],
                    ranking.tier[m, r],
                    ranking.total[m, r],
                    ranking.application_total[m, r],
                    ranking.total[m, r] - ranking.application_total[m, r],
                ]
            )
            rows.append(tr(cells))
    more = len(ranking) - min(limit, len(ranking))
    foot = f"<p>… {more} autres logements</p>" if more > 0 else ""
    mode = {
        "given": ", attribution dans l'ordre donné",
        "best": ", attribution meilleur candidat d'abord",
    }.get(ranking.assignment or "", "")
    caption = (
        f"Grille {ranking.grid_id} ({ranking.grid_hash[:12]}), calcul au {ranking.date_calcul.isoformat()}, "
        f"{len(ranking)} logements, {ranking.k} candidats au plus{mode}"
    )
    header = "".join(map(th, head))
    return (
        f'<table class="cotation-ranking"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{foot}"
    )
