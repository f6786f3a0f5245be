"""Stage 1 (grid): the table of functions of the expression language: names, signatures, result types.

This table is the single description that the type checker, the reference evaluator, the code
generators and the docs all read. Each entry says which argument types a function accepts, what it
returns, and whether its result may be missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import ir
from .interval import CEILING_MAX, DAYS, I32, Interval, abs_max, months, to_int
from .ir import BOOL, COMMUNE, DATE, FLOAT, INT, Type


class SignatureError(Exception):
    """Arguments do not fit a function's signature; the message says what was expected."""


def join_numeric(types: list[Type]) -> Type:
    return FLOAT if any(t.kind == "float" for t in types) else INT


def compatible(a: Type, b: Type) -> Type | None:
    """The common type of two branches (numeric types join; others must be equal)."""
    if a.numeric and b.numeric:
        return join_numeric([a, b])
    return a if a == b else None


def _numeric_or_date(name: str) -> Callable[[list[Type]], Type]:
    def rule(types: list[Type]) -> Type:
        if all(t.numeric for t in types):
            return join_numeric(types)
        if all(t == DATE for t in types):
            return DATE
        raise SignatureError(f"{name}() takes numbers, or dates, all of the same kind")

    return rule


def _fixed(params: tuple[str, ...], result: Type) -> Callable[[list[Type]], Type]:
    def rule(types: list[Type]) -> Type:
        for i, (want, got) in enumerate(zip(params, types, strict=True)):
            ok = got.numeric if want == "number" else got.kind == want
            if not ok:
                raise SignatureError(f"argument {i + 1} must be {_a(want)}, not {_a(got.kind)}")
        return result

    return rule


def _a(kind: str) -> str:
    return {
        "int": "an integer",
        "float": "a number",
        "number": "a number",
        "date": "a date",
        "bool": "a boolean",
        "set": "a set",
        "communes": "a list of communes",
    }.get(kind, f"a {kind}")


def _same_numeric(name: str) -> Callable[[list[Type]], Type]:
    def rule(types: list[Type]) -> Type:
        if not all(t.numeric for t in types):
            raise SignatureError(f"{name}() takes numbers")
        return join_numeric(types)

    return rule


def _count(types: list[Type]) -> Type:
    if types[0].kind not in ("set", "communes"):
        raise SignatureError(f"count() takes a set or a list of communes, not {_a(types[0].kind)}")
    return INT


def _coalesce(types: list[Type]) -> Type:
    if types[0].kind == "communes":
        raise SignatureError(
            "a list of communes is never missing (it may be empty): coalesce() is not needed"
        )
    joined = compatible(types[0], types[1])
    if joined is None:
        raise SignatureError(f"coalesce() needs two values of the same type, not {types[0]} and {types[1]}")
    return joined


def _first(types: list[Type]) -> Type:
    if types[0].kind != "communes":
        raise SignatureError("first() takes a list of communes")
    return COMMUNE


def _wish_rank(types: list[Type]) -> Type:
    if types[0].kind != "commune" or types[1].kind != "communes":
        raise SignatureError("rang_souhait(commune, communes) takes a commune and a list of communes")
    return INT


FINANCINGS = ("PLAI", "PLUS", "PLS", "PLI")
ZONES = ("paris_limitrophes", "ile_de_france", "autres")


def _ceiling(types: list[Type]) -> Type:
    fin, zone, cat, extra = types
    if fin.kind != "category" or not set(fin.domain) <= set(FINANCINGS):
        raise SignatureError(f"argument 1 must be a financing (a category among {', '.join(FINANCINGS)})")
    if zone.kind != "category" or not set(zone.domain) <= set(ZONES):
        raise SignatureError(f"argument 2 must be a zone (a category among {', '.join(ZONES)})")
    if cat.kind != "int" or extra.kind != "int":
        raise SignatureError("arguments 3 and 4 must be integers (household category, extra persons)")
    return INT


# -- interval rules: the bounds of a call from the bounds of its arguments --------------------------
def _past(node: ir.Call) -> bool:
    """Whether the call measures from a date field of the application to date_calcul (never negative)."""
    first, last = node.args[0], node.args[-1]
    return isinstance(first, ir.FieldRef) and (node.func == "age" or isinstance(last, ir.DateCalcul))


