"""Handwritten operators, drawn as a pen draws them: + - × ÷ = ( ) and the other ways people
write them (× as a letter x, a raised dot or a keyboard's asterisk *, ÷ as a slash /, a colon
or with big round dots). MNIST has none.

A symbol is drawn in a box one digit high, where it stands beside digits: a plus sign smaller
than the digits and centred on their middle, brackets as tall as them, a dot on the baseline.
Each stroke is a slightly bent line (a quadratic curve through a displaced midpoint), at its own
angle and length, with the pen's width; a cross's strokes cross anywhere near their middles.
`symbol_image` gives the MNIST form (cut to the ink, 20x20 in 28x28 by its mass) for a
classifier; `symbol_layer` the ink at its place in a line, for strings. numpy and Pillow only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .contract import SYMBOLS
from .vision.normalise import fit_mnist, normalise_stroke

# The shapes each symbol is written in, and how often.
FORMS = {
    "+": {"cross": 1.0},
    "-": {"bar": 1.0},
    "×": {"cross": 0.45, "letter": 0.2, "dot": 0.15, "star": 0.2},
    "÷": {"dots": 0.35, "big dots": 0.15, "slash": 0.3, "colon": 0.2},
    "=": {"bars": 1.0},
    "(": {"arc": 1.0},
    ")": {"arc": 1.0},
}
SUPERSAMPLE = 4  # drawn this many times larger, then reduced: antialiased edges
Point = tuple[float, float]  # (x, y) as fractions of the digit height, y down from the top
Stroke = tuple[list[Point], bool]  # a pen's path, or (filled) a dot's centre and edge


def _curve(start: Point, end: Point, bend: float, steps: int = 12) -> list[Point]:
    """A quadratic curve from ``start`` to ``end`` whose middle is pushed sideways by ``bend``
    times the stroke's length."""
    (x0, y0), (x1, y1) = start, end
    mx, my = (x0 + x1) / 2 - bend * (y1 - y0), (y0 + y1) / 2 + bend * (x1 - x0)
    t = np.linspace(0, 1, steps)[:, None]
    pts = ((1 - t) ** 2 * np.array(start) + 2 * (1 - t) * t * np.array((mx, my))
           + t**2 * np.array(end))
    return [(float(x), float(y)) for x, y in pts]


def _stroke(centre: Point, length: float, angle: float, rng: np.random.Generator,
            along: float = 0.5) -> list[Point]:
    """A slightly bent stroke of ``length`` at ``angle`` (degrees), ``along`` of it before
    ``centre``."""
    dx, dy = np.cos(np.radians(angle)) * length, -np.sin(np.radians(angle)) * length
    start = (centre[0] - along * dx, centre[1] - along * dy)
    end = (start[0] + dx, start[1] + dy)
    return _curve(start, end, float(rng.normal(0, 0.06)))


def _dot(centre: Point, radius: float) -> Stroke:
    """A filled dot, as its centre and a point on its edge."""
    return [centre, (centre[0] + radius, centre[1])], True


