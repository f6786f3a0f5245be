"""Stage 4 (scoring): the result of scoring: totals, breakdown, flags, tier and rank, stamped with
the grid and date."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grid.ir import Column, Grid
from ..markup import th, tr


class Lazy:
    """A value computed on first use by ``compute``, which is then released (it may hold the inputs)."""

    def __init__(self, compute: Callable[[], Any]):
        self._compute: Callable[[], Any] | None = compute
        self._value: Any = None

    @classmethod
    def of(cls, value: Any) -> Lazy:
        done = cls(lambda: value)
        done.get()
        return done

    def get(self) -> Any:
        if self._compute is not None:
            self._value, self._compute = self._compute(), None
        return self._value

    @property
    def ready(self) -> bool:
        return self._compute is None


def tables_digest_of(grid: Grid) -> str:
    """The digest that stamps scores: SHA-256 of the grid's content hash (its text), its catalogue
    (every field, local ones included, with their values and bounds) and the shipped income-ceiling
    tables. The grid hash alone stays the grid's text: updating the ceilings or the catalogue of a
    release changes this digest, not the grid hash."""
    import hashlib

    from ..data.ceilings import tables_digest

    catalogue = repr(grid.catalogue.fields) + repr(grid.match.catalogue.fields if grid.match else ())
    parts = (grid.content_hash, hashlib.sha256(catalogue.encode("utf-8")).hexdigest(), tables_digest())
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False, kw_only=True)
class Scores:
    """Scores of a batch of applications under one grid on one computation date.

    ``total``, ``tier`` and ``flag_bits`` (bit ``k`` = priority ``flag_ids[k]``) are computed by
    the scoring call; ``breakdown``, ``met``, ``flags`` and ``rank`` on first access (the compiled
    engine runs its breakdown kernel then), so a caller that only needs totals never pays for them.

    ``breakdown[i, j]`` is what column ``columns[j]`` contributes to application ``i`` after rubric
    and cap rules, so ``total == breakdown.sum(axis=1)``; it is an ``N x C`` view of a
    criterion-major ``C x N`` array (``breakdown[:, j]`` is contiguous). ``met[i, k]`` says whether
    criterion ``k`` was met (before rubric rules). ``rank`` is 1 for the best application: tier
    first (higher first), then total (higher first), then the grid's tie-breaks. Integer widths
    follow the grid's proven bounds (``grid.widths``): the same for every engine.
    """

    grid_id: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    ids: np.ndarray
    total: np.ndarray
    columns: tuple[Column, ...]
    flag_ids: tuple[str, ...]
    flag_bits: np.ndarray
    tier: np.ndarray
    details: Lazy = field(repr=False)  # -> (breakdown C x N, met K x N)
    ranks: Lazy = field(repr=False)  # -> rank
    positions: Lazy | None = field(default=None, repr=False)  # -> (position, count) among similar demands
    similar: tuple[str, ...] = ()  # what makes two demands similar (labels of the grid's keys)
    engine: str = "reference"  # 'compiled' | 'reference': which engine computed them
    proofs: Lazy | None = field(default=None, repr=False)  # -> K x N: justificatif verified, or none required
    verified_run: Lazy | None = field(default=None, repr=False)  # -> Scores of the verified criteria only
    verified_only: bool = False  # True: criteria with an unverified justificatif were not counted
    tables_digest: str = (
        ""  # SHA-256 of the grid's hash, its catalogue and the ceiling tables (tables_digest_of)
    )
    out_of_force: bool = False  # the grid was not in force on date_calcul and was used on request

    @classmethod
    def of(
        cls,
        grid: Grid,
        date_calcul: datetime.date,
        ids: Any,
        *,
        total: np.ndarray,
        flag_bits: np.ndarray,
        tier: np.ndarray,
        details: Lazy,
        ranks: Lazy,
        engine: str = "reference",
    ) -> Scores:
        """Scores stamped with ``grid`` (id, version, hash, columns, priorities) and the date. ``ids``: a
        NumPy array, or the Arrow string array of a batch read from a file (``Batch.held_ids``): then
        ``ids`` is made from it on first use only, and ``to_arrow`` writes it as it is."""
        import pyarrow as pa

        from ..data.buffers import NO_IDS

        lazy = ids if isinstance(ids, pa.Array) else None
        scores = cls(
            grid_id=grid.meta.id,
            grid_version=grid.meta.version,
            grid_hash=grid.content_hash,
            date_calcul=date_calcul,
            ids=NO_IDS if lazy is not None else ids,
            total=total,
            columns=grid.columns,
            flag_ids=tuple(p.id for p in grid.priorities),
            flag_bits=flag_bits,
            tier=tier,
            details=details,
            ranks=ranks,
            engine=engine,
            tables_digest=tables_digest_of(grid),
            out_of_force=grid.meta.out_of_force,
        )
        return scores if lazy is None else scores._holding(lazy)

    def _holding(self, ids: Any) -> Scores:
        """These scores with the Arrow ids ``ids`` in place of ``ids`` (made from them on first use)."""
        del self.__dict__["ids"]
        self.__dict__["_id_strings"] = ids
        return self

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute of Scores

        def __getattr__(self, name: str) -> Any:
            from ..data.buffers import made_ids  # pyarrow only when ids are made

            return made_ids(self, name)

    def replaced(self, **changes: Any) -> Scores:
        """``dataclasses.replace(self, **changes)``, the ids kept as they are held (not made)."""
        from ..data.buffers import NO_IDS, held_ids

        if "ids" in self.__dict__:
            return dataclasses.replace(self, **changes)
        return dataclasses.replace(self, ids=NO_IDS, **changes)._holding(held_ids(self))

    def id_strings(self) -> Any:
        """The ids as an Arrow string array (the reader's own when the batch was read from a file)."""
        from ..data.buffers import held_ids, strings

        held = held_ids(self)
        return held if "ids" not in self.__dict__ else strings(held)

    @cached_property
    def breakdown(self) -> np.ndarray:
        return self.details.get()[0].T

    @cached_property
    def met(self) -> np.ndarray:
        return self.details.get()[1].T

    @cached_property
    def flags(self) -> np.ndarray:
        """``flags[i, k]``: whether application ``i`` raised priority ``flag_ids[k]``."""
        shifts = np.arange(len(self.flag_ids), dtype=self.flag_bits.dtype)
        return ((self.flag_bits[:, None] >> shifts[None, :]) & 1).astype(np.bool_)

    @cached_property
    def rank(self) -> np.ndarray:
        return self.ranks.get()

    @cached_property
    def position(self) -> np.ndarray:
        """Rank among similar demands (1 = best; same order as ``rank``); see ``similar``."""
        return self._positions()[0]

    @cached_property
    def position_count(self) -> np.ndarray:
        """Number of similar demands (the application included)."""
        return self._positions()[1]

    @cached_property
    def provisional(self) -> np.ndarray:
        """``provisional[i, k]``: criterion ``k`` is met for application ``i`` but its justificatif has
        not been verified yet (its points are provisional)."""
        if self.proofs is None:
            return np.zeros_like(self.met)
        return self.met & ~self.proofs.get().T

    @cached_property
    def verified_total(self) -> np.ndarray:
        """The totals counting only the criteria whose justificatif is verified (or needs none)."""
        if self.verified_only or self.verified_run is None:
            return self.total
        return self.verified_run.get().total

    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        if self.positions is None:
            raise ValueError("these scores were built without positioning")
        return self.positions.get()

    def __len__(self) -> int:
        return len(self.total)

    def __repr__(self) -> str:
        return (
            f"<Scores grid={self.grid_id!r} version={self.grid_version!r} date_calcul={self.date_calcul} "
            f"applications={len(self)} columns={len(self.columns)}>"
        )

    @property
    def column_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.columns)

    def index_of(self, numero_unique: str) -> int:
        """Row of the application ``numero_unique``; KeyError when absent."""
        hits = np.flatnonzero(self.ids == numero_unique)
        if len(hits) == 0:
            raise KeyError(numero_unique)
        return int(hits[0])

    def order(self) -> np.ndarray:
        """Row indices from the best application to the last."""
        return np.argsort(self.rank, kind="stable")

    def table(self) -> dict[str, Any]:
        """Columns as a dict of arrays: numero_unique, total, tier, rank, flags, one column per
        breakdown column."""
        return self._table(self.ids)

    def _table(self, ids: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "numero_unique": ids,
            "total": self.total,
            "tier": self.tier,
            "rank": self.rank,
            "flags": self.flag_labels(),
        }
        for j, col in enumerate(self.columns):
            out[col.id] = self.breakdown[:, j]
        return out

    def flag_labels(self) -> np.ndarray:
        """Per application, the ids of its raised flags joined by ';' (one string per distinct pattern)."""
        if len(self) == 0:
            return np.zeros(0, dtype=object)
        _, first, inverse = np.unique(self.flag_bits, return_index=True, return_inverse=True)
        texts = np.array(
            [
                ";".join(f for k, f in enumerate(self.flag_ids) if (int(self.flag_bits[i]) >> k) & 1)
                for i in first
            ],
            dtype=object,
        )
        return texts[inverse.reshape(-1)]

    def to_arrow(self) -> Any:
        from ..data.buffers import table

        columns = self._table(None)
        columns.pop("numero_unique")
        arrow = table(columns).add_column(0, "numero_unique", self.id_strings())
        meta = {
            "grid_id": self.grid_id,
            "grid_version": self.grid_version or "",
            "grid_hash": self.grid_hash,
            "date_calcul": self.date_calcul.isoformat(),
            "tables_digest": self.tables_digest,
            "out_of_force": "true" if self.out_of_force else "false",
        }
        return arrow.replace_schema_metadata({k: str(v) for k, v in meta.items()})

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.table())
        frame.attrs.update(
            grid_id=self.grid_id,
            grid_version=self.grid_version,
            grid_hash=self.grid_hash,
            date_calcul=self.date_calcul.isoformat(),
            tables_digest=self.tables_digest,
            out_of_force=self.out_of_force,
        )
        return frame

    def _repr_html_(self) -> str:
        return scores_html(self)


