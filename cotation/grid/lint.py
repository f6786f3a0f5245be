"""Stage 1 (grid): static analysis of a checked grid: warnings (``W4xx``) about rules that are valid
but cannot do what their author meant.

A condition is read as a conjunction of *atoms*: a comparison of an expression with a constant
(``nb_enfants > 2``), a membership in constant values (``situation_logement in {...}``), a boolean
field or variable (``dalo``, ``not dalo``). Every atom restricts the values of its expression to a
*region* (an interval, or a finite set of values or category codes); the interval analysis of
:mod:`cotation.grid.bounds` gives the region the expression can take at all (catalogue ``min`` and
``max``, storage type, function rules). Anything else is an opaque atom, compared by identity.

- W401: the atoms of one condition contradict each other (their regions do not meet), or the
  condition is the constant ``false``;
- W402: a member of a rubric never counts: another member is met whenever it is and gives at least
  as many points (more, or as many and declared before it, since the first wins a tie);
- W403: an atom (or a band) that no value of its expression's domain meets;
- W404: a priority's points and a criterion score the same situation: both conditions test the
  same expression on overlapping values (a situation counted twice);
- W405: consecutive bands leave a gap of values that gives 0 points.

:func:`lint` returns them as :class:`~cotation.errors.GridWarning` records; ``cotation check``
prints them, and ``cotation check --strict`` fails on them. Nothing here imports numpy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import WARNING_CODES, GridWarning
from ..source import Span
from . import ir
from .bounds import Analyzer, analyzer, rule_interval
from .interval import Interval

__all__ = ["lint"]

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_SMALL = 4096  # an integer interval this narrow is enumerated when compared with a set


# -- regions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """The values an atom allows: a closed interval, or (``values`` not None) a finite set."""

    lo: float = -math.inf
    hi: float = math.inf
    values: frozenset[float] | None = None

    def empty(self) -> bool:
        return (not self.values) if self.values is not None else self.lo > self.hi

    def meet(self, other: Region) -> Region:
        if self.values is not None and other.values is not None:
            return Region(values=self.values & other.values)
        if self.values is not None or other.values is not None:
            finite, iv = (self, other) if self.values is not None else (other, self)
            return Region(values=frozenset(v for v in finite.values or () if iv.lo <= v <= iv.hi))
        return Region(max(self.lo, other.lo), min(self.hi, other.hi))

    def within(self, other: Region) -> bool:
        """Whether every value of this region is in ``other``."""
        if self.empty():
            return True
        if self.values is not None:
            return self.meet(other).values == self.values
        if other.values is None:
            return other.lo <= self.lo and self.hi <= other.hi
        if math.isfinite(self.lo) and math.isfinite(self.hi) and self.hi - self.lo <= _SMALL:
            return all(float(v) in other.values for v in range(math.ceil(self.lo), math.floor(self.hi) + 1))
        return False


def _domain(b: Analyzer, x: ir.IExpr) -> Region:
    """Every value the expression can take, as far as the interval analysis knows."""
    if x.type.kind == "category":
        return Region(values=frozenset(float(i) for i in range(len(x.type.domain))))
    if x.type.kind == "bool":
        return Region(values=frozenset((0.0, 1.0)))
    iv = b.of(x)
    return Region(iv.lo, iv.hi)


def _compare(op: str, c: float, integer: bool) -> Region | None:
    """The region of ``x op c``; None for ``!=`` on a non-finite domain (not a region)."""
    step = 1.0 if integer else 0.0
    below = (c - step) if integer else math.nextafter(c, -math.inf)
    above = (c + step) if integer else math.nextafter(c, math.inf)
    if integer and not float(c).is_integer():
        below, above = math.floor(c), math.ceil(c)
    table = {
        "<": Region(hi=below),
        "<=": Region(hi=math.floor(c) if integer else c),
        ">": Region(lo=above),
        ">=": Region(lo=math.ceil(c) if integer else c),
        "==": Region(c, c),
    }
    return table.get(op)


@dataclass(frozen=True)
class Atom:
    key: ir.IExpr  # the expression it restricts (or the opaque condition itself)
    region: Region | None  # None for an opaque atom
    node: ir.IExpr


def atoms(cond: ir.IExpr | None) -> list[Atom]:
    """The conjuncts of a condition, each read as an atom (opaque when not recognised)."""
    if cond is None:
        return []
    if isinstance(cond, ir.Logic) and cond.op == "and":
        return atoms(cond.left) + atoms(cond.right)
    return [_atom(cond)]


def _atom(node: ir.IExpr) -> Atom:
    region = None
    key: ir.IExpr = node
    match node:
        case ir.Cmp(op=op, left=x, right=ir.Const(value=c)) if not isinstance(x, ir.Const):
            key, region = x, _cmp_region(op, x, float(c))
        case ir.Cmp(op=op, left=ir.Const(value=c), right=x) if not isinstance(x, ir.Const):
            key, region = x, _cmp_region(_FLIP[op], x, float(c))
        case ir.InValues(elem=x, values=vs, negate=False):
            key, region = x, Region(values=frozenset(float(v) for v in vs))
        case ir.InValues(elem=x, values=vs, negate=True) if x.type.kind == "category":
            every = range(len(x.type.domain))
            key, region = x, Region(values=frozenset(float(v) for v in every if v not in vs))
        case ir.FieldRef() | ir.VarRef() if node.type.kind == "bool":
            region = Region(values=frozenset((1.0,)))
        case ir.Not(operand=ir.FieldRef() | ir.VarRef() as x) if x.type.kind == "bool":
            key, region = x, Region(values=frozenset((0.0,)))
    return Atom(key, region, node)


def _cmp_region(op: str, x: ir.IExpr, c: float) -> Region | None:
    if x.type.kind in ("category", "bool"):
        if op == "==":
            return Region(values=frozenset((c,)))
        if op == "!=":
            n = len(x.type.domain) if x.type.kind == "category" else 2
            return Region(values=frozenset(float(v) for v in range(n) if v != c))
        return None
    if x.type.kind not in ("int", "float", "date"):
        return None
    return _compare(op, c, x.type.kind != "float")


# -- the analysis ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    code: str
    span: Span
    message: str
    criterion: str | None


def lint(grid: ir.Grid) -> tuple[GridWarning, ...]:
    """Every warning of a checked grid, in source order."""
    b = analyzer(grid)
    found = [*_conditions(grid, b), *_rubrics(grid, b), *_twice(grid, b), *_bands(grid, b)]
    found.sort(key=lambda f: (f.span.file, f.span.line, f.span.col, f.code))
    return tuple(_warning(f) for f in found)


def _warning(f: Finding) -> GridWarning:
    assert f.code in WARNING_CODES, f.code
    return GridWarning(f.code, f.message, f.span, f.criterion, None, _line(f.span))


def _line(span: Span) -> str | None:
    try:
        return Path(span.file).read_text(encoding="utf-8").splitlines()[span.line - 1]
    except (OSError, IndexError, ValueError):
        return None


def _conditions_of(grid: ir.Grid) -> Iterator[tuple[str, str, ir.IExpr, Span]]:
    """(kind, id, condition, span of the item) of every condition of the grid."""
    for c in grid.criteria:
        if c.when is not None:
            yield "criterion", c.id, c.when, c.span
    for p in grid.priorities:
        yield "priority", p.id, p.when, p.span
    if grid.match is not None:
        for f in grid.match.filters:
            yield "filter", f.id, f.when, f.span
        for c in grid.match.criteria:
            if c.when is not None:
                yield "criterion", c.id, c.when, c.span


def _conditions(grid: ir.Grid, b: Analyzer) -> Iterator[Finding]:
    for kind, ident, cond, span in _conditions_of(grid):
        yield from _condition(b, kind, ident, cond, span)


def _condition(b: Analyzer, kind: str, ident: str, cond: ir.IExpr, span: Span) -> Iterator[Finding]:
    if isinstance(cond, ir.Const) and cond.value is False:
        yield Finding("W401", _at(cond, span), f"{_whose(kind)}condition is always false", ident)
        return
    parts = atoms(cond)
    by_key: dict[ir.IExpr, list[Atom]] = {}
    for a in parts:
        if a.region is None:
            continue
        if a.region.meet(_domain(b, a.key)).empty():
            yield Finding(
                "W403",
                _at(a.node, span),
                f"{_whose(kind)}{_text(a.node)} holds for no value {_domain_text(b, a.key)}",
                ident,
            )
            return
        by_key.setdefault(a.key, []).append(a)
    for group in by_key.values():
        region = _domain(b, group[0].key)
        for a in group:
            region = region.meet(a.region)  # type: ignore[arg-type]
        if region.empty():
            texts = " and ".join(_text(a.node) for a in group)
            yield Finding(
                "W401",
                _at(group[-1].node, span),
                f"{_whose(kind)}condition can never be met: {texts} contradict each other",
                ident,
            )
            return
    for a in parts:  # an 'or' whose every branch is impossible
        if isinstance(a.node, ir.Logic) and a.node.op == "or" and not _satisfiable(b, a.node):
            yield Finding(
                "W401",
                _at(a.node, span),
                f"{_whose(kind)}condition can never be met: no branch of {_text(a.node)} can hold",
                ident,
            )


def _satisfiable(b: Analyzer, cond: ir.IExpr) -> bool:
    if isinstance(cond, ir.Logic) and cond.op == "or":
        return _satisfiable(b, cond.left) or _satisfiable(b, cond.right)
    if isinstance(cond, ir.Const) and cond.value is False:
        return False
    return _region_of(b, atoms(cond)) is not None


def _region_of(b: Analyzer, parts: list[Atom]) -> dict[ir.IExpr, Region] | None:
    """The region of every key a conjunction restricts; None when one of them is empty."""
    out: dict[ir.IExpr, Region] = {}
    for a in parts:
        if a.region is None:
            continue
        region = out.get(a.key, _domain(b, a.key)).meet(a.region)
        if region.empty():
            return None
        out[a.key] = region
    return out


def implies(b: Analyzer, a: ir.IExpr | None, c: ir.IExpr | None) -> bool:
    """Whether condition ``a`` being true makes condition ``c`` true (a sufficient test)."""
    if c is None or (isinstance(c, ir.Const) and c.value is True):
        return True
    if a is None:
        return False
    mine = atoms(a)
    regions = _region_of(b, mine)
    if regions is None:
        return True  # a never holds
    nodes = {x.node for x in mine}
    for want in atoms(c):
        if want.node in nodes:
            continue
        have = regions.get(want.key)
        if want.region is None or have is None or not have.within(want.region):
            return False
    return True


# -- rubrics ---------------------------------------------------------------------------------------
def _points_when_met(b: Analyzer, c: ir.Criterion) -> Interval:
    p = rule_interval(b, c.rule)

    def clip(x: float) -> float:
        x = x if c.min is None else max(x, c.min)
        return x if c.max is None else min(x, c.max)

    return Interval(clip(p.lo), clip(p.hi))


def _always_applies(c: ir.Criterion) -> bool:
    """Whether the criterion is met exactly when its condition is true (fixed, never-missing points)."""
    return isinstance(c.rule, ir.Fixed) and not c.rule.points.nullable


def _rubrics(grid: ir.Grid, b: Analyzer) -> Iterator[Finding]:
    for rubric in grid.rubrics:
        for j in rubric.members:
            beaten = _beaten_by(grid, b, rubric.members, j)
            if beaten is not None:
                c, other = grid.criteria[j], grid.criteria[beaten]
                yield Finding(
                    "W402",
                    c.span,
                    f"never counts in rubric '{rubric.label}': whenever it is met, "
                    f"'{other.id}' is met too and gives at least as many points",
                    c.id,
                )


def _beaten_by(grid: ir.Grid, b: Analyzer, members: tuple[int, ...], j: int) -> int | None:
    mine = _points_when_met(b, grid.criteria[j])
    for i in members:
        other = grid.criteria[i]
        if i == j or not _always_applies(other) or not implies(b, grid.criteria[j].when, other.when):
            continue
        theirs = _points_when_met(b, other)
        if theirs.lo > mine.hi or (theirs.lo == mine.hi and i < j):
            return i
    return None


# -- a situation counted twice ------------------------------------------------------------------------
def _twice(grid: ir.Grid, b: Analyzer) -> Iterator[Finding]:
    for p in grid.priorities:
        if not p.points:
            continue
        theirs = atoms(p.when)
        for c in grid.criteria:
            shared = _shared(b, theirs, atoms(c.when)) if c.when is not None else None
            if shared:
                yield Finding(
                    "W404",
                    p.span,
                    f"(priority) gives {p.points} points for what criterion '{c.id}' already "
                    f"scores ({shared}): the situation is counted twice",
                    p.id,
                )


def _shared(b: Analyzer, a: list[Atom], c: list[Atom]) -> str | None:
    """The text of an expression both conditions test on overlapping values, if they can hold
    together; None otherwise."""
    if _region_of(b, a + c) is None:
        return None
    nodes = {x.node for x in c}
    keys = {x.key for x in c if x.region is not None}
    for x in a:
        if x.node in nodes or (x.region is not None and x.key in keys):
            return _text(x.key)
    return None


# -- bands --------------------------------------------------------------------------------------------
def _bands(grid: ir.Grid, b: Analyzer) -> Iterator[Finding]:
    criteria = [*grid.criteria, *(grid.match.criteria if grid.match else ())]
    for c in criteria:
        if isinstance(c.rule, ir.Bands):
            yield from _band_rule(b, c, c.rule)


def _band_rule(b: Analyzer, c: ir.Criterion, rule: ir.Bands) -> Iterator[Finding]:
    value = b.of(rule.value)
    integer = rule.value.type.kind != "float"
    ordered = sorted(rule.bands, key=lambda x: -math.inf if x.lo is None else x.lo)
    for band in ordered:
        lo = -math.inf if band.lo is None else band.lo
        hi = math.inf if band.hi is None else band.hi
        if hi <= value.lo or lo > value.hi:
            yield Finding(
                "W403",
                c.span,
                f"the band {_band_text(band)} is never reached (the value lies in "
                f"[{_num(value.lo)}, {_num(value.hi)}])",
                c.id,
            )
    for prev, nxt in itertools.pairwise(ordered):
        if prev.hi is None or nxt.lo is None or prev.hi >= nxt.lo:
            continue
        if integer and math.ceil(prev.hi) >= nxt.lo:
            continue  # no integer value falls between them
        yield Finding(
            "W405",
            c.span,
            f"the bands leave a gap from {_num(prev.hi)} to {_num(nxt.lo)} (values there give 0 points)",
            c.id,
        )


# -- wording -------------------------------------------------------------------------------------------
def _whose(kind: str) -> str:
    """The start of a message: the record's kind when it is not a criterion (the rendering names it)."""
    return "" if kind == "criterion" else f"({kind}) "


def _at(node: ir.IExpr, fallback: Span) -> Span:
    span: Span | None = getattr(node, "span", None)
    return fallback if span is None or span.file == "<memory>" else span


def _text(node: ir.IExpr) -> str:
    """The source text of a node (its span on one line), else a short description."""
    span = getattr(node, "span", None)
    if span is not None and span.line == span.end_line and span.file != "<memory>":
        try:
            line = Path(span.file).read_text(encoding="utf-8").splitlines()[span.line - 1]
            return f"'{line[span.col - 1 : span.end_col - 1]}'"
        except (OSError, IndexError):
            pass
    name = getattr(node, "name", None)
    return f"'{name}'" if name else "a part of the condition"


def _domain_text(b: Analyzer, key: ir.IExpr) -> str:
    d = _domain(b, key)
    if d.values is not None:
        return "of its domain"
    return f"of its domain [{_num(d.lo)}, {_num(d.hi)}]"


def _band_text(band: ir.Band) -> str:
    lo = "" if band.lo is None else f"from {_num(band.lo)} "
    hi = "" if band.hi is None else f"to {_num(band.hi)}"
    return (lo + hi).strip() or "of every value"


def _num(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return str(int(x)) if float(x).is_integer() else str(x)