def _strokes(symbol: str, form: str, rng: np.random.Generator) -> tuple[list[Stroke], float]:
    """The symbol's strokes in a box one digit high (y 0 at the top, 1 at the baseline), and
    the box's width, both in digit heights."""
    u = rng.uniform
    mid = 0.5 + u(-0.06, 0.06)  # the digits' middle, where most operators stand
    if symbol == "+" or (symbol == "×" and form == "cross"):
        size = u(0.4, 0.7)
        tilt = 45 if symbol == "×" else 0
        first = _stroke((size / 2, mid), size * u(0.85, 1.15), tilt + u(-12, 12), rng,
                        along=u(0.35, 0.65))
        second = _stroke((size / 2 + u(-0.08, 0.08) * size, mid + u(-0.08, 0.08) * size),
                         size * u(0.85, 1.15), tilt + 90 + u(-12, 12), rng, along=u(0.35, 0.65))
        return [(first, False), (second, False)], size
    if symbol == "×" and form == "letter":  # two arcs back to back, as in a letter x
        size, gap = u(0.4, 0.6), u(-0.1, 0.1)  # the arcs' middles overlap or stand apart
        top, bottom = mid - size / 2, mid + size / 2
        return [(_curve((0.0, top), (0.0, bottom), -(1 - gap)), False),
                (_curve((size, top), (size, bottom), 1 - gap), False)], size
    if symbol == "×" and form == "star":  # an asterisk: three strokes through one point,
        size = u(0.3, 0.5)  # smaller than a cross, and often written high as typed
        centre = (size / 2, mid - u(0, 0.15))
        turn = u(0, 60)
        return [(_stroke(centre, size * u(0.85, 1.15), turn + 60 * k + u(-10, 10), rng,
                         along=u(0.4, 0.6)), False) for k in range(3)], size
    if symbol == "×":  # a raised dot
        r = u(0.04, 0.07)
        return [_dot((r, mid), r)], 2 * r
    if symbol == "÷" and form == "slash":
        height = u(0.7, 1.0)
        lean = u(0.25, 0.45) * height
        return [(_curve((0.0, 1.0), (lean, 1.0 - height), float(rng.normal(0, 0.04))),
                 False)], lean
    if symbol == "÷":  # a bar with a dot above and below, or a colon
        # Big dots are drawn as small circles or blots, nearly as wide as the bar is long.
        r = u(0.09, 0.13) if form == "big dots" else u(0.035, 0.06)
        apart = u(0.15, 0.25) + (r if form == "big dots" else 0)
        if form == "colon":
            return [_dot((r, mid - apart), r), _dot((r, mid + apart), r)], 2 * r
        width = u(0.4, 0.65)
        x = width / 2 + u(-0.05, 0.05)
        bar = _stroke((width / 2, mid), width, u(-6, 6), rng)
        return [(bar, False), _dot((x, mid - apart), r), _dot((x, mid + apart), r)], width
    if symbol == "-":
        width = u(0.3, 0.6)
        return [(_stroke((width / 2, mid), width, u(-8, 8), rng), False)], width
    if symbol == "=":
        width = u(0.35, 0.65)
        apart = u(0.2, 0.3)  # enough for the widest pen: the bars never touch
        return [(_stroke((width / 2 + u(-0.04, 0.04), mid + k * apart / 2),
                         width * u(0.85, 1.1), u(-4, 4), rng), False) for k in (-1, 1)], width
    # Brackets: an arc as tall as the digits, open to the right for "(".
    height = u(0.9, 1.15)
    bulge = u(0.18, 0.32) * (1 if symbol == "(" else -1)
    x = abs(bulge) * height / 2  # the arc's ends stand this far in from its outer edge
    return [(_curve((x, 0.5 - height / 2), (x, 0.5 + height / 2), bulge), False)], 2 * x


def symbol_layer(symbol: str, height: int, rng: np.random.Generator,
                 pen: float | None = None, form: str | None = None) -> np.ndarray:
    """Ink coverage in [0, 1] of ``symbol`` beside digits ``height`` pixels high, in one of its
    FORMS (drawn at random by their shares unless given), with a pen ``pen`` pixels wide (about
    a tenth of the height unless given). The layer is round(1.3 x height) rows: the digits'
    top at row 0.15 x height and their baseline at 1.15 x height, room for a bracket's ends."""
    if symbol not in FORMS:
        raise ValueError(f"no handwritten form of {symbol!r} (known: {SYMBOLS})")
    forms = FORMS[symbol]
    form = form or str(rng.choice(list(forms), p=list(forms.values())))
    strokes, width = _strokes(symbol, form, rng)
    pen = pen if pen is not None else height * rng.uniform(0.07, 0.13)
    s = SUPERSAMPLE
    margin = pen + 2
    box_w, box_h = int(width * height + 2 * margin) + 1, round(1.3 * height)
    canvas = Image.new("L", (box_w * s, box_h * s), 0)
    draw = ImageDraw.Draw(canvas)
    top = 0.15 * height  # room above the digits' top for a tall bracket and the pen
    for path, filled in strokes:
        pts = [((margin + x * height) * s, (top + y * height) * s) for x, y in path]
        if filled:  # a dot: at least as wide as the pen
            (cx, cy), (ex, ey) = pts
            r = max(float(np.hypot(ex - cx, ey - cy)), pen * s / 2)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
            continue
        draw.line(pts, fill=255, width=max(1, round(pen * s)), joint="curve")
        for x, y in (pts[0], pts[-1]):  # round pen ends
            r = pen * s / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = canvas.resize((box_w, box_h), Image.BOX)
    return np.asarray(small, np.float32) / 255


def symbol_image(symbol: str, rng: np.random.Generator, form: str | None = None) -> np.ndarray:
    """``symbol`` in MNIST's form (28x28 uint8, white on black): drawn 112 pixels high, cut
    to its ink, its stroke brought towards MNIST's width, fitted into 20x20 and centred by
    its mass, as `read` does with each character it finds."""
    layer = symbol_layer(symbol, 112, rng, form=form)
    rows, cols = np.flatnonzero(layer.max(1) > 0.05), np.flatnonzero(layer.max(0) > 0.05)
    crop = layer[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return (fit_mnist(normalise_stroke(crop, crop > 0.5)) * 255).round().astype(np.uint8)
