"""Stage 1 (grid): tokenizer and recursive-descent parser of the expression language.

The grammar below is the reference; ``docs/expressions.md`` holds an identical copy (a test checks
it). One ``_parse_<rule>`` method per rule. Nothing user-written ever reaches ``eval``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import quote
from ..source import NOWHERE, Span
from .limits import INT64_MAX, MAX_DEPTH, MAX_EXPRESSION_LENGTH, MAX_TERMS, depth
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
    """A syntax error at ``[start, end)`` of the expression text; ``code`` is E201, or the code of
    the limit the expression is beyond (:mod:`cotation.grid.limits`)."""

    def __init__(
        self, message: str, start: int, end: int, suggestion: str | None = None, *, code: str = "E201"
    ):
        super().__init__(message)
        self.message, self.start, self.end, self.suggestion = message, start, end, suggestion
        self.code = code


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
        if len(text) > MAX_EXPRESSION_LENGTH:
            raise ExprSyntaxError(
                f"the expression is {len(text)} characters long, at most {MAX_EXPRESSION_LENGTH} "
                "(use variables for its parts)",
                0,
                1,
                code="E210",
            )
        self.tokens = tokenize(text)
        terms = [t for t in self.tokens if t.kind in ("number", "string", "name")]
        if len(terms) > MAX_TERMS:
            extra = terms[MAX_TERMS]
            raise ExprSyntaxError(
                f"the expression has {len(terms)} terms (values and names), at most {MAX_TERMS} "
                "(use variables for its parts)",
                extra.start,
                extra.end,
                code="E211",
            )
        self.i = 0
        self.nesting = 0  # brackets open at the current token
        self.operators = 0  # operators whose right operand is being read

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
            found = "end of expression" if tok.kind == "end" else repr(quote(tok.text, 40))
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
                f"unexpected {quote(tok.text, 40)!r} after a complete expression",
                tok.start,
                tok.end,
                "==" if tok.text == "=" else None,
            )
        levels = depth(node)
        if levels > MAX_DEPTH:
            raise ExprSyntaxError(
                f"the expression nests {levels} levels deep, at most {MAX_DEPTH} (each operator is "
                "a level, a chain a + b + c one per operator): use variables for its parts",
                0,
                len(self.text),
                code="E212",
            )
        return node

    # -- rules -------------------------------------------------------------------------------
    # Precedence climbing over the levels of GRAMMAR: one loop for the binary levels, loops for
    # prefix chains and else-chains, the primary read in place, so that Python's stack grows only
    # with brackets (two frames for '(', four for a call or a literal set) and with operators whose
    # right operand is being read (one frame each). Both are counted as the parser goes (``_open``,
    # ``_enter``) and refused beyond MAX_DEPTH: the parser needs at most about 400 frames.
    def _parse_expression(self) -> Expr:
        pending: list[tuple[int, Expr, Expr]] = []  # 'then if cond else' of an else-chain
        while True:
            start = self.peek().start
            then = self._parse_level(_OR)
            if not self.at("if"):
                break
            self.advance()
            cond = self._parse_level(_OR)
            self.expect("else", "in a conditional expression 'A if C else B'")
            pending.append((start, then, cond))
        node = then
        for start, then_, cond in reversed(pending):
            node = Conditional(then_, cond, node, self.span_from(start))
        return node

    def _parse_level(self, level: int) -> Expr:
        """An expression of binding power ``level`` or more (``_OR``: a disjunction)."""
        start = self.peek().start
        nots = []
        while level <= _NOT and self.at("not"):
            nots.append(self.advance())
        if nots:  # negation := "not" negation | comparison
            self._enter(len(nots), nots[-1])
            node = self._parse_level(_COMPARE)
            self.operators -= len(nots)
            for tok in reversed(nots):
                node = Unary("not", node, self.span_from(tok.start))
        else:  # unary := "-" unary | primary
            minus = []
            while self.at("-"):
                minus.append(self.advance().start)
            tok = self.peek()  # primary, here rather than in a method: a frame less per bracket
            if tok.kind == "op" and tok.text == "(":
                self._open(self.advance())
                node = self._parse_expression()
                self.expect(")", "to close '('")
                self.nesting -= 1
            else:
                handler = _PRIMARY.get(tok.kind if tok.kind not in ("op", "keyword") else tok.text)
                if handler is None:
                    raise self._expected_value(tok)
                node = handler(self)
            for at in reversed(minus):
                node = Unary("-", node, self.span_from(at))
        while True:
            tok = self.peek()
            op_level = _BINARY.get(tok.text) if tok.kind in ("op", "keyword") else None
            if op_level is not None and op_level >= level:
                self._enter(1, self.advance())
                right = self._parse_level(op_level + 1)
                self.operators -= 1
                node = Binary(tok.text, node, right, self.span_from(start))
            elif level <= _COMPARE and self._at_comparison():
                node = self._parse_comparison(node, start)
            else:
                return node

    def _at_comparison(self) -> bool:
        return self.at(*_COMP_OPS) or (self.at("not") and self.peek(1).text == "in")

    def _comp_op(self) -> str | None:
        if self.at(*_COMP_OPS):
            return self.advance().text
        if self.at("not") and self.peek(1).text == "in":
            self.i += 2
            return "not in"
        return None

    def _parse_comparison(self, first: Expr, start: int) -> Expr:
        ops: list[str] = []
        rest: list[Expr] = []
        while (op := self._comp_op()) is not None:
            ops.append(op)
            self._enter(1, self.tokens[self.i - 1])
            rest.append(self._parse_level(_SUM))
        self.operators -= len(ops)
        return Compare(first, tuple(ops), tuple(rest), self.span_from(start))

    def _expected_value(self, tok: Token) -> ExprSyntaxError:
        found = "end of expression" if tok.kind == "end" else repr(quote(tok.text, 40))
        return ExprSyntaxError(
            f"expected a value, a name or '(', found {found}", tok.start, max(tok.end, tok.start + 1)
        )

    def _parse_number(self) -> Expr:
        tok = self.advance()
        return Number(number_value(tok), self.span(tok.start, tok.end))

    def _parse_string(self) -> Expr:
        tok = self.advance()
        return String(tok.text[1:-1], self.span(tok.start, tok.end))

    def _parse_bool(self) -> Expr:
        tok = self.advance()
        return Bool(tok.text == "true", self.span(tok.start, tok.end))

    def _parse_name(self) -> Expr:
        tok = self.advance()
        if self.at("("):
            self._open(self.advance())
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

    def _parse_set(self) -> Expr:
        opening = self.advance()
        close = "}" if opening.text == "{" else "]"
        self._open(opening)
        items = self._parse_items(close, "in a literal set" if close == "}" else "in a literal list")
        return SetLit(items, "{}" if close == "}" else "[]", self.span_from(opening.start))

    def _parse_items(self, close: str, context: str) -> tuple[Expr, ...]:
        items: list[Expr] = []
        if not self.at(close):
            items.append(self._parse_expression())
            while self.at(","):
                self.advance()
                items.append(self._parse_expression())
        self.expect(close, context)
        self.nesting -= 1
        return tuple(items)

    def _open(self, tok: Token) -> None:
        """Count a bracket as it opens."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExprSyntaxError(
                f"brackets nested more than {MAX_DEPTH} deep: an expression may nest at most "
                f"{MAX_DEPTH} levels (use variables for the inner parts)",
                tok.start,
                tok.end,
                code="E212",
            )

    def _enter(self, count: int, tok: Token) -> None:
        """Count operators whose right operand is being read: each is a level above it, so more
        than MAX_DEPTH of them make an expression too deep, whatever follows."""
        self.operators += count
        if self.operators > MAX_DEPTH:
            raise ExprSyntaxError(
                f"the expression nests more than {MAX_DEPTH} levels deep (each operator is a level, "
                "a chain a + b + c one per operator): use variables for its parts",
                tok.start,
                tok.end,
                code="E212",
            )


