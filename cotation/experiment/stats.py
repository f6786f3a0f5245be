"""Stage 7 (experiment): rank correlations (Spearman's rho, Kendall's tau-b) in NumPy, ties included.

>>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 3)
0.8
>>> round(kendall([1, 2, 3, 4], [1, 3, 2, 4]), 3)
0.667
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def average_ranks(values: Any) -> np.ndarray:
    """Ranks 1..n of ``values``, ties given the mean of the ranks they span (as in most statistics texts)."""
    x = np.asarray(values)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]]) if len(x) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(x)]
    mean = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks[order] = np.repeat(mean, ends - starts)
    return ranks


def spearman(a: Any, b: Any) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks; NaN when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    if len(ra) != len(rb):
        raise ValueError("spearman: both samples must have the same length")
    da, db = ra - ra.mean() if len(ra) else ra, rb - rb.mean() if len(rb) else rb
    den = math.sqrt(float(da @ da) * float(db @ db))
    return float(da @ db) / den if den > 0 else math.nan


def kendall(a: Any, b: Any) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties_a) (n0 - ties_b)); NaN when either
    side is constant. O(n log n): pairs counted by sorting and counting inversions (Knight, 1966)."""
    x, y = np.asarray(a), np.asarray(b)
    if len(x) != len(y):
        raise ValueError("kendall: both samples must have the same length")
    n = len(x)
    n0 = n * (n - 1) // 2
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    ties_x = _tied_pairs(x)
    ties_xy = _tied_pairs_joint(x, y)
    swaps = _inversions(_dense(y))  # pairs ordered one way by x (then y) and the other by y
    ties_y = _tied_pairs(np.sort(y))
    discordant = swaps
    concordant = n0 - ties_x - ties_y + ties_xy - discordant
    den = math.sqrt(float(n0 - ties_x) * float(n0 - ties_y))
    return (concordant - discordant) / den if den > 0 else math.nan


def _dense(v: np.ndarray) -> np.ndarray:
    return np.unique(v, return_inverse=True)[1].astype(np.int64)


def _tied_pairs(sorted_v: np.ndarray) -> int:
    """Pairs of equal values in a sorted array."""
    if len(sorted_v) == 0:
        return 0
    _, counts = np.unique(sorted_v, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _tied_pairs_joint(x: np.ndarray, y: np.ndarray) -> int:
    """Pairs equal in both x and y (x, y sorted by x then y)."""
    if len(x) == 0:
        return 0
    new = np.r_[True, (x[1:] != x[:-1]) | (y[1:] != y[:-1])]
    counts = np.diff(np.r_[np.flatnonzero(new), len(x)])
    return int((counts * (counts - 1) // 2).sum())


def _inversions(v: np.ndarray) -> int:
    """Pairs i < j with v[i] > v[j] (strictly): a bottom-up merge sort, each level one NumPy sort.

    At the level of width ``w`` the array is sorted within blocks of ``w``; for pair ``p`` of blocks,
    each element of the right block counts the elements of the left block greater than it (a
    ``searchsorted`` over every left block at once, keys offset by ``p``), then the pair is merged."""
    n = len(v)
    values = np.asarray(v, np.int64)
    span = int(values.max()) + 1 if n else 1
    pos = np.arange(n)
    total, width = 0, 1
    while width < n:
        pair = pos // (2 * width)
        right = (pos // width) % 2 == 1
        keys = pair * span + values
        left_keys = keys[~right]  # sorted: each left block is sorted and pairs increase
        left_pair = pair[~right]
        first = np.searchsorted(left_pair, pair[right], "left")
        last = np.searchsorted(left_pair, pair[right], "right")
        not_greater = np.searchsorted(left_keys, keys[right], "right")
        total += int((last - not_greater).sum() if len(first) else 0)
        values = np.sort(keys) - pair * span
        width *= 2
    return total
