"""Source locations: every node of a grid points back into the YAML text it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_col`` exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def shift(self, line: int, col: int, end_line: int, end_col: int) -> Span:
        """Return a span in the same file at other coordinates."""
        return Span(self.file, line, col, end_line, end_col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Span("<memory>", 1, 1, 1, 1)


class Sources:
    """The texts of the files read while loading a grid, to quote lines in error messages."""

    def __init__(self) -> None:
        self._texts: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._texts[file] = text.splitlines()

    def line(self, file: str, line: int) -> str | None:
        lines = self._texts.get(file)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]
