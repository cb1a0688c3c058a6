"""Where a table's cells are on a page: its ruled grid (rules faint, broken, slanted or bent
with the page), else the aligned rows and columns of its writing.

A rule is a long thin line: each pixel darker than its neighbours a few pixels to either side
(a ridge; a sheet's edge or a shadow is dark on one side only). The slant comes first: the
shear that makes the lines' profile sharpest, as deskewers find it. The mask is sheared
straight by whole pixels (nothing is resampled, every point maps back exactly), and what lies
in runs at least RULE of the page long is rule; pieces of a broken rule on the same rows are
joined. Each rule is fitted in the page's own coordinates by a quadratic, which follows a bent
page. Upright rules are the same on the transposed mask with their own slant (a photo's
perspective tilts them differently). An axis with fewer than two rules takes its boundaries
from the gaps between the rows (or columns) of writing instead. Cells with no rule drawn
between them are one merged cell.

numpy only, like the rest of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .components import components
from .locate import runs

SLOPES = np.linspace(-0.18, 0.18, 73)  # the slants looked at: +-10 degrees, by 0.3
RULE = 0.04  # a rule runs at least this share of the page's side
KEEP = 0.3  # a table's rules are at least this share of its longest rule
LONG = 0.1  # and this share of the page's side
THICK = 2  # rows either side of a rule's line that still count as the rule
# Without rules, a gap between columns of writing is at least this many times the height of
# its rows' writing (the gaps between a number's digits are narrower), and a gap between rows
# at least this share of it (a dot or a broken stroke leaves narrower ones).
COLUMN_GAP = 1.0
ROW_GAP = 0.25
# Of a boundary between two cells, this share drawn: the cells are not merged (a merged
# cell's inside has no rule).
PRESENT = 0.6
RIDGE = 0.08  # a rule is at least this much darker (in the ink map) than either side of it
SLIVER = 0.6  # a row or column thinner than this share of the usual, and empty, is none
EDGE = 0.01  # a table's rules reach this share of the page beyond its outer rules
BOX = 0.015  # a box the rules enclose is at least this share of the page on a side
FILLED = 0.85  # and its paper fills this share of its bounding box
BREAK = 0.02  # pieces of one broken rule are at most this share of the page apart


@dataclass(frozen=True)
class Rule:
    """A boundary between rows (or columns): across = polynomial(along), from start to end
    along; ``ruled`` when drawn on the page, not a gap between writing."""

    fit: tuple[float, ...]  # coefficients, highest power first
    start: float
    end: float
    ruled: bool = True
    # What it was fitted to: along, across (the middle of its pixels at each along).
    points: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False,
                                                         repr=False)

    def at(self, along: float | np.ndarray) -> np.ndarray:
        return np.polyval(self.fit, along)

    @property
    def middle(self) -> float:
        return float(self.at((self.start + self.end) / 2))

    def clipped(self, low: float, high: float) -> Rule | None:
        """The rule fitted again to its points from ``low`` to ``high`` along it alone (None
        when too few are there): what lies beyond is not the table's (a texture, the sheet's
        edge) and would bend the fit."""
        if self.points is None:
            return self
        along, across = self.points
        keep = (along >= low) & (along <= high)
        return _fitted(along[keep], across[keep])


def _fitted(along: np.ndarray, across: np.ndarray) -> Rule | None:
    """A rule through points (along sorted): a quadratic, which follows a bent page, where
    they are many, else a line; None for too few."""
    if len(along) < 8:
        return None
    degree = 2 if len(along) >= 64 else 1
    fit = np.polyfit(along, across, degree)
    return Rule(tuple(float(c) for c in fit), float(along[0]), float(along[-1] + 1),
                points=(along, across))


Point = tuple[float, float]  # x, y


@dataclass(frozen=True)
class GridCell:
    """A cell of the grid: where it starts (row, column), how many rows and columns it spans,
    and its corners (top left, top right, bottom right, bottom left; x, y)."""

    row: int
    column: int
    rows: int
    columns: int
    corners: tuple[Point, Point, Point, Point]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Left, top, right, bottom: the corners' bounding box."""
        xs, ys = [p[0] for p in self.corners], [p[1] for p in self.corners]
        return (int(np.floor(min(xs))), int(np.floor(min(ys))), int(np.ceil(max(xs))),
                int(np.ceil(max(ys))))


@dataclass(frozen=True)
class Grid:
    """A table: its row boundaries top to bottom, its column boundaries left to right, and its
    cells in reading order (a merged cell once, at its first row and column)."""

    rows: list[Rule]
    columns: list[Rule]
    cells: list[GridCell]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows) - 1, len(self.columns) - 1

    @property
    def ruled(self) -> bool:
        return all(r.ruled for r in self.rows + self.columns)


