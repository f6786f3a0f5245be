"""Stage 1 (grid): the closed abstract syntax tree of the expression language.

Every node is a frozen dataclass with a :class:`~cotation.source.Span` (excluded from equality, so
that two trees parsed from differently laid-out text compare equal). The set of node classes is
closed: later stages dispatch on ``type(node).__name__`` through tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..source import NOWHERE, Span

_span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span = _span


@dataclass(frozen=True)
class String:
    value: str
    span: Span = _span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span


@dataclass(frozen=True)
class Name:
    """A field, a variable or ``date_calcul``; dotted for another entity (``logement.surface``)."""

    name: str
    span: Span = _span


@dataclass(frozen=True)
class Unary:
    op: str  # '-' | 'not'
    operand: Expr
    span: Span = _span


@dataclass(frozen=True)
class Binary:
    op: str  # '+', '-', '*', '/', '//', '%', 'and', 'or'
    left: Expr
    right: Expr
    span: Span = _span


@dataclass(frozen=True)
class Compare:
    """A possibly chained comparison: ``first ops[0] rest[0] ops[1] rest[1] ...``."""

    first: Expr
    ops: tuple[str, ...]  # '<', '<=', '>', '>=', '==', '!=', 'in', 'not in'
    rest: tuple[Expr, ...]
    span: Span = _span


@dataclass(frozen=True)
class Conditional:
    """``then if cond else otherwise``."""

    then: Expr
    cond: Expr
    otherwise: Expr
    span: Span = _span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = _span


@dataclass(frozen=True)
class SetLit:
    """A literal set ``{"a", "b"}`` (or list ``["a", "b"]``, same meaning for ``in``)."""

    items: tuple[Expr, ...]
    brackets: str = "{}"
    span: Span = _span


Expr = Number | String | Bool | Name | Unary | Binary | Compare | Conditional | Call | SetLit


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``node``, in source order."""
    match node:
        case Unary(operand=o):
            return (o,)
        case Binary(left=a, right=b):
            return (a, b)
        case Compare(first=a, rest=r):
            return (a, *r)
        case Conditional(then=t, cond=c, otherwise=o):
            return (t, c, o)
        case Call(args=a):
            return a
        case SetLit(items=i):
            return i
    return ()


def walk(node: Expr):  # type: ignore[no-untyped-def]
    """Yield ``node`` and all its descendants, depth first."""
    yield node
    for child in children(node):
        yield from walk(child)
