"""Stage 1 (grid): the limits a grid must stay within, each with its error code.

A grid may come from a stranger (a service reading grids it did not write), so every dimension
that makes loading or compiling it cost more is bounded, and checked *before* the work it bounds:
the size of the files before they are read, the YAML nesting before the node graph is composed,
the length and the number of terms of an expression before it is parsed, its nesting while it is
parsed. The parser grows Python's stack only with brackets (two frames for a parenthesis, four for
a call or a literal set) and with the operators whose right operand it is reading (one frame each),
and counts both as it goes. Every later walk of an expression (type checker, bounds, printer, IR
helpers, code generators, reference evaluator, trace, pickling for the grid cache) is recursive,
and safe because of :data:`MAX_DEPTH` and :data:`MAX_DEPTH_WITH_VARIABLES`: the deepest walk at the
limits takes about 400 frames (the parser on nested calls, the emitter through variables), and
``tests/test_limits.py`` loads, compiles, scores on both engines and explains grids at every limit
with Python's recursion limit lowered to 500 frames above the test (the default is 1 000).
``docs/grid-format.md`` states each limit; a grid beyond one gets a located error naming the limit.

Depth counts the way the back ends nest: a value or a name is no level; an operator, a call or a
conditional is one level above its deepest operand; a chain of ``k`` comparisons (``a < b < c``)
is ``k`` levels (it becomes ``k - 1`` conjunctions of comparisons); a call with ``k > 2`` arguments
is ``k - 1`` levels (``min`` folds pairwise); a chain of ``+`` is one level per operator (``a + b +
c`` is ``(a + b) + c``, 2 levels).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import syntax as s

MAX_GRID_BYTES = 4 * 1024 * 1024  # a grid file, and a grid with all its includes together
MAX_YAML_DEPTH = 50  # nested mappings and lists in one YAML file
MAX_INCLUDE_DEPTH = 16  # a grid including a pool that includes a pool...
MAX_EXPRESSION_LENGTH = 20_000  # characters of one expression
MAX_TERMS = 1_000  # values and names in one expression (items of a literal set included)
MAX_DEPTH = 100  # levels of one expression (see above)
MAX_DEPTH_WITH_VARIABLES = 200  # levels of an expression with the variables it reads written out
MAX_CRITERIA = 2_000  # criteria of a grid and its pools, those of the match part included
INT64_MAX = 2**63 - 1  # the largest integer literal


@dataclass(frozen=True)
class Limit:
    """One documented limit: its name in the docs, its value, its code and what it counts."""

    name: str
    value: int
    code: str
    counts: str


LIMITS: tuple[Limit, ...] = (
    Limit(
        "grid file size", MAX_GRID_BYTES, "E106", "bytes of a grid file, and of a grid with all its includes"
    ),
    Limit("YAML depth", MAX_YAML_DEPTH, "E107", "nested mappings and lists in one file"),
    Limit("include depth", MAX_INCLUDE_DEPTH, "E107", "files in a chain of includes"),
    Limit("expression length", MAX_EXPRESSION_LENGTH, "E210", "characters of one expression"),
    Limit("terms per expression", MAX_TERMS, "E211", "values and names in one expression"),
    Limit("nesting depth", MAX_DEPTH, "E212", "levels of one expression"),
    Limit(
        "nesting depth through variables",
        MAX_DEPTH_WITH_VARIABLES,
        "E214",
        "levels of an expression with the variables it reads written out",
    ),
    Limit("number of criteria", MAX_CRITERIA, "E340", "criteria of a grid with its pools and match part"),
    Limit("integer literal", INT64_MAX, "E213", "the largest integer written in an expression (2^63 - 1)"),
)


def depth(tree: s.Expr) -> int:
    """The nesting depth of a syntax tree (see the module docstring), computed without recursion."""
    out: dict[int, int] = {}
    stack: list[tuple[s.Expr, bool]] = [(tree, False)]
    while stack:
        node, done = stack.pop()
        kids = s.children(node)
        if not done and kids:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
            continue
        below = max((out[id(k)] for k in kids), default=0)
        out[id(node)] = below + own_levels(node)
    return out[id(tree)]


def own_levels(node: s.Expr) -> int:
    """The levels a node adds above its deepest operand (a value or a name: none)."""
    if isinstance(node, s.Compare):
        return len(node.ops)
    if isinstance(node, s.Call):
        return max(1, len(node.args) - 1)
    return 1 if s.children(node) or isinstance(node, s.SetLit) else 0