def slope(mask: np.ndarray) -> float:
    """The slant of the rows of ``mask`` (rows down per column right): the shear whose row
    profile has the most energy, first over SLOPES, then finer around the best."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return 0.0
    step = max(1, len(rows) // 200_000)  # a sample is plenty for a profile
    rows, cols = rows[::step], cols[::step].astype(np.float64)

    def energy(s: float) -> float:
        shifted = rows - np.round(s * cols).astype(np.int64)
        return float(np.square(np.bincount(shifted - shifted.min())).sum(dtype=np.float64))

    best = max(SLOPES, key=energy)
    return float(max(best + np.linspace(-0.0025, 0.0025, 11), key=energy))


def _shear(mask: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` with each column shifted up by round(s * x) (plus a constant keeping rows
    non-negative): rows slanted by ``s`` become level. Also each column's shift, to map
    back: row = sheared row + shift[x]."""
    h, w = mask.shape
    offsets = np.round(s * np.arange(w)).astype(np.int64)
    shift = offsets - offsets.max()
    sheared = np.zeros((h + offsets.max() - offsets.min(), w), bool)
    rows, cols = np.nonzero(mask)
    sheared[rows - shift[cols], cols] = True
    return sheared, shift


def _runs(mask: np.ndarray, shortest: int) -> np.ndarray:
    """The pixels of ``mask`` in runs along its rows at least ``shortest`` long."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    rows, cols = np.nonzero(np.diff(padded, axis=1))
    starts, ends, where = cols[::2], cols[1::2], rows[::2]
    long = ends - starts >= shortest
    change = np.zeros((mask.shape[0], mask.shape[1] + 1), np.int32)
    np.add.at(change, (where[long], starts[long]), 1)
    np.add.at(change, (where[long], ends[long]), -1)
    return np.cumsum(change, axis=1)[:, :-1] > 0


def _level_rules(mask: np.ndarray) -> tuple[list[Rule], np.ndarray]:
    """The rules running along the rows of ``mask`` (within SLOPES of level), longest first,
    and the mask of their pixels."""
    h, w = mask.shape
    side = max(h, w)
    s = slope(mask)
    sheared, shift = _shear(mask, s)
    # A rule a pixel thick and bent by the page is a staircase of short runs; three rows
    # together make it one long run again.
    thick = sheared.copy()
    thick[1:] |= sheared[:-1]
    thick[:-1] |= sheared[1:]
    # Gaps are not closed before the runs are taken: that would join a row of digits into
    # one. A broken rule's pieces are joined afterwards, by the rows they share.
    lines = _runs(thick, max(8, round(RULE * side))) & sheared
    out = np.zeros_like(mask)
    rows, cols = np.nonzero(lines)
    out[rows + shift[cols], cols] = True
    rules = []
    for part in _pieces(lines):
        rows = np.concatenate([np.full(e - b, r) for r, b, e in part])
        cols = np.concatenate([np.arange(b, e) for _, b, e in part])
        order = np.argsort(cols, kind="stable")
        cols, level = cols[order], (rows + shift[cols])[order]  # back in the page's rows
        # One row per column (the rule's middle) weighs every column alike.
        columns, first = np.unique(cols, return_index=True)
        middle = np.add.reduceat(level, first) / np.diff(np.append(first, len(cols)))
        rule = _fitted(columns, middle)
        if rule is not None:
            rules.append(rule)
    rules.sort(key=lambda r: r.start - r.end)
    return rules, out


def _pieces(lines: np.ndarray) -> list[list[tuple[int, int, int]]]:
    """The runs of each rule in the (levelled) mask of rule pixels: connected pieces, and
    pieces of one broken rule (on the same rows, less than BREAK apart along them) joined."""
    found = sorted(components(lines), key=lambda c: c.left)
    reach = BREAK * max(lines.shape)
    rules: list[list] = []  # top, bottom, right end, runs
    for c in found:
        for rule in rules:
            top, bottom, right, _ = rule
            if c.top <= bottom + THICK and c.bottom >= top - THICK and c.left - right <= reach:
                rule[:] = [min(top, c.top), max(bottom, c.bottom), max(right, c.right),
                           rule[3] + list(c.runs)]
                break
        else:
            rules.append([c.top, c.bottom, c.right, list(c.runs)])
    return [runs for _, _, _, runs in rules]


def _table_rules(rules: list[Rule], side: int) -> list[Rule]:
    """The rules of the table: at least KEEP of the longest and LONG of the page's ``side``
    (a 1's stroke is no rule), in order across."""
    if not rules:
        return []
    longest = max(r.end - r.start for r in rules)
    kept = [r for r in rules if r.end - r.start >= max(KEEP * longest, LONG * side)]
    return sorted(kept, key=lambda r: r.middle)


def _gaps(profile: np.ndarray, least: float) -> list[float]:
    """Boundaries between runs of writing in a profile: the middle of each gap at least
    ``least`` wide, and just outside the first and last run."""
    if not profile.any():
        return []
    starts, ends = runs(profile)
    bounds = [float(starts[0]) - 1]
    for end, start in zip(ends[:-1], starts[1:], strict=True):
        if start - end >= least:
            bounds.append((end + start) / 2)
    return [*bounds, float(ends[-1]) + 1]


def _gap_rules(ink: np.ndarray, s: float, least: float, span: tuple[float, float]) -> list[Rule]:
    """Boundaries between the rows of writing in ``ink`` (slanted by ``s``), as level
    unruled rules from span[0] to span[1] along them."""
    sheared, shift = _shear(ink, s)
    lo, hi = max(0, int(span[0])), min(ink.shape[1], int(np.ceil(span[1])))
    bounds = _gaps(sheared[:, lo:hi].sum(1), least)
    # A sheared row b is the page's row b + shift[x], and shift[x] = shift[0] + s * x.
    return [Rule((s, b + float(shift[0])), span[0], span[1], ruled=False) for b in bounds]


def _writing_height(ink: np.ndarray, s: float) -> float:
    """The usual height of a row of writing: the median run of inked rows, levelled."""
    profile = _shear(ink, s)[0].sum(1)
    if not profile.any():
        return 0.0
    starts, ends = runs(profile)
    return float(np.median(ends - starts))


def _cross(horizontal: Rule, vertical: Rule) -> Point:
    """Where a horizontal rule (y = h(x)) meets a vertical one (x = v(y))."""
    x = float(vertical.at(horizontal.at((horizontal.start + horizontal.end) / 2)))
    for _ in range(4):  # both nearly straight and nearly perpendicular: converges fast
        x = float(vertical.at(horizontal.at(x)))
    return x, float(horizontal.at(x))


def _drawn(lines: np.ndarray, rule: Rule, start: float, end: float) -> bool:
    """Whether ``rule`` is drawn (in the rule pixels ``lines``, rows along it) from start to
    end: a boundary between two cells, not a merged cell's inside."""
    if not rule.ruled:
        return True
    along = np.arange(int(start) + 2, int(end) - 1)
    if len(along) == 0:
        return True
    across = np.round(rule.at(along)).astype(np.int64)
    hits = np.zeros(len(along), bool)
    for d in range(-THICK - 1, THICK + 2):
        rows = np.clip(across + d, 0, lines.shape[0] - 1)
        hits |= lines[rows, np.clip(along, 0, lines.shape[1] - 1)]
    return bool(hits.mean() >= PRESENT)


def _cells(rows: list[Rule], columns: list[Rule], flat: np.ndarray,
           upright: np.ndarray) -> list[GridCell]:
    """The cells between the boundaries, cells with no rule drawn between them merged (the
    rules' pixels: ``flat`` as the page has them, ``upright`` transposed)."""
    corner = [[_cross(h, v) for v in columns] for h in rows]
    n, m = len(rows) - 1, len(columns) - 1
    parent = list(range(n * m))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(m):
            if i + 1 < n and not _drawn(flat, rows[i + 1], corner[i + 1][j][0],
                                         corner[i + 1][j + 1][0]):
                parent[find((i + 1) * m + j)] = find(i * m + j)
            if j + 1 < m and not _drawn(upright, columns[j + 1], corner[i][j + 1][1],
                                         corner[i + 1][j + 1][1]):
                parent[find(i * m + j + 1)] = find(i * m + j)
    groups: dict[int, list[tuple[int, int]]] = {}
    for i in range(n):
        for j in range(m):
            groups.setdefault(find(i * m + j), []).append((i, j))
    cells = []
    for members in groups.values():
        i0, i1 = min(i for i, _ in members), max(i for i, _ in members) + 1
        j0, j1 = min(j for _, j in members), max(j for _, j in members) + 1
        cells.append(GridCell(i0, j0, i1 - i0, j1 - j0,
                              (corner[i0][j0], corner[i0][j1], corner[i1][j1], corner[i1][j0])))
    return sorted(cells, key=lambda c: (c.row, c.column))


def _ridges(coverage: np.ndarray, axis: int) -> np.ndarray:
    """Thin lines across ``axis`` (0: level lines) in an ink map: how much darker each pixel
    is than the lighter of its neighbours a few pixels before and after it along ``axis``.
    A rule is dark on both sides of it; a sheet's edge, a shadow's or a cell's shading is
    dark on one side only."""
    best = np.zeros_like(coverage)
    for d in (2, 3, 5):  # rules up to about 8 pixels thick
        widths = [(d, d), (0, 0)] if axis == 0 else [(0, 0), (d, d)]
        padded = np.pad(coverage, widths, mode="edge")
        before, after = ((padded[: -2 * d], padded[2 * d :]) if axis == 0
                         else (padded[:, : -2 * d], padded[:, 2 * d :]))
        np.maximum(best, coverage - np.maximum(before, after), out=best)
    return best > RIDGE


def _lines(coverage: np.ndarray) -> np.ndarray:
    """Thin lines either way in an ink map: level and upright rules both in one mask, since
    where a rule crosses another it is no ridge across the other's direction (an upright rule
    would be cut at every row's rule)."""
    return _ridges(coverage, 0) | _ridges(coverage, 1)


def _within(rules: list[Rule], across: list[Rule], margin: float) -> list[Rule]:
    """The ``rules`` that lie where the rules ``across`` them reach (within ``margin``):
    the table's, not a texture's or another part of the page's."""
    if len(across) < 2:
        return rules
    lo = min(r.start for r in across) - margin
    hi = max(r.end for r in across) + margin
    first, last = min(r.middle for r in across), max(r.middle for r in across)
    return [r for r in rules if lo <= r.middle <= hi and r.end >= first and r.start <= last]


def _rules(lines: np.ndarray) -> tuple[list[Rule], np.ndarray, list[Rule], np.ndarray]:
    """The table's level and upright rules in a mask of thin lines (`_lines`), with the masks
    of their pixels (the upright one transposed)."""
    flat_rules, flat = _level_rules(lines)
    upright_rules, upright_t = _level_rules(lines.T)
    side = max(lines.shape)
    margin = EDGE * side
    # The longest upright rules first: a texture (wood grain) makes long level lines too.
    upright_rules = _table_rules(upright_rules, side)
    flat_rules = _table_rules(_within(flat_rules, upright_rules, margin), side)
    # The level rules of a faint grid may break short of its last column: an upright rule a
    # column's width beyond where they reach is still the table's.
    upright_rules = _table_rules(_within(upright_rules, flat_rules,
                                         max(margin, _spacing(upright_rules))), side)
    return _clipped(flat_rules, upright_rules), flat, _clipped(upright_rules, flat_rules), \
        upright_t


def _spacing(rules: list[Rule]) -> float:
    """The usual distance between neighbouring rules (0 for fewer than two)."""
    return float(np.median(np.diff(sorted(r.middle for r in rules)))) if len(rules) > 1 else 0.0


def _clipped(rules: list[Rule], across: list[Rule]) -> list[Rule]:
    """``rules`` fitted again within a cell's width of the outermost rules ``across`` them
    (a table without an outer border on a side still ends a cell beyond its last rule)."""
    if len(across) < 2:
        return rules
    reach = _spacing(across)
    clipped = (r.clipped(across[0].middle - reach, across[-1].middle + reach) for r in rules)
    return [r for r in clipped if r is not None]


def find_grid(coverage: np.ndarray, mask: np.ndarray) -> Grid | None:
    """The table in an ink map (``coverage``: ink bright, lighting taken out, as `ink_map`
    gives it; ``mask``: its ink pixels): its rows and columns, from its rules where it has
    them, else from the gaps in its writing. None when there is no table."""
    lines = _lines(coverage)
    flat_rules, flat, upright_rules, upright_t = _rules(lines)
    writing = mask & ~flat & ~upright_t.T
    if not writing.any() and len(flat_rules) < 2 and len(upright_rules) < 2:
        return None
    if len(flat_rules) >= 2:
        rows = flat_rules
    else:
        s = slope(writing)
        span = ((min(r.middle for r in upright_rules), max(r.middle for r in upright_rules))
                if len(upright_rules) >= 2 else (0.0, float(mask.shape[1])))
        rows = _gap_rules(writing, s, max(1.0, ROW_GAP * _writing_height(writing, s)), span)
    if len(upright_rules) >= 2:
        columns = upright_rules
    elif len(rows) >= 2:
        span = (min(r.middle for r in rows), max(r.middle for r in rows))
        height = _writing_height(writing, slope(writing))
        columns = _gap_rules(writing.T, slope(writing.T), max(2.0, COLUMN_GAP * height), span)
    else:
        return None
    if len(rows) < 2 or len(columns) < 2:
        return None
    rows = _without_slivers(_closed(rows, columns), columns, writing)
    columns = _without_slivers(_closed(columns, rows), rows, writing.T)
    if len(rows) < 2 or len(columns) < 2:
        return None
    return Grid(rows, columns, _cells(rows, columns, lines, lines.T))


def _without_slivers(rules: list[Rule], across: list[Rule], writing: np.ndarray) -> list[Rule]:
    """``rules`` less those that only close a sliver: a row (or column) much thinner than
    the others with no writing in it, between a double rule, or between the table's border
    and the sheet's edge."""
    if len(rules) < 3:
        return rules
    spacing = np.diff([r.middle for r in rules])
    usual = float(np.median(spacing))
    lo = max(0, int(min(r.middle for r in across)))
    hi = int(max(r.middle for r in across)) + 1
    out = list(rules)
    for k in range(len(rules) - 1, 0, -1):
        # A boundary the table's rules did not draw, added at an edge (`_closed`), closes
        # a column only if there is writing in it.
        added = (k == 1 and not rules[0].ruled) or (k == len(rules) - 1 and
                                                    not rules[-1].ruled)
        if (spacing[k - 1] >= SLIVER * usual and not added) or len(out) < 3:
            continue
        top, bottom = int(rules[k - 1].middle) + THICK + 1, int(rules[k].middle) - THICK
        strip = writing[max(0, top):max(0, bottom), lo:hi]
        if strip.size == 0 or strip.mean() > 0.02:  # a cell's writing covers more
            continue
        # An outer sliver loses its outer rule; one inside the table either of the two.
        drop = k - 1 if k - 1 == 0 else k
        del out[drop]
    return out


def _closed(rules: list[Rule], across: list[Rule]) -> list[Rule]:
    """``rules`` with a boundary added where the rules ``across`` them run on well beyond the
    first or last of them: a table drawn without its outer border on that side."""
    if not across or not all(r.ruled for r in across):
        return rules
    start = float(np.median([r.start for r in across]))
    end = float(np.median([r.end for r in across]))
    spacing = _spacing(rules)
    first, last = rules[0], rules[-1]
    out = list(rules)
    span = (min(r.start for r in rules), max(r.end for r in rules))
    if spacing and first.middle - start > spacing / 2:
        out.insert(0, Rule((0.0, start), *span, ruled=False))
    if spacing and end - last.middle > spacing / 2:
        out.append(Rule((0.0, end), *span, ruled=False))
    return out


def frame(coverage: np.ndarray) -> np.ndarray | None:
    """The corners of the frame a page's outermost rules draw (top left, top right, bottom
    right, bottom left; x, y in ``coverage``'s pixels), where it has two level and two
    upright rules: the points a scan of a form is registered by. None without them."""
    flat, _, upright, _ = _rules(_lines(coverage))
    if len(flat) < 2 or len(upright) < 2:
        return None
    return np.array([_cross(flat[0], upright[0]), _cross(flat[0], upright[-1]),
                     _cross(flat[-1], upright[-1]), _cross(flat[-1], upright[0])])


def boxes(coverage: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The boxes a page's rules enclose (left, top, right, bottom in ``coverage``'s pixels),
    top to bottom: a form's fields, a table's cells. A box is a region of paper walled in by
    rules on every side, nearly filling its bounding box; the page around the rules is not."""
    lines = _lines(coverage)
    _, flat = _level_rules(lines)
    _, upright_t = _level_rules(lines.T)
    walls = flat | upright_t.T
    walls[1:] |= walls[:-1]  # a rule's broken pixels would let the paper through
    walls[:, 1:] |= walls[:, :-1]
    h, w = walls.shape
    least = (BOX * max(h, w)) ** 2
    found = []
    for part in components(~walls):
        if part.top == 0 or part.left == 0 or part.bottom == h or part.right == w:
            continue  # the page around the rules
        area = sum(e - b for _, b, e in part.runs)
        size = (part.bottom - part.top) * (part.right - part.left)
        if area >= least and area >= FILLED * size:
            found.append((part.left, part.top, part.right, part.bottom))
    # A region around other boxes (a form's frame holding its fields) is no field itself.
    inner = [b for b in found if not any(o != b and b[0] <= o[0] and b[1] <= o[1]
                                         and o[2] <= b[2] and o[3] <= b[3] for o in found)]
    return sorted(inner, key=lambda b: (b[1], b[0]))
