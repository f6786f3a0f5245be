"""Stage 3 (codegen): scalar helpers every generated kernel calls, compiled once per machine
(cached by Numba).

They live in this package module rather than in each generated module so that a new grid does not
compile them again (about 0.6 s): Numba caches their machine code next to this file (or in its
user-wide cache directory when the package is read-only), and LLVM inlines them into the row loops.
:mod:`cotation.scoring.compiled` puts a hash of this file into the key of every generated module.
"""

import numba
import numpy as np

__all__ = [
    "_add_months",
    "_adequation",
    "_cal_months",
    "_ceiling",
    "_civil",
    "_days_in_month",
    "_end_of_month",
    "_fdiv",
    "_finish",
    "_from_civil",
    "_lowest_bit",
    "_months_between",
    "_months_to",
    "_offer",
    "_popcount",
    "_round_half_away",
    "_row",
    "_taken",
    "_valid",
    "index_count",
    "index_fill",
    "radix_order",
    "sort_text_runs",
    "text_words",
]

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _fdiv(x, k):
    """x // k for an integer |x| < 2**50 and a constant k > 0: exact, and it vectorises."""
    return np.int64(np.floor((np.float64(x) + 0.5) * (1.0 / k)))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _valid(mask, i):
    """Whether value i is present: ``mask[i]``, or true when the column has no mask (None). A call,
    not an inline conditional, so that Numba types and prunes the None case once here rather than
    in every generated kernel (compiling the 40-criterion benchmark grid: about 0.2 s less); LLVM
    inlines it."""
    return True if mask is None else mask[i]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _popcount(x):
    """Number of bits set in a uint64 (the size of a set)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    x = x + (x >> np.uint64(8))
    x = x + (x >> np.uint64(16))
    x = x + (x >> np.uint64(32))
    return np.int64(x & np.uint64(127))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _lowest_bit(x):
    """The position of the lowest bit set in a nonzero uint64."""
    return _popcount((x & (~x + np.uint64(1))) - np.uint64(1))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _civil(days):
    """(year, month, day) of a day number (days since 1970-01-01), Hinnant's algorithm."""
    z = days + 719468
    era = _fdiv(z, 146097)
    doe = z - era * 146097
    yoe = _fdiv(doe - _fdiv(doe, 1460) + _fdiv(doe, 36524) - _fdiv(doe, 146096), 365)
    doy = doe - (365 * yoe + _fdiv(yoe, 4) - _fdiv(yoe, 100))
    mp = _fdiv(5 * doy + 2, 153)
    day = doy - _fdiv(153 * mp + 2, 5) + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _days_in_month(year, month):
    """Number of days of a month (Gregorian leap years)."""
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        return np.int64(29 if leap else 28)
    return np.int64(30 if month == 4 or month == 6 or month == 9 or month == 11 else 31)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _from_civil(year, month, day):
    """Day number of a calendar date, Hinnant's days-from-civil (the inverse of _civil)."""
    y = year - (1 if month <= 2 else 0)
    era = _fdiv(y, 400)
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = _fdiv(153 * mp + 2, 5) + day - 1
    doe = yoe * 365 + _fdiv(yoe, 4) - _fdiv(yoe, 100) + doy
    return np.int64(era * 146097 + doe - 719468)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _months_to(a, yb, mb, db):
    """Whole months from a to the day (yb, mb, db), art. 641 CPC: the largest n with
    add_months(a, n) <= b (a month from the 31st is complete on the 30th of a 30-day month)."""
    ya, ma, da = _civil(a)
    short = min(da, _days_in_month(yb, mb)) > db
    return (yb - ya) * 12 + (mb - ma) - (1 if short else 0)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _months_between(a, b):
    """Whole months from a to b (art. 641 CPC, see _months_to)."""
    yb, mb, db = _civil(b)
    return _months_to(a, yb, mb, db)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _cal_months(pa, pb):
    """Whole months between two packed calendar entries (((month index * 32 + day) * 2 + last day
    of its month): a month is incomplete when b's day is below a's and b is not a month's end."""
    short = ((pb >> 1) & 31) < ((pa >> 1) & 31) and (pb & 1) == 0
    return (pb >> 6) - (pa >> 6) - (1 if short else 0)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _add_months(a, n):
    """The day n months after a: same day number, or the month's last day when it has fewer days."""
    y, m, d = _civil(a)
    index = y * 12 + (m - 1) + n
    year = _fdiv(index, 12)
    month = index - year * 12 + 1
    return _from_civil(year, month, min(d, _days_in_month(year, month)))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _end_of_month(a):
    """The last day of a's month."""
    y, m, _ = _civil(a)
    return _from_civil(y, m, _days_in_month(y, m))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _round_half_away(x):
    """Nearest integer, halves away from zero."""
    r = np.floor(abs(x) + 0.5)
    return np.int64(-r if x < 0 else r)


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _adequation(persons, rooms, lo, hi):
    """-1 when ``rooms`` is below the table's minimum for the household, 1 above its maximum, else 0."""
    k = min(max(persons, 1), lo.shape[0]) - 1
    below = rooms < lo[k]
    return np.int64(rooms > hi[k]) * (not below) - np.int64(below)  # no branch: the loop vectorises


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _ceiling(table, f, z, category, extra):
    """The income ceiling of cell (f, z) for a category (1..6) and extra persons; -1 when unknown.

    The cell's 7 amounts are loaded at constant offsets and the category picks one by selects: no
    load at an index that varies per candidate (a gather from an argument array, which LLVM cannot
    prove free of the kernel's stores) and no early return, so that the pair loop vectorises."""
    c0, c1, c2 = table[f, z, 0], table[f, z, 1], table[f, z, 2]
    c3, c4, c5, per = table[f, z, 3], table[f, z, 4], table[f, z, 5], table[f, z, 6]
    c = min(max(category, 1), 6)
    # one indicator is 1, the others 0: arithmetic, not a chain of conditionals (LLVM turns those
    # into a switch, which keeps the pair loop from vectorising)
    base = c0 * (c == 1) + c1 * (c == 2) + c2 * (c == 3) + c3 * (c == 4) + c4 * (c == 5) + c5 * (c == 6)
    amount = base + min(max(extra, 0), 1000) * per
    return amount if c0 >= 0 else np.int64(-1)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _taken(taken, r):
    """Whether the application of tie-break rank r was proposed for an earlier dwelling of a batch
    assignment: ``taken[r]``, or false without an assignment (``taken`` is None, pruned by Numba)."""
    return False if taken is None else taken[r]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _row(cand, t):
    """The application row of candidate entry t: ``cand[t]``, or t itself when the columns were
    copied in the candidates' order (``cand`` is None: each kernel is compiled for one of the two,
    and in the second the loads are consecutive, so the candidate loop vectorises)."""
    return np.uint64(t) if cand is None else np.uint64(cand[t])


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _worse(t1, s1, r1, t2, s2, r2):
    """Whether candidate 1 ranks after candidate 2: tier, then total (higher first), then row
    (lower first)."""
    if t1 != t2:
        return t1 < t2
    if s1 != s2:
        return s1 < s2
    return r1 > r2


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _offer(ht, hs, hr, cnt, k, t, s, r):
    """Offer a candidate to a bounded min-heap of the k best (root = the worst kept); returns the count."""
    if k == 0:
        return 0
    if cnt == k:
        if not _worse(ht[0], hs[0], hr[0], t, s, r):
            return cnt  # the common case: no better than the worst kept
        j = 0
        while True:
            c = 2 * j + 1
            if c >= k:
                break
            if c + 1 < k and _worse(ht[c + 1], hs[c + 1], hr[c + 1], ht[c], hs[c], hr[c]):
                c += 1
            if not _worse(ht[c], hs[c], hr[c], t, s, r):
                break
            ht[j], hs[j], hr[j] = ht[c], hs[c], hr[c]
            j = c
        ht[j], hs[j], hr[j] = t, s, r
        return cnt
    j = cnt
    while j > 0:
        p = (j - 1) // 2
        if not _worse(t, s, r, ht[p], hs[p], hr[p]):
            break
        ht[j], hs[j], hr[j] = ht[p], hs[p], hr[p]
        j = p
    ht[j], hs[j], hr[j] = t, s, r
    return cnt + 1


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _finish(ht, hs, hr, cnt, rows, totals):
    """Write the kept candidates best first into ``rows``/``totals`` (one dwelling's row; -1 padded)."""
    for a in range(cnt):  # selection sort: k is small
        best = a
        for b in range(a + 1, cnt):
            if _worse(ht[best], hs[best], hr[best], ht[b], hs[b], hr[b]):
                best = b
        ht[a], ht[best] = ht[best], ht[a]
        hs[a], hs[best] = hs[best], hs[a]
        hr[a], hr[best] = hr[best], hr[a]
        rows[a] = hr[a]
        totals[a] = hs[a]
    for a in range(cnt, rows.shape[0]):
        rows[a] = -1
        totals[a] = 0