def scores_html(scores: Scores, limit: int = 20) -> str:
    """A compact HTML table of the ``limit`` best applications, with a caption naming grid and date.

    Columns: rank, numero_unique, total, tier, flags, then one column per breakdown column.
    Every text is HTML-escaped.
    """
    top = scores.order()[:limit]
    head = ["rang", "numero_unique", "total", "tier", "flags", *scores.column_ids]
    titles = ["", "", "", "", "", *(c.label for c in scores.columns)]
    rows = [_row(scores, int(i)) for i in top]
    more = len(scores) - len(top)
    foot = f"<p>… {more} autres demandes</p>" if more > 0 else ""
    header = "".join(map(th, head, titles))
    return (
        f'<table class="cotation-scores">{_caption(scores)}<thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{foot}"
    )


def _caption(scores: Scores) -> str:
    version = f" version {scores.grid_version}" if scores.grid_version else ""
    text = (
        f"Grille {scores.grid_id}{version} ({scores.grid_hash[:12]}), calcul au "
        f"{scores.date_calcul.isoformat()}, N = {len(scores)}"
    )
    return f"<caption>{escape(text)}</caption>"


def _row(scores: Scores, i: int) -> str:
    flags = ", ".join(f for k, f in enumerate(scores.flag_ids) if scores.flags[i, k])
    cells: list[Any] = [
        scores.rank[i],
        scores.ids[i],
        scores.total[i],
        scores.tier[i],
        flags,
        *scores.breakdown[i],
    ]
    return tr(cells)
