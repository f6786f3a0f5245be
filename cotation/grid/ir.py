"""Stage 1 (grid): the typed representation of a checked grid: what the evaluators and code generators walk.

Expressions are a closed set of frozen dataclasses, each with its :class:`Type`, whether it may be
missing (``nullable``) and its source span. Names are resolved (a field, a variable, or the
computation date), category literals are integer codes, chained comparisons are unfolded, and
membership tests are specialised by the kind of container. Nothing here imports numpy or numba.
"""

from __future__ import annotations

import datetime
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..source import NOWHERE, Span
from .catalogue import Catalogue

_span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Type:
    """An expression type. ``domain`` holds the values of a category or set type."""

    kind: str  # 'bool' | 'int' | 'float' | 'date' | 'category' | 'set' | 'commune' | 'communes'
    domain: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.kind

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


BOOL, INT, FLOAT, DATE = Type("bool"), Type("int"), Type("float"), Type("date")
COMMUNE, COMMUNES = Type("commune"), Type("communes")


# -- expressions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    value: int | float | bool
    type: Type
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class FieldRef:
    name: str
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class DwellingRef:
    """``logement.<name>``: a field of the dwelling, in the expressions of a grid's ``match`` part."""

    name: str
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class VarRef:
    name: str
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class DateCalcul:
    """The computation date, an explicit input of every scoring."""

    type: Type = DATE
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class Arith:
    op: str  # '+', '-', '*', '/', '//', '%'
    left: IExpr
    right: IExpr
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class Neg:
    operand: IExpr
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class Cmp:
    op: str  # '<', '<=', '>', '>=', '==', '!='
    left: IExpr
    right: IExpr
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class Logic:
    """Three-valued (Kleene) ``and`` / ``or``: false and missing = false, true or missing = true."""

    op: str  # 'and' | 'or'
    left: IExpr
    right: IExpr
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class Not:
    operand: IExpr
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class Cond:
    cond: IExpr
    then: IExpr
    otherwise: IExpr
    type: Type
    nullable: bool
    span: Span = _span


@dataclass(frozen=True)
class InValues:
    """``elem in {v1, v2, ...}`` where the values are constants (codes for categories)."""

    elem: IExpr
    values: tuple[int | float, ...]
    negate: bool = False
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class SetHas:
    """``elem in container`` where container is a set (bit mask) and elem a category of its domain."""

    elem: IExpr
    container: IExpr
    negate: bool = False
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class ListHas:
    """``elem in container`` where container is an ordered list of communes."""

    elem: IExpr
    container: IExpr
    negate: bool = False
    type: Type = BOOL
    nullable: bool = False
    span: Span = _span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[IExpr, ...]
    type: Type
    nullable: bool
    span: Span = _span


IExpr = (
    Const
    | FieldRef
    | DwellingRef
    | VarRef
    | DateCalcul
    | Arith
    | Neg
    | Cmp
    | Logic
    | Not
    | Cond
    | InValues
    | SetHas
    | ListHas
    | Call
)


def children(node: IExpr) -> tuple[IExpr, ...]:
    """Direct sub-expressions of a typed node."""
    match node:
        case Arith(left=a, right=b) | Cmp(left=a, right=b) | Logic(left=a, right=b):
            return (a, b)
        case Neg(operand=o) | Not(operand=o):
            return (o,)
        case Cond(cond=c, then=t, otherwise=o):
            return (c, t, o)
        case InValues(elem=e):
            return (e,)
        case SetHas(elem=e, container=c) | ListHas(elem=e, container=c):
            return (e, c)
        case Call(args=a):
            return a
    return ()


def fields_read(node: IExpr) -> set[str]:
    """Names of the fields an expression reads directly (not through variables)."""
    out = {node.name} if isinstance(node, FieldRef) else set()
    for child in children(node):
        out |= fields_read(child)
    return out