def _c_minmax(fn: Callable[..., float]) -> Callable[[list[Interval], ir.Call], Interval]:
    def bound(args: list[Interval], node: ir.Call) -> Interval:
        xs = args
        return Interval(fn(x.lo for x in xs), fn(x.hi for x in xs))

    return bound


def _c_clip(args: list[Interval], node: ir.Call) -> Interval:
    x, lo, hi = args
    return Interval(min(max(x.lo, lo.lo), hi.lo), min(max(x.hi, lo.hi), hi.hi))


def _c_abs(args: list[Interval], node: ir.Call) -> Interval:
    x = args[0]
    low = 0 if x.lo <= 0 <= x.hi else min(abs(x.lo), abs(x.hi))
    return Interval(low, abs_max(x))


def _c_to_int(args: list[Interval], node: ir.Call) -> Interval:
    x = args[0]
    return x if node.args[0].type.kind != "float" else to_int(x)


def _c_months(args: list[Interval], node: ir.Call) -> Interval:
    a, b = args
    return months(a, b, past=_past(node))


def _c_years(args: list[Interval], node: ir.Call) -> Interval:
    a, b = args
    m = months(a, b, past=_past(node))
    return Interval(math.floor(m.lo / 12), math.floor(m.hi / 12))


def _c_age(args: list[Interval], node: ir.Call) -> Interval:
    m = months(args[0], Interval(*DAYS), past=_past(node))
    return Interval(math.floor(m.lo / 12), math.floor(m.hi / 12))


def _c_days(args: list[Interval], node: ir.Call) -> Interval:
    a, c = args
    return Interval(max(c.lo - a.hi, 0) if _past(node) else c.lo - a.hi, c.hi - a.lo)


def _c_year(args: list[Interval], node: ir.Call) -> Interval:
    a = args[0]  # a year has 365 or 366 days: year(d) is 1970 + d / 365.2425, give or take one
    return Interval(1970 + math.floor(a.lo / 365.2425) - 1, 1970 + math.floor(a.hi / 365.2425) + 1)


def _c_end_of_month(args: list[Interval], node: ir.Call) -> Interval:
    return Interval(args[0].lo, args[0].hi + 30)


def _c_add_months(args: list[Interval], node: ir.Call) -> Interval:
    a, n = args  # n months are between 28 * n - 3 and 31 * n days (the other way round when n < 0)
    return Interval(a.lo + min(28 * n.lo, 31 * n.lo) - 3, a.hi + max(28 * n.hi, 31 * n.hi) + 3)


def _c_coalesce(args: list[Interval], node: ir.Call) -> Interval:
    x, d = args
    return x | d


def _fixed_interval(lo: float, hi: float) -> Callable[[list[Interval], ir.Call], Interval]:
    return lambda args, node: Interval(lo, hi)