_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT = 1, 2, 3, 4, 5, 6
_BINARY = {
    "or": _OR,
    "and": _AND,
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "//": _PRODUCT,
    "%": _PRODUCT,
}
_COMP_OPS = ("<", "<=", ">", ">=", "==", "!=", "in")


def number_value(tok: Token) -> int | float:
    """The value of a number token: an integer within 64 bits, or a finite float (E213)."""
    if "." not in tok.text:
        if len(tok.text.lstrip("0")) > 19 or int(tok.text) > INT64_MAX:
            raise ExprSyntaxError(
                f"the integer {quote(tok.text, 60)} is beyond 64-bit integers (at most {INT64_MAX})",
                tok.start,
                tok.end,
                code="E213",
            )
        return int(tok.text)
    value = float(tok.text)
    if not math.isfinite(value):
        raise ExprSyntaxError(
            f"the number {quote(tok.text, 60)} is beyond the range of floating-point numbers",
            tok.start,
            tok.end,
            code="E213",
        )
    return value


_PRIMARY: dict[str, Callable[[Parser], Expr]] = {
    "number": Parser._parse_number,
    "string": Parser._parse_string,
    "name": Parser._parse_name,
    "true": Parser._parse_bool,
    "false": Parser._parse_bool,
    "{": Parser._parse_set,
    "[": Parser._parse_set,
}


def parse(text: str, origin: Span = NOWHERE, positions: PositionMap = identity_positions) -> Expr:
    """Parse ``text`` into an expression tree; raises :class:`ExprSyntaxError`."""
    return Parser(text, origin, positions).parse()
