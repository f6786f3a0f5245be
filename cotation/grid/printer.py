"""Stage 1 (grid): print an expression tree back to canonical source text (``parse(show(e)) == e``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .syntax import Binary, Bool, Call, Compare, Conditional, Expr, Name, Number, SetLit, String, Unary

# Binding power of each construct: higher binds tighter.
_LEVEL = {
    "if": 1,
    "or": 2,
    "and": 3,
    "not": 4,
    "compare": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "//": 7,
    "%": 7,
    "neg": 8,
    "atom": 9,
}


def _level(node: Expr) -> int:
    match node:
        case Conditional():
            return _LEVEL["if"]
        case Binary(op=op):
            return _LEVEL[op]
        case Unary(op="not"):
            return _LEVEL["not"]
        case Unary():
            return _LEVEL["neg"]
        case Compare():
            return _LEVEL["compare"]
    return _LEVEL["atom"]


def _wrap(node: Expr, minimum: int) -> str:
    text = show(node)
    return f"({text})" if _level(node) < minimum else text


def _show_number(node: Number) -> str:
    if isinstance(node.value, float):
        text = format(Decimal(repr(node.value)), "f")
        return text if "." in text else text + ".0"
    return str(node.value)


def _show_string(node: String) -> str:
    return f"'{node.value}'" if '"' in node.value else f'"{node.value}"'


def _show_binary(node: Binary) -> str:
    level = _LEVEL[node.op]
    # Left-associative: the right operand needs parentheses at the same level.
    return f"{_wrap(node.left, level)} {node.op} {_wrap(node.right, level + 1)}"


def _show_unary(node: Unary) -> str:
    if node.op == "not":
        return f"not {_wrap(node.operand, _LEVEL['not'])}"
    return f"-{_wrap(node.operand, _LEVEL['neg'])}"


def _show_compare(node: Compare) -> str:
    parts = [_wrap(node.first, _LEVEL["compare"] + 1)]
    for op, operand in zip(node.ops, node.rest, strict=True):
        parts += [op, _wrap(operand, _LEVEL["compare"] + 1)]
    return " ".join(parts)


def _show_conditional(node: Conditional) -> str:
    return (
        f"{_wrap(node.then, _LEVEL['if'] + 1)} if {_wrap(node.cond, _LEVEL['if'] + 1)} "
        f"else {_wrap(node.otherwise, _LEVEL['if'])}"
    )


def _show_call(node: Call) -> str:
    return f"{node.func}({', '.join(show(a) for a in node.args)})"


def _show_set(node: SetLit) -> str:
    return node.brackets[0] + ", ".join(show(i) for i in node.items) + node.brackets[1]


_SHOW: dict[type, Callable[..., str]] = {
    Number: _show_number,
    String: _show_string,
    Bool: lambda n: "true" if n.value else "false",
    Name: lambda n: n.name,
    Binary: _show_binary,
    Unary: _show_unary,
    Compare: _show_compare,
    Conditional: _show_conditional,
    Call: _show_call,
    SetLit: _show_set,
}


def show(node: Expr) -> str:
    """Canonical source text of ``node``."""
    return _SHOW[type(node)](node)


def dump(node: Expr) -> str:
    """An S-expression dump of the tree, for golden files."""
    match node:
        case Number(value=v) | Bool(value=v):
            return repr(v)
        case String(value=v):
            return f'"{v}"'
        case Name(name=n):
            return n
        case Unary(op=op, operand=o):
            return f"({op} {dump(o)})"
        case Binary(op=op, left=a, right=b):
            return f"({op} {dump(a)} {dump(b)})"
        case Compare(first=a, ops=ops, rest=rest):
            tail = " ".join(f"{op} {dump(r)}" for op, r in zip(ops, rest, strict=True))
            return f"(compare {dump(a)} {tail})"
        case Conditional(then=t, cond=c, otherwise=o):
            return f"(if {dump(c)} {dump(t)} {dump(o)})"
        case Call(func=f, args=args):
            return f"(call {f}" + "".join(" " + dump(a) for a in args) + ")"
        case SetLit(items=items, brackets=b):
            return f"({'set' if b == '{}' else 'list'}" + "".join(" " + dump(i) for i in items) + ")"
    raise TypeError(node)
