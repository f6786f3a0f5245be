"""Stage 1 (grid): type-check expression trees against the field catalogue into typed IR.

One ``_check_<Node>`` method per syntax node, found by name. Problems are recorded in the
collector with the node's span; a node that fails returns None and its parents stay quiet.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from ..dates import day_number
from ..errors import Collector, did_you_mean, quote
from . import ir
from . import syntax as s
from .catalogue import Catalogue, Field, Kind, encode_commune
from .functions import FUNCTIONS, SignatureError, compatible, join_numeric
from .ir import BOOL, COMMUNE, COMMUNES, DATE, FLOAT, INT, IExpr, Type

_KIND_TYPES: dict[Kind, Callable[[Field], Type]] = {
    Kind.BOOL: lambda f: BOOL,
    Kind.INT: lambda f: INT,
    Kind.FLOAT: lambda f: FLOAT,
    Kind.MONEY: lambda f: FLOAT,
    Kind.DATE: lambda f: DATE,
    Kind.COMMUNE: lambda f: COMMUNE,
    Kind.COMMUNES: lambda f: COMMUNES,
    Kind.CATEGORY: lambda f: Type("category", f.values),
    Kind.SET: lambda f: Type("set", f.values),
}
_NEVER_MISSING = (Kind.SET, Kind.COMMUNES)
_ORDERED = ("int", "float", "date")


def field_type(f: Field) -> Type:
    return _KIND_TYPES[f.kind](f)


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")  # a text that looks like a date (hint: date("..."))


class TypeChecker:
    """Checks expressions of one grid; ``variables`` grows as variables are checked."""

    def __init__(self, catalogue: Catalogue, errors: Collector, dwellings: Catalogue | None = None):
        self.catalogue, self.errors, self.dwellings = catalogue, errors, dwellings
        self.variables: dict[str, ir.VarRef] = {}
        self.failed: set[str] = set()  # variables already reported: their uses stay quiet
        self.criterion: str | None = None
        self.pair_allowed = False  # True while checking variables and the match part
        self.pair_vars: set[str] = set()  # variables that depend on the dwelling

    def error(self, code: str, node: s.Expr, message: str, suggestion: str | None = None) -> None:
        self.errors.error(code, node.span, message, criterion=self.criterion, suggestion=suggestion)

    def check(self, node: s.Expr) -> IExpr | None:
        method: Callable[[s.Expr], IExpr | None] = getattr(self, f"_check_{type(node).__name__}")
        return method(node)

    # -- leaves ------------------------------------------------------------------------------
    def _check_Number(self, node: s.Number) -> IExpr:
        return ir.Const(node.value, FLOAT if isinstance(node.value, float) else INT, span=node.span)

    def _check_Bool(self, node: s.Bool) -> IExpr:
        return ir.Const(node.value, BOOL, span=node.span)

    def _check_String(self, node: s.String) -> IExpr | None:
        self.error(
            "E204",
            node,
            f'the text "{quote(node.value, 60)}" can only be compared with a category or a commune, '
            "or tested with 'in'"
            + (': a date is written date("YYYY-MM-DD")' if _ISO.fullmatch(node.value) else ""),
            suggestion=f'date("{node.value}")' if _ISO.fullmatch(node.value) else None,
        )
        return None

    def _check_SetLit(self, node: s.SetLit) -> IExpr | None:
        self.error("E204", node, "a literal set can only stand after 'in'")
        return None

    def _check_Name(self, node: s.Name) -> IExpr | None:
        if node.name == "date_calcul":
            return ir.DateCalcul(span=node.span)
        if node.name in self.variables:
            ref = self.variables[node.name]
            if node.name in self.pair_vars and not self.pair_allowed:
                self.error(
                    "E202",
                    node,
                    f"variable '{node.name}' depends on the dwelling (logement.* or the income "
                    "ceilings): use it in the match part (filters and criteria)",
                )
                return None
            return ir.VarRef(ref.name, ref.type, ref.nullable, node.span)
        if node.name in self.failed:
            return None
        if node.name.startswith("logement.") and self.dwellings is not None:
            return self._dwelling_field(node)
        f = self.catalogue.get(node.name)
        if f is not None and f.kind is not Kind.ID:
            return ir.FieldRef(
                f.name, field_type(f), not f.required and f.kind not in _NEVER_MISSING, node.span
            )
        self._unknown_name(node, f)
        return None

    def _dwelling_field(self, node: s.Name) -> IExpr | None:
        assert self.dwellings is not None
        name = node.name.removeprefix("logement.")
        f = self.dwellings.get(name)
        if f is None or f.kind is Kind.ID:
            names = [g.name for g in self.dwellings if g.kind is not Kind.ID]
            hint = did_you_mean(name, names)
            self.error(
                "E202", node, f"unknown field of the dwelling '{name}'", f"logement.{hint}" if hint else None
            )
            return None
        if not self.pair_allowed:
            self.error(
                "E202",
                node,
                f"'{node.name}' is a field of the dwelling: only the match part (filters and "
                "criteria) and variables may read it",
            )
            return None
        return ir.DwellingRef(
            f.name, field_type(f), not f.required and f.kind not in _NEVER_MISSING, node.span
        )

    def _unknown_name(self, node: s.Name, f: Field | None) -> None:
        if f is not None:
            self.error("E202", node, f"'{node.name}' is an identifier and cannot be used in an expression")
        elif "." in node.name:
            self.error(
                "E202", node, f"'{node.name}': fields of another entity (logement.*) are not available here"
            )
        else:
            names = [*self.catalogue.names, *self.variables, "date_calcul"]
            self.error(
                "E202", node, f"unknown field or variable '{node.name}'", did_you_mean(node.name, names)
            )

    # -- operators ---------------------------------------------------------------------------
    def _check_Unary(self, node: s.Unary) -> IExpr | None:
        operand = self.check(node.operand)
        if operand is None:
            return None
        if node.op == "not":
            if operand.type != BOOL:
                self.error("E204", node, f"'not' needs a boolean, not {operand.type}")
                return None
            return ir.Not(operand, nullable=operand.nullable, span=node.span)
        if not operand.type.numeric:
            self.error("E204", node, f"'-' needs a number, not {operand.type}")
            return None
        return ir.Neg(operand, operand.type, operand.nullable, node.span)

    def _check_Binary(self, node: s.Binary) -> IExpr | None:
        left, right = self.check(node.left), self.check(node.right)
        if left is None or right is None:
            return None
        if node.op in ("and", "or"):
            return self._logic(node, left, right)
        return self._arith(node, left, right)

    def _logic(self, node: s.Binary, left: IExpr, right: IExpr) -> IExpr | None:
        if left.type != BOOL or right.type != BOOL:
            self.error("E204", node, f"'{node.op}' needs booleans, not {left.type} and {right.type}")
            return None
        return ir.Logic(node.op, left, right, nullable=left.nullable or right.nullable, span=node.span)

    def _arith(self, node: s.Binary, left: IExpr, right: IExpr) -> IExpr | None:
        rtype = _arith_type(node.op, left.type, right.type)
        if rtype is None:
            self.error("E204", node, f"cannot apply '{node.op}' to {left.type} and {right.type}")
            return None
        divides = node.op in ("/", "//", "%") and not (isinstance(right, ir.Const) and right.value != 0)
        nullable = left.nullable or right.nullable or divides
        return ir.Arith(node.op, left, right, rtype, nullable, node.span)

    def _check_Compare(self, node: s.Compare) -> IExpr | None:
        operands = [node.first, *node.rest]
        result: IExpr | None = None
        for i, op in enumerate(node.ops):
            pair = self._compare(node, op, operands[i], operands[i + 1])
            if pair is None:
                return None
            result = (
                pair
                if result is None
                else ir.Logic("and", result, pair, nullable=result.nullable or pair.nullable, span=node.span)
            )
        return result

    def _compare(self, node: s.Compare, op: str, a: s.Expr, b: s.Expr) -> IExpr | None:
        if op in ("in", "not in"):
            return self._membership(node, op == "not in", a, b)
        left = self._operand(a, b)
        right = self._operand(b, a) if left is not None else None
        if left is None or right is None:
            return None
        if not _comparable(op, left.type, right.type):
            self.error("E204", node, f"cannot compare {left.type} {op} {right.type}")
            return None
        return ir.Cmp(op, left, right, nullable=left.nullable or right.nullable, span=node.span)

    def _operand(self, node: s.Expr, other: s.Expr) -> IExpr | None:
        """Check ``node``; a text literal takes its meaning from the type of ``other``."""
        if not isinstance(node, s.String):
            return self.check(node)
        if isinstance(other, s.String):
            return self._check_String(node)
        other_ir = self.check(other)
        return None if other_ir is None else self.literal(node, other_ir.type)

    def literal(self, node: s.String, want: Type) -> IExpr | None:
        """A text literal read as a value of ``want`` (a category value or a commune code)."""
        if want.kind in ("category", "set"):
            if node.value not in want.domain:
                self.error(
                    "E203",
                    node,
                    f"'{quote(node.value, 60)}' is not a value of this category "
                    f"(values: {quote(', '.join(want.domain), 200)})",
                    did_you_mean(node.value, want.domain),
                )
                return None
            return ir.Const(want.domain.index(node.value), Type("category", want.domain), span=node.span)
        if want.kind in ("commune", "communes"):
            try:
                return ir.Const(encode_commune(node.value), COMMUNE, span=node.span)
            except ValueError:
                self.error(
                    "E203",
                    node,
                    f"'{quote(node.value, 60)}' is not an INSEE commune code (5 characters, e.g. '31555')",
                )
                return None
        return self._check_String(node)

    def _membership(self, node: s.Compare, negate: bool, a: s.Expr, b: s.Expr) -> IExpr | None:
        if isinstance(b, s.SetLit):
            return self._in_literal(node, negate, a, b)
        container = self.check(b)
        if container is None:
            return None
        elem = self.literal(a, container.type) if isinstance(a, s.String) else self.check(a)
        if elem is None:
            return None
        nullable = elem.nullable or container.nullable
        if container.type.kind == "set" and elem.type == Type("category", container.type.domain):
            return ir.SetHas(elem, container, negate, nullable=nullable, span=node.span)
        if container.type == COMMUNES and elem.type == COMMUNE:
            return ir.ListHas(elem, container, negate, nullable=nullable, span=node.span)
        self.error("E204", node, f"cannot test whether {elem.type} is in {container.type}")
        return None

    def _in_literal(self, node: s.Compare, negate: bool, a: s.Expr, b: s.SetLit) -> IExpr | None:
        elem = self.check(a)
        if elem is None:
            return None
        values = [self._literal_item(item, elem.type) for item in b.items]
        if any(v is None for v in values):
            return None
        return ir.InValues(
            elem,
            tuple(v.value for v in values if v is not None),
            negate,
            nullable=elem.nullable,
            span=node.span,
        )

    def _literal_item(self, item: s.Expr, want: Type) -> ir.Const | None:
        if isinstance(item, s.String):
            out = self.literal(item, want)
            return out if isinstance(out, ir.Const) else None
        if isinstance(item, s.Number) and want.numeric:
            return ir.Const(item.value, FLOAT if isinstance(item.value, float) else INT)
        if isinstance(item, s.Bool) and want == BOOL:
            return ir.Const(item.value, BOOL)
        self.error("E204", item, f"items of a literal set must be constants of the tested type ({want})")
        return None

    def _check_Conditional(self, node: s.Conditional) -> IExpr | None:
        cond, then, otherwise = self.check(node.cond), self.check(node.then), self.check(node.otherwise)
        if cond is None or then is None or otherwise is None:
            return None
        if cond.type != BOOL:
            self.error("E207", node.cond, f"the condition of 'if' must be boolean, not {cond.type}")
            return None
        rtype = compatible(then.type, otherwise.type)
        if rtype == COMMUNES:
            self.error(
                "E204",
                node,
                "'if' cannot choose between lists of communes (test membership in each branch instead)",
            )
            return None
        if rtype is None:
            self.error(
                "E204",
                node,
                f"the two branches of 'if' have different types: {then.type} and {otherwise.type}",
            )
            return None
        nullable = cond.nullable or then.nullable or otherwise.nullable
        return ir.Cond(cond, then, otherwise, rtype, nullable, node.span)

    def _check_Call(self, node: s.Call) -> IExpr | None:
        fn = FUNCTIONS.get(node.func)
        if fn is None:
            self.error("E205", node, f"unknown function '{node.func}'", did_you_mean(node.func, FUNCTIONS))
            return None
        n = len(node.args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            want = fn.min_args if fn.min_args == fn.max_args else f"at least {fn.min_args}"
            self.error("E206", node, f"{fn.name}() takes {want} argument(s), got {n}")
            return None
        if fn.name == "date":
            return self._date_literal(node)
        if fn.pair_level and not self.pair_allowed:
            self.error(
                "E206",
                node,
                f"{fn.name}() depends on the dwelling: only the match part (filters and "
                "criteria) and variables may call it",
            )
            return None
        args = [self.check(a) for a in node.args]
        if any(a is None for a in args):
            return None
        return self._typed_call(node, fn.name, [a for a in args if a is not None])

    def _typed_call(self, node: s.Call, name: str, args: list[IExpr]) -> IExpr | None:
        fn = FUNCTIONS[name]
        try:
            rtype = fn.result([a.type for a in args])
        except SignatureError as exc:
            self.error("E206", node, f"{name}(): {exc}")
            return None
        nullable = {
            "args": any(a.nullable for a in args),
            "never": False,
            "maybe": True,
            "coalesce": args[-1].nullable and args[0].nullable,
        }[fn.nullable]
        return ir.Call(name, tuple(args), rtype, nullable, node.span)

    def _date_literal(self, node: s.Call) -> IExpr | None:
        arg = node.args[0]
        try:
            if not isinstance(arg, s.String):
                raise ValueError
            day = datetime.date.fromisoformat(arg.value)
        except ValueError:
            self.error("E206", node, 'date() takes a text constant "YYYY-MM-DD"')
            return None
        return ir.Const(day_number(day), DATE, span=node.span)


def _arith_type(op: str, a: Type, b: Type) -> Type | None:
    if a.numeric and b.numeric:
        return FLOAT if op == "/" else join_numeric([a, b])
    if op in ("+", "-") and a == DATE and b.kind == "int":
        return DATE
    if op == "+" and a.kind == "int" and b == DATE:
        return DATE
    if op == "-" and a == DATE and b == DATE:
        return INT
    return None


def _comparable(op: str, a: Type, b: Type) -> bool:
    if a.numeric and b.numeric:
        return True
    if a != b and not (a.kind == b.kind == "category" and a.domain == b.domain):
        return False
    return op in ("==", "!=") or a.kind in _ORDERED
