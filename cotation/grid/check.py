"""Stage 1 (grid): turn validated grid files into a typed :class:`~cotation.grid.ir.Grid`.

Merges the files (includes first), extends the catalogue with local fields, parses every expression,
orders and types the variables, type-checks criteria and priorities, and checks the structure
(ids, rubrics, groups, bands, tie-breaks). Every problem is collected; one GridError at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import Collector, did_you_mean
from ..source import NOWHERE, Span
from . import ir
from . import model as m
from . import syntax as s
from .bounds import grid_bounds, pair_bounds, widths
from .catalogue import Catalogue, Field, Kind, default_catalogue, dwelling_catalogue, field_from_dict
from .holders import check_holders
from .interval import I64
from .limits import MAX_CRITERIA, MAX_DEPTH_WITH_VARIABLES
from .loader import PRELUDE_NAME, GridSource, LoadedGrid, load_prelude
from .parser import ExprSyntaxError, parse
from .typecheck import TypeChecker
from .yamlio import Path_

DEFAULT_TIE_BREAK = ("date_depot asc", "numero_unique asc")
_TIE_KINDS = (Kind.DATE, Kind.INT, Kind.FLOAT, Kind.MONEY, Kind.ID)


@dataclass
class _Item:
    """A definition taken from one file, with where it came from."""

    value: Any
    source: GridSource
    path: Path_

    def span(self, *sub: str | int) -> Span:
        return self.source.document.span((*self.path, *sub))

    def key_span(self, *sub: str | int) -> Span:
        return self.source.document.key_span((*self.path, *sub))


@dataclass
class _Merged:
    fields: list[_Item] = field(default_factory=list)
    variables: list[_Item] = field(default_factory=list)
    criteria: list[_Item] = field(default_factory=list)
    rubrics: list[_Item] = field(default_factory=list)
    groups: list[_Item] = field(default_factory=list)
    priorities: list[_Item] = field(default_factory=list)
    filters: list[_Item] = field(default_factory=list)  # match.filters
    reservataires: list[_Item] = field(default_factory=list)  # gestion en flux
    pair_criteria: list[_Item] = field(default_factory=list)  # match.criteria
    typology: _Item | None = None  # match.typology of the last file that declares one
    has_match: bool = False


def _merge(loaded: LoadedGrid) -> _Merged:
    merged = _Merged()
    for src in loaded.files:
        mod = src.model
        merged.fields += [_Item((k, v), src, ("fields", k)) for k, v in mod.fields.items()]
        merged.variables += [_Item((k, v), src, ("variables", k)) for k, v in mod.variables.items()]
        for section in ("criteria", "rubrics", "groups", "priorities", "reservataires"):
            getattr(merged, section).extend(
                _Item(v, src, (section, i)) for i, v in enumerate(getattr(mod, section))
            )
        if mod.match is not None:
            merged.has_match = True
            merged.filters += [
                _Item(v, src, ("match", "filters", i)) for i, v in enumerate(mod.match.filters)
            ]
            merged.pair_criteria += [
                _Item(v, src, ("match", "criteria", i)) for i, v in enumerate(mod.match.criteria)
            ]
            if mod.match.typology is not None:
                merged.typology = _Item(mod.match.typology, src, ("match", "typology"))
    return merged


class GridChecker:
    def __init__(self, loaded: LoadedGrid, catalogue: Catalogue, errors: Collector):
        self.loaded, self.errors = loaded, errors
        self.merged = _merge(loaded)
        self.catalogue = self._extend(catalogue)
        self.types = TypeChecker(self.catalogue, errors, dwelling_catalogue())
        self.prelude, prelude_text = load_prelude()
        if hasattr(errors.sources, "add"):
            errors.sources.add(PRELUDE_NAME, prelude_text)
        self.prelude_names: set[str] = set()
        self.var_depth: dict[str, int] = {}  # variable -> its depth with its own variables written out

    # -- expressions -----------------------------------------------------------------------
    def parse_at(self, item: _Item, *sub: str | int) -> s.Expr | None:
        """Parse the expression at ``item.path + sub`` (text, number or boolean)."""
        doc = item.source.document
        path = (*item.path, *sub)
        raw = _get(item.value, sub)
        if isinstance(raw, bool):
            return s.Bool(raw, doc.span(path))
        if isinstance(raw, int | float):
            return s.Number(raw, doc.span(path))
        scalar = doc.scalars.get(path)
        origin = doc.span(path)
        positions = scalar.locator(raw) if scalar else (lambda off: (origin.line, origin.col + off))
        try:
            return parse(raw, origin, positions)
        except ExprSyntaxError as exc:
            line, col = positions(exc.start)
            end_line, end_col = positions(exc.end)
            self.errors.error(
                exc.code,
                origin.shift(line, col, end_line, end_col),
                exc.message,
                criterion=self.types.criterion,
                suggestion=exc.suggestion,
            )
            return None

    def typed(self, item: _Item, *sub: str | int) -> ir.IExpr | None:
        tree = self.parse_at(item, *sub)
        typed = None if tree is None else self.types.check(tree)
        return None if typed is None else self.shallow(typed, item.span(*sub))

    def shallow(self, typed: ir.IExpr, span: Span) -> ir.IExpr | None:
        """``typed``, unless it nests beyond MAX_DEPTH_WITH_VARIABLES with the variables it reads
        written out (the code generators write them out): E214."""
        levels = ir_depth(typed, self.var_depth)
        if levels <= MAX_DEPTH_WITH_VARIABLES:
            return typed
        deepest = sorted(ir.vars_read(typed), key=lambda v: -self.var_depth.get(v, 0))[:3]
        self.errors.error(
            "E214",
            span,
            f"the expression nests {levels} levels deep with the variables it reads written out "
            f"({', '.join(f'{v}: {self.var_depth.get(v, 0)}' for v in deepest)}), at most "
            f"{MAX_DEPTH_WITH_VARIABLES}: make the chain of variables shallower",
            criterion=self.types.criterion,
        )
        return None

    def source_text(self, item: _Item, *sub: str | int) -> str:
        raw = _get(item.value, sub)
        return str(raw).lower() if isinstance(raw, bool) else str(raw)

    # -- catalogue -------------------------------------------------------------------------
    def _extend(self, catalogue: Catalogue) -> Catalogue:
        extra: list[Field] = []
        for item in self.merged.fields:
            name, spec = item.value
            if name in catalogue or any(f.name == name for f in extra):
                self.errors.error(
                    "E307",
                    item.key_span(),
                    f"local field '{name}' is already defined (in the catalogue or another file)",
                    criterion=name,
                )
                continue
            if spec.type in ("category", "set") and not spec.values:
                self.errors.error(
                    "E307",
                    item.key_span(),
                    f"local field '{name}' of type {spec.type} needs 'values'",
                    criterion=name,
                )
                continue
            extra.append(field_from_dict(name, spec.model_dump(exclude_none=True), local=True))
        return catalogue.extend(tuple(extra))


def _get(value: Any, sub: tuple[str | int, ...]) -> Any:
    for key in sub:
        if isinstance(value, dict):
            value = value[key]
        elif isinstance(value, list):
            value = value[int(key)]
        else:
            value = getattr(value, str(key) if key != "from" else "from_")
    return value


def check_grid(
    loaded: LoadedGrid, catalogue: Catalogue | None = None, errors: Collector | None = None
) -> ir.Grid:
    """Check a loaded grid against ``catalogue`` (the default one when None); raise GridError."""
    errors = errors or Collector(loaded.sources)
    gc = GridChecker(loaded, catalogue or default_catalogue(), errors)
    _check_count(gc)
    _check_ids(gc)
    variables = _check_variables(gc)
    criteria = [c for c in (_check_criterion(gc, item) for item in gc.merged.criteria) if c is not None]
    rubrics = _check_sets(gc, criteria, gc.merged.rubrics, "rubric")
    groups = _check_sets(gc, criteria, gc.merged.groups, "group")
    priorities = [p for p in (_check_priority(gc, item) for item in gc.merged.priorities) if p is not None]
    filters, pair_criteria = _check_match_items(gc)
    holders, holder_filters = check_holders(gc, gc.merged.reservataires, priorities)
    filters += holder_filters
    similar = _check_similar(gc)
    typology = _check_typology(gc)
    tie_break = _check_tie_break(gc)
    meta = _check_meta(gc)
    errors.raise_if_any()
    roots = [e for c in (*criteria, *pair_criteria) for e in c.expressions()]
    roots += [p.when for p in priorities] + [f.when for f in filters]
    roots += [x.expr for x in similar]
    variables = _used(gc, variables, roots)
    app_vars = tuple(v for v in variables if v.name not in gc.types.pair_vars)
    match = _match(gc, variables, filters, pair_criteria)
    grid = ir.Grid(
        meta,
        _with_justificatifs(gc.catalogue, criteria),
        app_vars,
        tuple(criteria),
        tuple(r for r in rubrics),
        tuple(groups),
        tuple(priorities),
        tie_break,
        _content_hash(gc, loaded),
        match=match,
        similar=tuple(similar),
        typology=typology,
        holders=tuple(holders),
    )
    return _with_widths(gc, grid)


JUSTIFICATIFS = "justificatifs_verifies"


def _with_justificatifs(catalogue: Catalogue, criteria: list[ir.Criterion]) -> Catalogue:
    """The catalogue whose ``justificatifs_verifies`` set lists the criteria that declare a
    justificatif (by id; labelled with the document): what an application may declare verified."""
    f = catalogue.get(JUSTIFICATIFS)
    if f is None or f.kind is not Kind.SET or f.local:
        return catalogue
    ids = tuple(c.id for c in criteria if c.justificatif)
    labels = tuple(c.justificatif or "" for c in criteria if c.justificatif)
    fields = tuple(
        dataclasses.replace(g, values=ids, value_labels=labels) if g.name == JUSTIFICATIFS else g
        for g in catalogue
    )
    return Catalogue(fields)


def verified_grid(grid: ir.Grid) -> ir.Grid:
    """The grid where a criterion that declares a justificatif is met only when the application lists
    it in ``justificatifs_verifies``: the scores of verified criteria only."""
    f = grid.catalogue.get(JUSTIFICATIFS)
    if f is None or not f.values:
        return grid
    return ir.per_grid(_VERIFIED, grid, lambda: _verified_variant(grid, f.values))  # type: ignore[no-any-return]


def _verified_variant(grid: ir.Grid, ids: tuple[str, ...]) -> ir.Grid:
    field = ir.FieldRef(JUSTIFICATIFS, ir.Type("set", ids), False)
    criteria = []
    for c in grid.criteria:
        if c.justificatif and c.id in ids:
            proof = ir.SetHas(ir.Const(ids.index(c.id), ir.Type("category", ids)), field)
            when = proof if c.when is None else ir.Logic("and", c.when, proof, nullable=c.when.nullable)
            c = dataclasses.replace(c, when=when)
        criteria.append(c)
    return dataclasses.replace(grid, criteria=tuple(criteria))


_VERIFIED: dict[Any, ir.Grid] = {}  # per live grid object


def _content_hash(gc: GridChecker, loaded: LoadedGrid) -> str:
    """The hash of the grid's files and of the prelude (its variables and default tables)."""
    prelude = json.dumps(gc.prelude.model.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256((loaded.content_hash + prelude).encode()).hexdigest()


def _used(gc: GridChecker, variables: list[ir.Variable], roots: list[ir.IExpr]) -> list[ir.Variable]:
    """The grid's own variables, and the prelude's that the grid uses (directly or not)."""
    own = [v for v in variables if v.name not in gc.prelude_names]
    _, read = ir.reads([*roots, *(v.expr for v in own)], {v.name: v for v in variables})
    needed = read | {v.name for v in own}
    return [v for v in variables if v.name in needed]


def _with_widths(gc: GridChecker, grid: ir.Grid) -> ir.Grid:
    """The grid with the integer widths its bounds allow (E309 where points may exceed int64)."""
    found = grid_bounds(grid)
    for j in found.unbounded:
        c = grid.criteria[j]
        gc.errors.error(
            "E309",
            c.span,
            "its points are not bounded within 64-bit integers: give the criterion a 'min:' and a 'max:'",
            criterion=c.id,
        )
    if not found.unbounded and not found.total.fits(I64):
        gc.errors.error(
            "E309",
            grid.criteria[0].span if grid.criteria else NOWHERE,
            f"the total can reach [{found.total.lo:.0f}, {found.total.hi:.0f}], beyond 64-bit "
            "integers: give the largest criteria a 'min:' and a 'max:'",
        )
    if grid.match is not None:
        for j in pair_bounds(grid)[1]:
            c = grid.match.criteria[j]
            gc.errors.error(
                "E309",
                c.span,
                "its points are not bounded within 64-bit integers: give the criterion a 'min:' and a 'max:'",
                criterion=c.id,
            )
    if len(grid.priorities) > 64:
        gc.errors.error(
            "E310",
            grid.priorities[64].span,
            f"{len(grid.priorities)} priorities, at most 64 (one bit each in the flags)",
        )
    gc.errors.raise_if_any()
    return dataclasses.replace(grid, widths=widths(found, len(grid.priorities)))


def _check_meta(gc: GridChecker) -> ir.Meta:
    main = gc.loaded.main
    mod, doc = main.model, main.document
    for key in ("id", "title"):
        if getattr(mod, key) is None:
            gc.errors.error(
                "E111",
                doc.span(()),
                f"missing required key '{key}' (a grid needs an id and a title; "
                "files meant only to be included declare 'kind: pool')",
            )
    if mod.kind == "pool":
        gc.errors.error(
            "E113", doc.span(("kind",)), "this file is a pool (kind: pool): include it from a grid"
        )
    if mod.effective_from and mod.effective_until and mod.effective_until < mod.effective_from:
        gc.errors.error("E308", doc.span(("effective_until",)), "effective_until is before effective_from")
    return ir.Meta(
        mod.id or "",
        mod.title or "",
        mod.territory,
        mod.version,
        mod.effective_from,
        mod.effective_until,
        mod.legal_reference,
        mod.description,
        main.path,
    )


def _check_count(gc: GridChecker) -> None:
    """E340 before anything is checked, when the grid has more than MAX_CRITERIA criteria."""
    items = [*gc.merged.criteria, *gc.merged.pair_criteria]
    if len(items) > MAX_CRITERIA:
        gc.errors.error(
            "E340",
            items[MAX_CRITERIA].span(),
            f"the grid has {len(items)} criteria (with its pools and its match part), at most {MAX_CRITERIA}",
        )
        gc.errors.raise_if_any()


def ir_depth(node: ir.IExpr, var_depth: dict[str, int]) -> int:
    """Levels of a typed expression, a variable counting its own depth (recursive: the syntax
    tree it comes from is at most MAX_DEPTH deep, and its IR a few levels more)."""
    if isinstance(node, ir.VarRef):
        return var_depth.get(node.name, 0)
    kids = ir.children(node)
    return 1 + max(ir_depth(c, var_depth) for c in kids) if kids else 0


def _check_ids(gc: GridChecker) -> None:
    seen: dict[str, Span] = {}
    m_ = gc.merged
    items = [*m_.criteria, *m_.priorities, *m_.rubrics, *m_.groups, *m_.filters, *m_.pair_criteria]
    names = [(it.value.id, it) for it in items] + [(f"plafond_{it.value.id}", it) for it in m_.groups]
    for ident, item in names:
        span = item.span("id")
        if ident in seen:
            first = seen[ident]
            gc.errors.error(
                "E301", span, f"duplicate id '{ident}' (first defined at {first})", criterion=ident
            )
        else:
            seen[ident] = span
    for item in m_.variables:
        name = item.value[0]
        if name in gc.catalogue or name == "date_calcul":
            gc.errors.error(
                "E301",
                item.key_span(),
                f"variable '{name}' has the name of a field",
                criterion=name,
                subject="variable",
            )


def _check_variables(gc: GridChecker) -> list[ir.Variable]:
    """Type the variables (the grid's and the prelude's it does not redefine) in dependency order; a
    cycle is E209. Variables that read the dwelling (directly or not) become pair-level."""
    items = {it.value[0]: it for it in gc.merged.variables}
    prelude = _prelude_items(gc, items)
    gc.prelude_names = set(prelude)
    items = {**prelude, **items}
    trees: dict[str, s.Expr] = {}
    gc.errors.subject = "variable"
    for name, item in items.items():
        gc.types.criterion = name
        sub = ("expr",) if isinstance(item.value[1], m.Variable) else ()
        tree = gc.parse_at(_Item(item.value[1], item.source, item.path), *sub)
        if tree is not None:
            trees[name] = tree
        else:
            gc.types.failed.add(name)
    out: list[ir.Variable] = []
    gc.types.pair_allowed = True
    for name in _dependency_order(gc, trees, items):
        gc.types.criterion = name
        typed = gc.types.check(trees[name])
        if typed is not None:
            typed = gc.shallow(typed, items[name].key_span())
        if typed is None:
            gc.types.failed.add(name)
            continue
        gc.var_depth[name] = ir_depth(typed, gc.var_depth)
        gc.types.variables[name] = ir.VarRef(name, typed.type, typed.nullable)
        if ir.reads_dwelling(typed) or ir.vars_read(typed) & gc.types.pair_vars:
            gc.types.pair_vars.add(name)
        item = items[name]
        spec = item.value[1]
        label = spec.label if isinstance(spec, m.Variable) else None
        text = spec.expr if isinstance(spec, m.Variable) else spec
        internal = isinstance(spec, m.Variable) and spec.internal
        out.append(ir.Variable(name, typed, label, str(text), item.key_span(), internal))
    gc.types.pair_allowed = False
    gc.types.criterion = None
    gc.errors.subject = "criterion"
    return out


def _prelude_items(gc: GridChecker, own: dict[str, _Item]) -> dict[str, _Item]:
    """The prelude's variables that this grid does not redefine and that type-check against its
    catalogue (a prelude variable whose fields a custom catalogue lacks is simply not offered)."""
    candidates = {
        k: _Item((k, v), gc.prelude, ("variables", k))
        for k, v in gc.prelude.model.variables.items()
        if k not in own and k not in gc.catalogue
    }
    scratch = Collector(gc.errors.sources)
    checker = TypeChecker(gc.catalogue, scratch, gc.types.dwellings)
    checker.pair_allowed = True
    saved = gc.errors, gc.types
    gc.errors, gc.types = scratch, checker
    try:
        trees = {}
        for name, item in candidates.items():
            sub = ("expr",) if isinstance(item.value[1], m.Variable) else ()
            tree = gc.parse_at(_Item(item.value[1], item.source, item.path), *sub)
            if tree is not None:
                trees[name] = tree
        own_names = {x.name for t in trees.values() for x in s.walk(t) if isinstance(x, s.Name)} & set(own)
        ok: dict[str, _Item] = {}
        for name in _dependency_order(gc, trees, candidates):
            if own_names & {x.name for x in s.walk(trees[name]) if isinstance(x, s.Name)}:
                ok[name] = candidates[name]  # reads a variable the grid redefines: typed with the grid's
                continue
            before = len(scratch.diagnostics)
            typed = checker.check(trees[name])
            if typed is not None and len(scratch.diagnostics) == before:
                checker.variables[name] = ir.VarRef(name, typed.type, typed.nullable)
                ok[name] = candidates[name]
            else:
                checker.failed.add(name)
    finally:
        gc.errors, gc.types = saved
    return ok


def _dependency_order(gc: GridChecker, trees: dict[str, s.Expr], items: dict[str, _Item]) -> list[str]:
    """Variables in an order where each comes after its inputs; those on a cycle are left out (E209)."""
    deps = {
        n: {x.name for x in s.walk(t) if isinstance(x, s.Name) and x.name in trees} for n, t in trees.items()
    }
    order: list[str] = []
    state: dict[str, int] = {}
    cyclic: set[str] = set()

    def visit(root: str) -> None:  # depth first, with an explicit stack (chains of any length)
        stack: list[tuple[str, list[str]]] = []
        path: list[str] = []
        name: str | None = root
        while True:
            if name is not None and state.get(name) == 1:
                loop = path[path.index(name) :]
                if not cyclic & set(loop):
                    cycle = " -> ".join((*loop, name))
                    gc.errors.error(
                        "E209",
                        items[name].key_span(),
                        f"variable defined in terms of itself: {cycle}",
                        criterion=name,
                    )
                cyclic.update(loop)
            elif name is not None and state.get(name) != 2:
                state[name] = 1
                path.append(name)
                stack.append((name, sorted(deps[name], reverse=True)))
            if not stack:
                return
            top, todo = stack[-1]
            if todo:
                name = todo.pop()
                continue
            stack.pop()
            path.pop()
            state[top] = 2
            order.append(top)
            name = None

    for name in trees:
        visit(name)
    gc.types.failed |= set(trees) - set(order) | cyclic
    bad = set(cyclic)
    for name in order:  # inputs come first, so one pass propagates
        if deps[name] & bad:
            bad.add(name)
    gc.types.failed |= bad
    return [n for n in order if n not in bad]


def _check_criterion(gc: GridChecker, item: _Item) -> ir.Criterion | None:
    c: m.Criterion = item.value
    gc.types.criterion = c.id
    when = _condition(gc, item, "when") if c.when is not None else None
    rule = _check_rule(gc, item)
    if c.valid_for is not None:
        when = _valid_for(gc, item, when)
    if c.min is not None and c.max is not None and c.min > c.max:
        gc.errors.error(
            "E308", item.span("min"), f"min ({c.min}) is greater than max ({c.max})", criterion=c.id
        )
    gc.types.criterion = None
    if rule is None or (c.when is not None and when is None):
        return None
    when_source = gc.source_text(item, "when") if c.when is not None else None
    return ir.Criterion(
        c.id,
        c.label,
        c.description,
        when,
        rule,
        c.min,
        c.max,
        c.rubric,
        c.group,
        when_source,
        _points_source(gc, item),
        c.justificatif,
        item.span(),
    )


def _points_source(gc: GridChecker, item: _Item) -> str:
    c: m.Criterion = item.value
    if c.points is not None:
        return gc.source_text(item, "points")
    return gc.source_text(item, "value") if c.value is not None else ""


def _condition(gc: GridChecker, item: _Item, *sub: str | int) -> ir.IExpr | None:
    typed = gc.typed(item, *sub)
    if typed is not None and typed.type != ir.BOOL:
        gc.errors.error(
            "E207",
            item.span(*sub),
            f"the condition must be boolean, not {typed.type}",
            criterion=gc.types.criterion,
            suggestion=None,
        )
        return None
    return typed


def _check_rule(gc: GridChecker, item: _Item) -> ir.Rule | None:
    c: m.Criterion = item.value
    ways = [k for k in ("points", "per_unit", "bands") if getattr(c, k) is not None]
    if len(ways) != 1:
        what = "none of" if not ways else "more than one of"
        gc.errors.error(
            "E305",
            item.span(),
            f"a criterion declares exactly one of points, per_unit and bands; "
            f"this one declares {what} them" + (f" ({', '.join(ways)})" if ways else ""),
            criterion=c.id,
        )
        return None
    if ways[0] == "points":
        if c.value is not None:
            gc.errors.error(
                "E305", item.key_span("value"), "'value' is only used with per_unit or bands", criterion=c.id
            )
        return _fixed(gc, item)
    return _valued_rule(gc, item, ways[0])


def _fixed(gc: GridChecker, item: _Item) -> ir.Rule | None:
    typed = gc.typed(item, "points")
    if typed is None:
        return None
    if typed.type != ir.INT:
        hint = "round(...)" if typed.type.numeric else None
        gc.errors.error(
            "E208",
            item.span("points"),
            f"points must be an integer, not {typed.type}",
            criterion=item.value.id,
            suggestion=hint,
        )
        return None
    return ir.Fixed(typed)


def _valued_rule(gc: GridChecker, item: _Item, way: str) -> ir.Rule | None:
    c: m.Criterion = item.value
    if c.value is None:
        gc.errors.error(
            "E111",
            item.span(),
            f"missing required key 'value' ({way} needs the quantity to measure)",
            criterion=c.id,
        )
        return None
    value = gc.typed(item, "value")
    if value is None:
        return None
    if not value.type.numeric:
        gc.errors.error(
            "E204", item.span("value"), f"'value' must be a number, not {value.type}", criterion=c.id
        )
        return None
    if way == "per_unit":
        return ir.PerUnit(value, int(c.per_unit or 0), float(c.unit))
    bands = _check_bands(gc, item)
    return None if bands is None else ir.Bands(value, bands)


def _check_bands(gc: GridChecker, item: _Item) -> tuple[ir.Band, ...] | None:
    c: m.Criterion = item.value
    out: list[ir.Band] = []
    prev_hi: float | None = None
    for i, band in enumerate(c.bands or []):
        lo, hi = band.from_, band.to
        problem = None
        if lo is not None and hi is not None and hi <= lo:
            problem = f"band {i + 1}: 'to' ({hi:g}) must be greater than 'from' ({lo:g})"
        elif i > 0 and (prev_hi is None or lo is None or lo < prev_hi):
            problem = (
                f"band {i + 1} starts before the end of band {i} "
                "(bands go in increasing order and do not overlap)"
            )
        if problem:
            gc.errors.error("E304", item.span("bands", i), problem, criterion=c.id)
            return None
        out.append(ir.Band(lo, hi, band.points))
        prev_hi = hi
    if not out:
        gc.errors.error("E304", item.span("bands"), "bands must list at least one band", criterion=c.id)
        return None
    return tuple(out)


def _valid_for(gc: GridChecker, item: _Item, when: ir.IExpr | None) -> ir.IExpr | None:
    c: m.Criterion = item.value
    since = gc.typed(item, "valid_for", "since")
    if since is None:
        return None
    if since.type != ir.DATE:
        gc.errors.error(
            "E204",
            item.span("valid_for", "since"),
            f"'since' must be a date, not {since.type}",
            criterion=c.id,
        )
        return None
    today = ir.DateCalcul()
    months = ir.Call("months_between", (since, today), ir.INT, since.nullable)
    window = ir.Logic(
        "and",
        ir.Cmp("<=", since, today, nullable=since.nullable),
        ir.Cmp("<", months, ir.Const(c.valid_for.months, ir.INT), nullable=since.nullable),  # type: ignore[union-attr]
        nullable=since.nullable,
    )
    if when is None:
        return window
    return ir.Logic("and", when, window, nullable=when.nullable or window.nullable)


def _check_sets(gc: GridChecker, criteria: list[ir.Criterion], items: list[_Item], kind: str) -> list[Any]:
    declared = {it.value.id: it for it in items}
    attr = "rubric" if kind == "rubric" else "group"
    suggested: set[str] = set()  # declared ids that a misspelt reference probably meant: no E303 for them
    for item in gc.merged.criteria:
        ref = getattr(item.value, attr)
        if ref is not None and ref not in declared:
            hint = did_you_mean(ref, declared)
            suggested.add(hint or "")
            gc.errors.error(
                "E302", item.span(attr), f"unknown {kind} '{ref}'", criterion=item.value.id, suggestion=hint
            )
    out: list[ir.Rubric | ir.Group] = []
    for ident, item in declared.items():
        members = tuple(i for i, c in enumerate(criteria) if getattr(c, attr) == ident)
        used = any(getattr(it.value, attr) == ident for it in gc.merged.criteria)
        if not members and not used and ident not in suggested:
            gc.errors.error(
                "E303",
                item.span("id"),
                f"{kind} '{ident}' has no criterion (set '{attr}: {ident}' on its criteria)",
                criterion=ident,
            )
        spec = item.value
        if kind == "rubric":
            out.append(ir.Rubric(ident, spec.label, members, item.span()))
            continue
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            gc.errors.error(
                "E308",
                item.span("min"),
                f"min ({spec.min}) is greater than max ({spec.max})",
                criterion=ident,
            )
        out.append(ir.Group(ident, spec.label, members, spec.min, spec.max, item.span()))
    return out


def _check_priority(gc: GridChecker, item: _Item) -> ir.Priority | None:
    p: m.Priority = item.value
    gc.types.criterion, gc.errors.subject = p.id, "priority"
    when = _condition(gc, item, "when")
    gc.types.criterion, gc.errors.subject = None, "criterion"
    if when is None:
        return None
    return ir.Priority(
        p.id,
        p.label,
        p.legal_basis,
        p.letter,
        p.description,
        when,
        gc.source_text(item, "when"),
        p.points,
        p.tier,
        item.span(),
    )


def _check_match_items(gc: GridChecker) -> tuple[list[ir.Filter], list[ir.Criterion]]:
    """Filters and pair criteria of the match part (they may read logement.* and pair variables)."""
    gc.types.pair_allowed = True
    filters: list[ir.Filter] = []
    for item in gc.merged.filters:
        f: m.Filter = item.value
        gc.types.criterion = f.id
        when = _condition(gc, item, "when")
        if when is not None:
            filters.append(
                ir.Filter(f.id, f.label, f.description, when, gc.source_text(item, "when"), item.span())
            )
    criteria = []
    for item in gc.merged.pair_criteria:
        c: m.Criterion = item.value
        for key in ("rubric", "group"):
            if getattr(c, key) is not None:
                gc.errors.error(
                    "E311",
                    item.span(key),
                    f"a criterion of the match part cannot belong to a {key} "
                    "(rubrics and group caps apply to the application's criteria)",
                    criterion=c.id,
                )
        checked = _check_criterion(gc, item)
        if checked is not None:
            criteria.append(checked)
    gc.types.pair_allowed = False
    gc.types.criterion = None
    return filters, criteria


def _check_typology(gc: GridChecker) -> tuple[tuple[int, int], ...]:
    """match.typology (the grid's, else the prelude's): persons 1..n -> (min rooms, max rooms)."""
    item = gc.merged.typology or _Item(gc.prelude.model.match.typology, gc.prelude, ("match", "typology"))  # type: ignore[union-attr]
    raw: dict[str, list[int]] = item.value
    table = {int(k): (k, v) for k, v in raw.items() if k.strip().isdigit()}
    sizes = sorted(table)
    if len(table) != len(raw) or sizes != list(range(1, len(sizes) + 1)):
        gc.errors.error(
            "E311",
            item.span(),
            "match.typology must give every household size from 1 up to the "
            f"largest one it lists, got sizes {', '.join(raw) or 'none'}",
        )
        return ()
    out = []
    for n in sizes:
        key, rooms = table[n]
        if len(rooms) != 2 or not 1 <= rooms[0] <= rooms[1]:
            gc.errors.error(
                "E311",
                item.span(key),
                f"match.typology, {n} person(s): expected [min rooms, max rooms] "
                f"with 1 <= min <= max, got {rooms}",
            )
            return ()
        out.append((rooms[0], rooms[1]))
    return tuple(out)


def _index(filters: list[ir.Filter]) -> ir.Index | None:
    """The inverted index the pair engine may use: when the first filter is exactly
    ``logement.<commune> in <communes field>``."""
    if not filters:
        return None
    w = filters[0].when
    if (
        isinstance(w, ir.ListHas)
        and not w.negate
        and isinstance(w.elem, ir.DwellingRef)
        and isinstance(w.container, ir.FieldRef)
    ):
        return ir.Index(w.elem.name, w.container.name)
    return None


def _match(
    gc: GridChecker, variables: list[ir.Variable], filters: list[ir.Filter], criteria: list[ir.Criterion]
) -> ir.Match | None:
    if not gc.merged.has_match:
        return None  # variables that read the dwelling are then simply unused
    pair_vars = tuple(v for v in variables if v.name in gc.types.pair_vars)
    return ir.Match(dwelling_catalogue(), pair_vars, tuple(filters), tuple(criteria), _index(filters))


def _check_similar(gc: GridChecker) -> list[ir.Similar]:
    """The keys of "similar demands" for positioning (default: first wished typology and commune)."""
    main = gc.loaded.main
    declared = main.model.similar
    item = _Item(declared, main, ("similar",))
    if declared is None:
        defaults = [
            ("typologie_souhaitee", "typologie_souhaitee"),
            ("first(communes_souhaitees)", "communes_souhaitees"),
        ]
        texts = [t for t, f in defaults if f in gc.catalogue]
        item = _Item(texts, main, ())
    out = []
    for i, text in enumerate(item.value):
        gc.types.criterion = "similar"
        typed = gc.typed(item, i) if declared is not None else gc.types.check(parse(text))
        if typed is None:
            continue
        if typed.type == ir.COMMUNES:
            gc.errors.error(
                "E204",
                item.span(i),
                "a key of similar demands cannot be a list of communes",
                criterion="similar",
                suggestion=f"first({text})",
            )
            continue
        out.append(ir.Similar(typed, str(text), _similar_label(gc, typed, str(text))))
    gc.types.criterion = None
    return out


def _similar_label(gc: GridChecker, typed: ir.IExpr, text: str) -> str:
    if isinstance(typed, ir.FieldRef):
        return gc.catalogue[typed.name].label.lower()
    if isinstance(typed, ir.Call) and typed.func == "first" and isinstance(typed.args[0], ir.FieldRef):
        return "première " + gc.catalogue[typed.args[0].name].label.lower().removesuffix("s").replace(
            "es ", "e "
        )
    return text


def _check_tie_break(gc: GridChecker) -> tuple[ir.TieBreak, ...]:
    main = gc.loaded.main
    declared = main.model.tie_break
    specs = declared if declared is not None else list(DEFAULT_TIE_BREAK)
    out: list[ir.TieBreak] = []
    for i, spec in enumerate(specs):
        span = main.document.span(("tie_break", i)) if declared is not None else main.document.span(())
        parts = spec.split()
        order = parts[1] if len(parts) == 2 else "asc"
        f = gc.catalogue.get(parts[0]) if parts else None
        if not parts or len(parts) > 2 or order not in ("asc", "desc"):
            gc.errors.error("E306", span, f"tie-break '{spec}' must read 'FIELD asc' or 'FIELD desc'")
        elif f is None or f.kind not in _TIE_KINDS:
            why = "unknown field" if f is None else f"field of type {f.kind.value} cannot be ordered"
            gc.errors.error(
                "E306",
                span,
                f"tie-break on '{parts[0]}': {why}",
                suggestion=did_you_mean(parts[0], [g.name for g in gc.catalogue if g.kind in _TIE_KINDS]),
            )
        else:
            out.append(ir.TieBreak(parts[0], order == "desc"))
    if not any(t.field == gc.catalogue.id_field.name for t in out):
        out.append(ir.TieBreak(gc.catalogue.id_field.name, False))  # a total order, always
    return tuple(out)