@numba.njit(cache=True, error_model="numpy", nogil=True)
def index_count(lists, width, size, q0, q1, counts):
    """Inverted index of a list-of-communes column whose rows (``width`` communes each, flattened)
    are in tie-break order, first pass: ``counts[c]`` += the rows q0..q1-1 that list commune c
    (each row once)."""
    for q in range(q0, q1):
        for j in range(width):
            c = lists[q * width + j]
            if c >= 0 and c < size and _first_at(lists, q * width, j, c):
                counts[c] += 1


@numba.njit(cache=True, error_model="numpy", nogil=True)
def index_fill(lists, width, perm, size, q0, q1, fill, rows, ranks, pos):
    """Second pass over the rows q0..q1-1, in that (tie-break) order: the next entry of commune c
    is ``fill[c]``; ``rows`` the application's row ``perm[q]``, ``ranks`` its place q, ``pos``
    where it lists c first."""
    for q in range(q0, q1):
        for j in range(width):
            c = lists[q * width + j]
            if c >= 0 and c < size and _first_at(lists, q * width, j, c):
                t = fill[c]
                rows[t] = perm[q]
                ranks[t] = q
                pos[t] = j
                fill[c] = t + 1


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _first_at(lists, base, j, c):
    """Whether position j of the row starting at ``base`` is the first occurrence of commune c."""
    for q in range(j):  # noqa: SIM110 (nopython mode: a plain loop, no generator)
        if lists[base + q] == c:
            return False
    return True


