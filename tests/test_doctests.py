"""The runnable examples in the public modules' docstrings."""

from __future__ import annotations

import doctest

import cotation.api


def test_api_docstring_examples_run() -> None:
    result = doctest.testmod(cotation.api, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
