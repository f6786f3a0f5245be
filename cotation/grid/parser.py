"""Stage 1 (grid): tokenizer and recursive-descent parser of the expression language.

The grammar below is the reference; ``docs/expressions.md`` holds an identical copy (a test checks
it). One ``_parse_<rule>`` method per rule. Nothing user-written ever reaches ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..source import NOWHERE, Span
from .syntax import Binary, Bool, Call, Compare, Conditional, Expr, Name, Number, SetLit, String, Unary

GRAMMAR = r"""
expression     := disjunction ("if" disjunction "else" expression)?
disjunction    := conjunction ("or" conjunction)*
conjunction    := negation ("and" negation)*
negation       := "not" negation | comparison
comparison     := sum (comp_op sum)*
comp_op        := "<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not" "in"
sum            := product (("+" | "-") product)*
product        := unary (("*" | "/" | "//" | "%") unary)*
unary          := "-" unary | primary
primary        := NUMBER | STRING | "true" | "false"
                | NAME "(" (expression ("," expression)*)? ")"
                | NAME ("." NAME)*
                | "(" expression ")"
                | "{" (expression ("," expression)*)? "}"
                | "[" (expression ("," expression)*)? "]"
NUMBER         := [0-9]+ ("." [0-9]+)?
STRING         := '"' [^"]* '"' | "'" [^']* "'"
NAME           := [A-Za-z_][A-Za-z0-9_]*
""".strip("\n")

KEYWORDS = frozenset({"and", "or", "not", "in", "if", "else", "true", "false"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?![A-Za-z_]))
  | (?P<string>"[^"\n]*"|'[^'\n]*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>//|<=|>=|==|!=|[-+*/%<>(){}\[\],.])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # 'number', 'string', 'name', 'keyword', 'op', 'end'
    text: str
    start: int
    end: int


class ExprSyntaxError(Exception):
    """A syntax error at ``[start, end)`` of the expression text."""

    def __init__(self, message: str, start: int, end: int, suggestion: str | None = None):
        super().__init__(message)
        self.message, self.start, self.end, self.suggestion = message, start, end, suggestion


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _bad_char(text, pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            value = m.group()
            if kind == "name" and value in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, value, m.start(), m.end()))
        pos = m.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def _bad_char(text: str, pos: int) -> ExprSyntaxError:
    char = text[pos]
    hints = {"=": "==", "&": "and", "|": "or", "!": "not"}
    if char in "\"'":
        return ExprSyntaxError("unterminated string", pos, len(text))
    return ExprSyntaxError(f"unexpected character {char!r}", pos, pos + 1, hints.get(char))


PositionMap = Callable[[int], tuple[int, int]]


def identity_positions(offset: int) -> tuple[int, int]:
    return 1, offset + 1


class Parser:
    """Parses one expression; ``positions`` maps a text offset to a (line, col) in its file."""

    def __init__(self, text: str, origin: Span = NOWHERE, positions: PositionMap = identity_positions):
        self.text, self.origin, self.positions = text, origin, positions
        self.tokens = tokenize(text)
        self.i = 0

    # -- helpers -----------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind in ("op", "keyword") and tok.text in texts

    def advance(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str, context: str) -> Token:
        if not self.at(text):
            tok = self.peek()
            found = "end of expression" if tok.kind == "end" else repr(tok.text)
            raise ExprSyntaxError(
                f"expected '{text}' {context}, found {found}", tok.start, max(tok.end, tok.start + 1)
            )
        return self.advance()

    def span(self, start: int, end: int) -> Span:
        line, col = self.positions(start)
        end_line, end_col = self.positions(end)
        return self.origin.shift(line, col, end_line, end_col)

    def span_from(self, start: int) -> Span:
        return self.span(start, self.tokens[self.i - 1].end)

    # -- entry -------------------------------------------------------------------------------
    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ExprSyntaxError("empty expression", 0, 1)
        node = self._parse_expression()
        tok = self.peek()
        if tok.kind != "end":
            raise ExprSyntaxError(
                f"unexpected {tok.text!r} after a complete expression",
                tok.start,
                tok.end,
                "==" if tok.text == "=" else None,
            )
        return node

    # -- rules -------------------------------------------------------------------------------
    def _parse_expression(self) -> Expr:
        start = self.peek().start
        then = self._parse_disjunction()
        if not self.at("if"):
            return then
        self.advance()
        cond = self._parse_disjunction()
        self.expect("else", "in a conditional expression 'A if C else B'")
        otherwise = self._parse_expression()
        return Conditional(then, cond, otherwise, self.span_from(start))

    def _parse_binary_level(self, ops: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        start = self.peek().start
        node = operand()
        while self.at(*ops):
            op = self.advance().text
            node = Binary(op, node, operand(), self.span_from(start))
        return node

    def _parse_disjunction(self) -> Expr:
        return self._parse_binary_level(("or",), self._parse_conjunction)

    def _parse_conjunction(self) -> Expr:
        return self._parse_binary_level(("and",), self._parse_negation)

    def _parse_negation(self) -> Expr:
        if self.at("not"):
            start = self.advance().start
            return Unary("not", self._parse_negation(), self.span_from(start))
        return self._parse_comparison()

    def _comp_op(self) -> str | None:
        if self.at("<", "<=", ">", ">=", "==", "!=", "in"):
            return self.advance().text
        if self.at("not") and self.peek(1).text == "in":
            self.i += 2
            return "not in"
        return None

    def _parse_comparison(self) -> Expr:
        start = self.peek().start
        first = self._parse_sum()
        ops: list[str] = []
        rest: list[Expr] = []
        while (op := self._comp_op()) is not None:
            ops.append(op)
            rest.append(self._parse_sum())
        if not ops:
            return first
        return Compare(first, tuple(ops), tuple(rest), self.span_from(start))

    def _parse_sum(self) -> Expr:
        return self._parse_binary_level(("+", "-"), self._parse_product)

    def _parse_product(self) -> Expr:
        return self._parse_binary_level(("*", "/", "//", "%"), self._parse_unary)

    def _parse_unary(self) -> Expr:
        if self.at("-"):
            start = self.advance().start
            return Unary("-", self._parse_unary(), self.span_from(start))
        return self._parse_primary()

    def _parse_primary(self) -> Expr:
        tok = self.peek()
        handler = _PRIMARY.get(tok.kind if tok.kind != "op" and tok.kind != "keyword" else tok.text)
        if handler is None:
            found = "end of expression" if tok.kind == "end" else repr(tok.text)
            raise ExprSyntaxError(
                f"expected a value, a name or '(', found {found}", tok.start, max(tok.end, tok.start + 1)
            )
        return handler(self)

    def _parse_number(self) -> Expr:
        tok = self.advance()
        value: int | float = float(tok.text) if "." in tok.text else int(tok.text)
        return Number(value, self.span(tok.start, tok.end))

    def _parse_string(self) -> Expr:
        tok = self.advance()
        return String(tok.text[1:-1], self.span(tok.start, tok.end))

    def _parse_bool(self) -> Expr:
        tok = self.advance()
        return Bool(tok.text == "true", self.span(tok.start, tok.end))

    def _parse_name(self) -> Expr:
        tok = self.advance()
        if self.at("("):
            self.advance()
            args = self._parse_items(")", "in the arguments of a call")
            return Call(tok.text, args, self.span_from(tok.start))
        parts = [tok.text]
        while self.at("."):
            self.advance()
            nxt = self.peek()
            if nxt.kind != "name":
                raise ExprSyntaxError("expected a name after '.'", nxt.start, max(nxt.end, nxt.start + 1))
            parts.append(self.advance().text)
        return Name(".".join(parts), self.span_from(tok.start))

    def _parse_group(self) -> Expr:
        self.advance()
        node = self._parse_expression()
        self.expect(")", "to close '('")
        return node

    def _parse_set(self, close: str) -> Expr:
        start = self.advance().start
        items = self._parse_items(close, "in a literal set" if close == "}" else "in a literal list")
        return SetLit(items, "{}" if close == "}" else "[]", self.span_from(start))

    def _parse_items(self, close: str, context: str) -> tuple[Expr, ...]:
        items: list[Expr] = []
        if not self.at(close):
            items.append(self._parse_expression())
            while self.at(","):
                self.advance()
                items.append(self._parse_expression())
        self.expect(close, context)
        return tuple(items)


_PRIMARY: dict[str, Callable[[Parser], Expr]] = {
    "number": Parser._parse_number,
    "string": Parser._parse_string,
    "name": Parser._parse_name,
    "true": Parser._parse_bool,
    "false": Parser._parse_bool,
    "(": Parser._parse_group,
    "{": lambda p: p._parse_set("}"),
    "[": lambda p: p._parse_set("]"),
}


def parse(text: str, origin: Span = NOWHERE, positions: PositionMap = identity_positions) -> Expr:
    """Parse ``text`` into an expression tree; raises :class:`ExprSyntaxError`."""
    return Parser(text, origin, positions).parse()