# -- ordering text (the tie-break order of the applications) -----------------------------------------
@numba.njit(cache=True, error_model="numpy", nogil=True)
def text_words(offsets, data, w0, w1):
    """The first 16 bytes of each string (UTF-8, Arrow's offsets and data), big-endian in two words,
    zero padded: comparing the words compares the strings, unless both words are equal."""
    eight = np.uint64(8)
    for r in range(len(offsets) - 1):
        a, b = offsets[r], offsets[r + 1]
        x = np.uint64(0)
        y = np.uint64(0)
        for j in range(8):
            x = (x << eight) | (np.uint64(data[a + j]) if a + j < b else np.uint64(0))
            y = (y << eight) | (np.uint64(data[a + 8 + j]) if a + 8 + j < b else np.uint64(0))
        w0[r] = x
        w1[r] = y


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _text_less(x0, x1, p, y0, y1, q, offsets, data):
    """Whether string p (first 16 bytes ``x0``, ``x1``) sorts before string q (``y0``, ``y1``) in byte
    order (UTF-8: code-point order, as Python sorts strings)."""
    if x0 != y0:
        return x0 < y0
    if x1 != y1:
        return x1 < y1
    a, c = offsets[p], offsets[q]
    la, lc = offsets[p + 1] - a, offsets[q + 1] - c
    for j in range(16, min(la, lc)):  # the first 16 bytes are equal (or padding)
        if data[a + j] != data[c + j]:
            return data[a + j] < data[c + j]
    return la < lc


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _text_order(x0, x1, p, y0, y1, q, desc, offsets, data):
    """Whether string p sorts strictly before string q in the requested direction."""
    if desc:
        return _text_less(y0, y1, q, x0, x1, p, offsets, data)
    return _text_less(x0, x1, p, y0, y1, q, offsets, data)


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _before(k0, k1, rows, i, j, desc, offsets, data):
    """Whether entry i of the run sorts strictly before entry j."""
    return _text_order(k0[i], k1[i], rows[i], k0[j], k1[j], rows[j], desc, offsets, data)