def reads_dwelling(node: IExpr) -> bool:
    """Whether an expression is pair-level by itself: it reads a field of the dwelling, or the income
    ceilings (not through variables)."""
    if isinstance(node, DwellingRef) or (isinstance(node, Call) and node.func == "plafond_ressources"):
        return True
    return any(reads_dwelling(c) for c in children(node))


def vars_read(node: IExpr) -> set[str]:
    """Names of the variables an expression reads directly."""
    out = {node.name} if isinstance(node, VarRef) else set()
    for child in children(node):
        out |= vars_read(child)
    return out


def reads(exprs: Iterable[IExpr], variables: Mapping[str, Variable]) -> tuple[set[str], set[str]]:
    """(fields, variables): what ``exprs`` read, directly or through the ``variables`` they read,
    followed transitively. A variable name absent from ``variables`` is not followed (nor listed)."""
    fields: set[str] = set()
    seen: set[str] = set()
    todo = list(exprs)
    while todo:
        expr = todo.pop()
        fields |= fields_read(expr)
        for name in vars_read(expr) - seen:
            if name in variables:
                seen.add(name)
                todo.append(variables[name].expr)
    return fields, seen


# -- grid --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    name: str
    expr: IExpr
    label: str | None
    source: str
    span: Span = _span
    internal: bool = False  # a helper never shown to the applicant (model.Variable.internal)


@dataclass(frozen=True)
class Fixed:
    """Points given by an integer expression (often a constant)."""

    points: IExpr


@dataclass(frozen=True)
class PerUnit:
    """``floor(value / unit) * per_unit`` points."""

    value: IExpr
    per_unit: int
    unit: float


@dataclass(frozen=True)
class Band:
    lo: float | None
    hi: float | None
    points: int


@dataclass(frozen=True)
class Bands:
    """Points of the first band with ``lo <= value < hi`` (0 when none)."""

    value: IExpr
    bands: tuple[Band, ...]


Rule = Fixed | PerUnit | Bands


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    description: str
    when: IExpr | None
    rule: Rule
    min: int | None
    max: int | None
    rubric: str | None
    group: str | None
    when_source: str | None
    points_source: str
    justificatif: str | None
    span: Span = _span

    @property
    def value(self) -> IExpr:
        """The expression its rule reads: the points of a fixed rule, else the counted value."""
        return self.rule.points if isinstance(self.rule, Fixed) else self.rule.value

    def expressions(self) -> list[IExpr]:
        """Its condition (when it has one), then its rule's expression."""
        return [self.value] if self.when is None else [self.when, self.value]


@dataclass(frozen=True)
class Rubric:
    id: str
    label: str
    members: tuple[int, ...]  # indices into Grid.criteria, in declaration order
    span: Span = _span


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    members: tuple[int, ...]
    min: int | None
    max: int | None
    span: Span = _span


@dataclass(frozen=True)
class Priority:
    id: str
    label: str
    legal_basis: str
    letter: str | None
    description: str
    when: IExpr
    when_source: str
    points: int | None
    tier: int | None
    span: Span = _span


@dataclass(frozen=True)
class TieBreak:
    field: str
    descending: bool


@dataclass(frozen=True)
class Column:
    """One column of the breakdown: a criterion, a priority's points, or a group cap adjustment."""

    id: str
    label: str
    kind: str  # 'criterion' | 'priority' | 'cap'


@dataclass(frozen=True)
class Meta:
    id: str
    title: str
    territory: str | None
    version: str | None
    effective_from: datetime.date | None
    effective_until: datetime.date | None
    legal_reference: str | None
    description: str | None
    file: str
    out_of_force: bool = (
        False  # used outside its effective_from..effective_until on request (--force-version)
    )


@dataclass(frozen=True)
class Filter:
    """A hard filter of the ``match`` part: an application is eligible for a dwelling only when
    every filter's condition is true (a missing condition excludes it)."""

    id: str
    label: str
    description: str
    when: IExpr
    when_source: str
    span: Span = _span