# -- the functions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    """Everything the front end knows of one function; the back ends implement it under its name
    (``cotation.scoring.reference`` in its table, the emitter as ``_call_<name>``; a test checks that
    both cover this table)."""

    name: str
    min_args: int
    max_args: int | None
    result: Callable[[list[Type]], Type]  # the result type from the argument types (SignatureError)
    nullable: str  # 'args' (missing if any argument is), 'never', 'coalesce', 'maybe' (can be missing)
    doc: str
    interval: Callable[[list[Interval], ir.Call], Interval]  # its bounds from its arguments' bounds
    pair_level: bool = False  # a call makes an expression pair-level (only in the match part)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function(
            "min",
            2,
            None,
            _numeric_or_date("min"),
            "args",
            "Smallest of its arguments.",
            interval=_c_minmax(min),
        ),
        Function(
            "max",
            2,
            None,
            _numeric_or_date("max"),
            "args",
            "Largest of its arguments.",
            interval=_c_minmax(max),
        ),
        Function("abs", 1, 1, _same_numeric("abs"), "args", "Absolute value.", interval=_c_abs),
        Function(
            "clip",
            3,
            3,
            _same_numeric("clip"),
            "args",
            "clip(x, lo, hi): x bounded to [lo, hi].",
            interval=_c_clip,
        ),
        Function(
            "round",
            1,
            1,
            _fixed(("number",), INT),
            "args",
            "Nearest integer, halves away from zero.",
            interval=_c_to_int,
        ),
        Function(
            "floor", 1, 1, _fixed(("number",), INT), "args", "Largest integer <= x.", interval=_c_to_int
        ),
        Function(
            "ceil", 1, 1, _fixed(("number",), INT), "args", "Smallest integer >= x.", interval=_c_to_int
        ),
        Function(
            "days_between",
            2,
            2,
            _fixed(("date", "date"), INT),
            "args",
            "days_between(a, b): days from a to b (negative when b is before a).",
            interval=_c_days,
        ),
        Function(
            "months_between",
            2,
            2,
            _fixed(("date", "date"), INT),
            "args",
            "months_between(a, b): whole months from a to b as art. 641 CPC counts them (a month is "
            "complete on the same day number, or on the month's last day when that day does not exist).",
            interval=_c_months,
        ),
        Function(
            "years_between",
            2,
            2,
            _fixed(("date", "date"), INT),
            "args",
            "years_between(a, b): whole years from a to b (months_between(a, b) // 12).",
            interval=_c_years,
        ),
        Function(
            "age",
            1,
            1,
            _fixed(("date",), INT),
            "args",
            "age(birth): whole years from birth to date_calcul.",
            interval=_c_age,
        ),
        Function(
            "day",
            1,
            1,
            _fixed(("date",), INT),
            "args",
            "day(d): the day of the month of d, 1 to 31.",
            interval=_fixed_interval(1, 31),
        ),
        Function(
            "month",
            1,
            1,
            _fixed(("date",), INT),
            "args",
            "month(d): the month of d, 1 (January) to 12.",
            interval=_fixed_interval(1, 12),
        ),
        Function(
            "year",
            1,
            1,
            _fixed(("date",), INT),
            "args",
            "year(d): the year of d.",
            interval=_c_year,
        ),
        Function(
            "end_of_month",
            1,
            1,
            _fixed(("date",), DATE),
            "args",
            "end_of_month(d): the last day of the month of d.",
            interval=_c_end_of_month,
        ),
        Function(
            "add_months",
            2,
            2,
            _fixed(("date", "int"), DATE),
            "args",
            "add_months(d, n): the day n months after d (before it when n < 0): the same day number, "
            "or the last day of the month when that day does not exist (art. 641 CPC).",
            interval=_c_add_months,
        ),
        Function(
            "count",
            1,
            1,
            _count,
            "args",
            "Number of values in a set, or of communes in a list.",
            interval=_fixed_interval(0, 64),
        ),
        Function(
            "first",
            1,
            1,
            _first,
            "maybe",
            "First commune of a list (missing when the list is empty).",
            interval=_fixed_interval(*I32),
        ),
        Function(
            "present",
            1,
            1,
            lambda types: BOOL,
            "never",
            "True when the value is not missing.",
            interval=_fixed_interval(0, 1),
        ),
        Function(
            "coalesce",
            2,
            2,
            _coalesce,
            "coalesce",
            "coalesce(x, d): x, or d when x is missing.",
            interval=_c_coalesce,
        ),
        Function(
            "date",
            1,
            1,
            lambda types: DATE,
            "never",
            'date("YYYY-MM-DD"): a date constant.',
            interval=_fixed_interval(*DAYS),
        ),
        Function(
            "rang_souhait",
            2,
            2,
            _wish_rank,
            "maybe",
            "rang_souhait(commune, communes): position (1 = first) of the commune in the list; "
            "missing when it is not listed.",
            interval=_fixed_interval(1, 64),
        ),
        Function(
            "plafond_ressources",
            4,
            4,
            _ceiling,
            "maybe",
            "plafond_ressources(financement, zone, categorie, supplementaires): the income ceiling "
            "(EUR/year) of the year of date_calcul, from the tables shipped with cotation "
            "(cotation/resources/plafonds.yaml); "
            "categories below 1 count as 1, above 6 as 6; each extra person adds the per-person amount. "
            "Missing when the table has no such cell (the ranking refuses dwellings without a ceiling).",
            interval=_fixed_interval(0, CEILING_MAX),
            pair_level=True,
        ),
        Function(
            "adequation_typologie",
            2,
            2,
            _fixed(("int", "int"), INT),
            "args",
            "adequation_typologie(persons, rooms): -1 when the dwelling has fewer rooms than the grid's "
            "match.typology gives for the household, 1 when it has more, else 0.",
            interval=_fixed_interval(-1, 1),
        ),
    ]
}