@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _move(k0, k1, rows, i, l0, l1, lrows, j):
    """Entry i of (k0, k1, rows) to entry j of (l0, l1, lrows)."""
    l0[j], l1[j], lrows[j] = k0[i], k1[i], rows[i]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _sort_text(k0, k1, rows, lo, hi, desc, offsets, data, b0, b1, brows):
    """Sort the entries lo..hi-1 of (k0, k1, rows) by their strings, stably: insertion sort by
    blocks of 16, then bottom-up merges through (b0, b1, brows)."""
    for s in range(lo, hi, 16):
        for j in range(s + 1, min(s + 16, hi)):
            x0, x1, xr = k0[j], k1[j], rows[j]
            i = j
            while i > s and _text_order(x0, x1, xr, k0[i - 1], k1[i - 1], rows[i - 1], desc, offsets, data):
                k0[i], k1[i], rows[i] = k0[i - 1], k1[i - 1], rows[i - 1]
                i -= 1
            k0[i], k1[i], rows[i] = x0, x1, xr
    width = 16
    while width < hi - lo:
        for s in range(lo, hi, 2 * width):
            mid, e = min(s + width, hi), min(s + 2 * width, hi)
            if mid >= e or not _before(k0, k1, rows, mid, mid - 1, desc, offsets, data):
                continue  # already in order
            i, j, o = s, mid, 0
            while i < mid and j < e:
                if _before(k0, k1, rows, j, i, desc, offsets, data):
                    _move(k0, k1, rows, j, b0, b1, brows, o)
                    j += 1
                else:
                    _move(k0, k1, rows, i, b0, b1, brows, o)
                    i += 1
                o += 1
            while i < mid:
                _move(k0, k1, rows, i, b0, b1, brows, o)
                i += 1
                o += 1
            for t in range(o):  # the rest of the right half is already in place
                _move(b0, b1, brows, t, k0, k1, rows, s + t)
        width *= 2


@numba.njit(cache=True, error_model="numpy", nogil=True)
def sort_text_runs(keys, k0, k1, rows, desc, offsets, data):
    """``rows`` is sorted (stably) by ``keys`` (``keys``, ``k0``, ``k1`` follow it: the packed key
    and the first 16 bytes of each row's string): sort each run of an equal key by the strings
    (ascending, or descending with ``desc``), in place."""
    n = len(rows)
    b0, b1, brows = np.empty(n, k0.dtype), np.empty(n, k1.dtype), np.empty(n, rows.dtype)
    a = 0
    while a < n:
        b = a + 1
        while b < n and keys[b] == keys[a]:
            b += 1
        if b - a > 1:
            _sort_text(k0, k1, rows, a, b, desc, offsets, data, b0, b1, brows)
        a = b


@numba.njit(cache=True, error_model="numpy", nogil=True)
def radix_order(key, bits, order):
    """``order`` = the stable sort permutation of ``key`` (non-negative, below 2**bits), by a
    least-significant-digit radix sort in passes of at most 16 bits; returns the sorted keys."""
    n = len(key)
    passes = max(1, (bits + 15) // 16)
    width = (bits + passes - 1) // passes
    size = np.int64(1) << width
    mask = size - 1
    k0, i0 = key.copy(), np.arange(n)
    k1, i1 = np.empty_like(k0), np.empty_like(i0)
    counts = np.empty(size + 1, np.int64)
    for p in range(passes):
        shift = p * width
        counts[:] = 0
        for j in range(n):
            counts[((k0[j] >> shift) & mask) + 1] += 1
        for d in range(size):
            counts[d + 1] += counts[d]
        for j in range(n):
            d = (k0[j] >> shift) & mask
            t = counts[d]
            k1[t] = k0[j]
            i1[t] = i0[j]
            counts[d] = t + 1
        k0, k1 = k1, k0
        i0, i1 = i1, i0
    order[:] = i0
    return k0


@numba.njit(cache=True, error_model="numpy", nogil=True)
def column_sums(breakdown, total, r0, start, stop):
    """total[i] = the sum of column i - r0 of ``breakdown`` (every row: criteria, priority points, cap
    adjustments) in int64, for rows start..stop-1: the total of a grid compiled in pieces."""
    acc = np.zeros(stop - start, np.int64)
    for c in range(breakdown.shape[0]):
        for i in range(start, stop):
            acc[i - start] += np.int64(breakdown[c, i - r0])
    for i in range(start, stop):
        total[i] = acc[i - start]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def unpack_rows(sp, sm, rows, nmet, block, bd, met, r0, b0, start, stop):
    """Rows start..stop-1 of a criteria piece's scratch (scratch row k of row i at k * block + i - r0)
    into row ``rows[k]`` of ``bd`` (row i at column i - b0), and, for the first ``nmet`` (criteria),
    of ``met``."""
    for k in range(rows.shape[0]):
        r = rows[k]
        for i in range(start, stop):
            bd[r, i - b0] = sp[k * block + i - r0]
    for k in range(nmet):
        r = rows[k]
        for i in range(start, stop):
            met[r, i - b0] = sm[k * block + i - r0]