@dataclass(frozen=True)
class Holder:
    """A reservation holder (gestion en flux): its rule is the match filter ``filter_id`` (absent:
    every application), applied to the dwellings whose ``logement.reservataire`` is ``id``."""

    id: str
    label: str
    legal_basis: str
    description: str
    when_source: str | None
    flow_share: float | None
    filter_id: str | None
    span: Span = _span


@dataclass(frozen=True)
class Index:
    """How the pair engine finds candidates without scanning every application: filter 0 reads
    ``logement.<dwelling_field> in <field>`` (a list of communes), so only the applications listing
    the dwelling's commune are visited (an inverted index by commune)."""

    dwelling_field: str
    field: str


@dataclass(frozen=True)
class Match:
    """The dwelling-dependent part of a grid: filters, pair criteria and their variables."""

    catalogue: Catalogue  # the fields of a dwelling (logement.<name>)
    variables: tuple[Variable, ...]  # variables that read the dwelling, in dependency order
    filters: tuple[Filter, ...]
    criteria: tuple[Criterion, ...]
    index: Index | None

    def expressions(self) -> list[IExpr]:
        exprs: list[IExpr] = [v.expr for v in self.variables] + [f.when for f in self.filters]
        return exprs + [e for c in self.criteria for e in c.expressions()]


@dataclass(frozen=True)
class Similar:
    """One key of "similar demands" (positioning): applications with equal keys are compared."""

    expr: IExpr
    source: str
    label: str


@dataclass(frozen=True)
class Widths:
    """Integer types of the outputs, chosen from the grid's bounds (:mod:`cotation.grid.bounds`)."""

    total: str = "int64"  # 'int32' | 'int64'
    breakdown: str = "int64"  # 'int16' | 'int32' | 'int64'
    flags: str = "uint64"  # 'uint8' .. 'uint64': one bit per priority


@dataclass(frozen=True)
class Grid:
    """A checked grid: typed, resolved, ready to evaluate or compile."""

    meta: Meta
    catalogue: Catalogue
    variables: tuple[Variable, ...]  # in dependency order
    criteria: tuple[Criterion, ...]
    rubrics: tuple[Rubric, ...]
    groups: tuple[Group, ...]
    priorities: tuple[Priority, ...]
    tie_break: tuple[TieBreak, ...]
    content_hash: str
    widths: Widths = Widths()
    match: Match | None = None
    similar: tuple[Similar, ...] = ()
    typology: tuple[tuple[int, int], ...] = ((1, 2),)  # persons - 1 -> (min, max rooms); the last row repeats
    holders: tuple[Holder, ...] = ()  # reservation holders (gestion en flux), in declaration order

    @property
    def columns(self) -> tuple[Column, ...]:
        """The breakdown's columns: criteria, then priorities with points, then group caps."""
        cols = [Column(c.id, c.label, "criterion") for c in self.criteria]
        cols += [Column(p.id, p.label, "priority") for p in self.priorities if p.points]
        cols += [Column(f"plafond_{g.id}", f"Plafond : {g.label}", "cap") for g in self.groups]
        return tuple(cols)

    def expressions(self) -> list[IExpr]:
        exprs: list[IExpr] = [v.expr for v in self.variables]
        exprs += [e for c in self.criteria for e in c.expressions()]
        return exprs + [p.when for p in self.priorities]


def per_grid(table: dict[Any, Any], grid: Grid, build: Callable[[], Any], *extra: Any) -> Any:
    """``build()`` once per live grid object (and ``extra`` key parts), kept in ``table`` until the
    grid is garbage-collected: derived values (compiled kernels, variants) are not rebuilt per call."""
    key = (id(grid), *extra)
    if key not in table:
        table[key] = build()
        weakref.finalize(grid, table.pop, key, None)
    return table[key]
