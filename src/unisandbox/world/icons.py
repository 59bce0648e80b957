"""Procedural icons: one drawing function per vocabulary entry (objects, fruits, flowers).

Every icon is drawn in a 12x12 unit box with PIL primitives, at any scale, as ONE connected shape (so a
judge can count blobs), with a distinct silhouette and colour set (so a judge can name it from pixels).
Colours are chosen to be recognisable to a human or a VLM: an apple is a red disc with a stem and a leaf,
a tree is a green crown on a brown trunk, a star is a yellow five-pointed star.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw

UNIT = 12
"""Side of the unit box every icon is drawn in; at scale 1 an icon is at most UNIT x UNIT pixels."""

RGB = tuple[int, int, int]


class Pen:
    """Draws in unit coordinates onto an RGBA canvas, at scale `s`, offset `(ox, oy)`, colour shift `dc`.

    Transparent pixels are background; every drawn pixel is part of the icon.
    """

    def __init__(
        self,
        img: Image.Image,
        s: float,
        ox: float = 0.0,
        oy: float = 0.0,
        dc: tuple[int, int, int] = (0, 0, 0),
    ):
        self.draw = ImageDraw.Draw(img)
        self.s, self.ox, self.oy, self.dc = s, ox, oy, dc

    def c(self, rgb: RGB) -> tuple[int, int, int, int]:
        """Shifted, clipped colour with full alpha."""
        r, g, b = (max(0, min(255, v + d)) for v, d in zip(rgb, self.dc, strict=True))
        return (r, g, b, 255)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return (self.ox + x * self.s, self.oy + y * self.s)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        # PIL boxes include their last pixel; `- 1` makes a box 0..12 cover exactly 12 pixels at s=1.
        a, b = self.xy(x0, y0)
        c, d = self.xy(x1, y1)
        return [a, b, max(a, c - 1), max(b, d - 1)]

    def w(self, width: float) -> int:
        return max(1, round(width * self.s))

    def ellipse(self, box: tuple[float, float, float, float], rgb: RGB) -> None:
        self.draw.ellipse(self.box(*box), fill=self.c(rgb))

    def ring(self, box: tuple[float, float, float, float], rgb: RGB, width: float) -> None:
        self.draw.ellipse(self.box(*box), outline=self.c(rgb), width=self.w(width))

    def rect(self, box: tuple[float, float, float, float], rgb: RGB) -> None:
        self.draw.rectangle(self.box(*box), fill=self.c(rgb))

    def poly(self, pts: list[tuple[float, float]], rgb: RGB) -> None:
        self.draw.polygon([self.xy(x, y) for x, y in pts], fill=self.c(rgb))

    def line(self, pts: list[tuple[float, float]], rgb: RGB, width: float = 1.0) -> None:
        self.draw.line([self.xy(x, y) for x, y in pts], fill=self.c(rgb), width=self.w(width))

    def chord(self, box: tuple[float, float, float, float], start: float, end: float, rgb: RGB) -> None:
        self.draw.chord(self.box(*box), start, end, fill=self.c(rgb))

    def pie(self, box: tuple[float, float, float, float], start: float, end: float, rgb: RGB) -> None:
        self.draw.pieslice(self.box(*box), start, end, fill=self.c(rgb))

    def erase_ellipse(self, box: tuple[float, float, float, float]) -> None:
        self.draw.ellipse(self.box(*box), fill=(0, 0, 0, 0))

    def dot(self, x: float, y: float, rgb: RGB, r: float = 0.75) -> None:
        self.ellipse((x - r, y - r, x + r, y + r), rgb)


def star_points(
    cx: float, cy: float, r_out: float, r_in: float, n: int, rot: float = -90.0
) -> list[tuple[float, float]]:
    """Vertices of an n-pointed star centred at (cx, cy)."""
    pts = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = math.radians(rot + 180.0 * k / n)
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


# Shared colours (kept distinct from the background and from each other where icons look alike).
RED = (205, 30, 40)
GREEN = (55, 150, 50)
DARK_GREEN = (30, 105, 40)
BROWN = (115, 70, 30)
BLACK = (30, 30, 35)
WHITE = (252, 252, 248)
YELLOW = (250, 212, 30)
STEM = (60, 140, 45)


def _apple(p: Pen) -> None:
    p.ellipse((1, 3, 11, 12), RED)
    p.line([(6, 0.5), (6, 4)], BROWN, 1.2)
    p.ellipse((6, 0.5, 10.5, 3.5), GREEN)


def _ball(p: Pen) -> None:
    box = (0.5, 0.5, 11.5, 11.5)
    p.pie(box, -90, 30, (225, 40, 40))
    p.pie(box, 30, 150, (250, 215, 40))
    p.pie(box, 150, 270, (40, 90, 215))
    p.dot(6, 6, WHITE, 1.3)


def _balloon(p: Pen) -> None:
    p.ellipse((2, 0, 10, 9), (235, 80, 165))
    p.poly([(5, 9.5), (7, 9.5), (6, 8)], (235, 80, 165))
    p.line([(6, 9), (5, 10.5), (6, 12)], (90, 90, 100), 1)


def _bell(p: Pen) -> None:
    gold = (215, 165, 25)
    p.ellipse((5, 0, 7, 2.5), gold)
    p.poly([(3.5, 2), (8.5, 2), (9.5, 7.5), (11.5, 9.8), (0.5, 9.8), (2.5, 7.5)], gold)
    p.ellipse((4.5, 9, 7.5, 12), (120, 75, 20))


def _book(p: Pen) -> None:
    p.rect((1.5, 0.5, 11, 11.5), (110, 50, 165))
    p.rect((1, 0.5, 3, 11.5), (70, 25, 110))
    p.rect((4.5, 3, 9.5, 5), (240, 230, 160))


def _bottle(p: Pen) -> None:
    glass = (40, 140, 80)
    p.rect((4.75, 0, 7.25, 1.5), (180, 40, 40))
    p.rect((5, 1.5, 7, 4.5), glass)
    p.poly([(5, 3.5), (7, 3.5), (9, 5.5), (3, 5.5)], glass)
    p.rect((3, 5, 9, 12), glass)
    p.rect((3, 7.5, 9, 9.5), (250, 245, 170))


def _box(p: Pen) -> None:
    p.rect((0.5, 1.5, 11.5, 11.5), (195, 140, 75))
    p.line([(6, 1.5), (6, 11.5)], (130, 85, 40), 1.3)
    p.line([(0.5, 4.5), (11.5, 4.5)], (130, 85, 40), 1.3)


def _candle(p: Pen) -> None:
    p.ellipse((4.5, 0, 7.5, 4.5), (255, 140, 0))
    p.rect((3.5, 4, 8.5, 12), (245, 238, 185))
    p.rect((3.5, 4, 8.5, 5), (225, 60, 60))


def _car(p: Pen) -> None:
    body = (20, 150, 165)
    p.poly([(3, 2), (8, 2), (10.5, 5.5), (1.5, 5.5)], body)
    p.poly([(3.8, 3), (5.5, 3), (5.5, 5), (2.8, 5)], (175, 225, 245))
    p.poly([(6.5, 3), (7.6, 3), (9.2, 5), (6.5, 5)], (175, 225, 245))
    p.rect((0, 5, 12, 9), body)
    p.ellipse((1.5, 7.5, 4.8, 11), BLACK)
    p.ellipse((7.2, 7.5, 10.5, 11), BLACK)


def _chair(p: Pen) -> None:
    wood = (150, 85, 35)
    p.rect((2, 0, 4, 12), wood)
    p.rect((2, 6, 10.5, 7.8), wood)
    p.rect((8.5, 6, 10.5, 12), wood)
    p.rect((4, 1.5, 5, 6), (190, 125, 60))


def _clock(p: Pen) -> None:
    p.ellipse((0.5, 0.5, 11.5, 11.5), BLACK)
    p.ellipse((1.7, 1.7, 10.3, 10.3), WHITE)
    p.line([(6, 6), (6, 2.5)], BLACK, 1)
    p.line([(6, 6), (8.8, 6)], (200, 30, 30), 1)


def _coin(p: Pen) -> None:
    p.ellipse((1, 1, 11, 11), (185, 135, 20))
    p.ellipse((2.5, 2.5, 9.5, 9.5), (248, 208, 70))
    p.line([(6, 4), (6, 8)], (185, 135, 20), 1.2)


def _cookie(p: Pen) -> None:
    p.ellipse((0.5, 0.5, 11.5, 11.5), (212, 160, 92))
    for x, y in ((3.5, 3.5), (7.5, 3), (5.5, 6.5), (8.5, 8), (3.5, 8.5)):
        p.dot(x, y, (85, 45, 20), 0.9)


def _crown(p: Pen) -> None:
    p.poly([(0.5, 11), (0.5, 2.5), (3.2, 6), (6, 1), (8.8, 6), (11.5, 2.5), (11.5, 11)], (240, 195, 30))
    p.ellipse((4.5, 6.5, 7.5, 9.5), (210, 30, 40))


def _cup(p: Pen) -> None:
    blue = (90, 170, 230)
    p.ring((6, 4, 11.5, 9.5), blue, 1.6)
    p.rect((1, 2, 8.5, 11.5), blue)
    p.rect((1, 2, 8.5, 3.2), (45, 105, 170))


def _diamond(p: Pen) -> None:
    p.poly([(2.5, 0.5), (9.5, 0.5), (12, 4), (6, 12), (0, 4)], (70, 200, 235))
    p.line([(0.5, 4), (11.5, 4)], (25, 130, 190), 1)
    p.line([(4, 4), (6, 11)], (25, 130, 190), 1)


def _drum(p: Pen) -> None:
    p.rect((1, 4, 11, 11.5), (200, 40, 45))
    p.ellipse((1, 1.5, 11, 6.5), (250, 235, 175))
    p.line([(1, 8), (3.5, 10.5), (6, 8), (8.5, 10.5), (11, 8)], (250, 210, 60), 1)


def _egg(p: Pen) -> None:
    p.ellipse((2, 0.5, 10, 12), (253, 247, 225))


def _fish(p: Pen) -> None:
    orange = (245, 120, 40)
    p.poly([(7.5, 6), (12, 2.5), (12, 9.5)], orange)
    p.ellipse((0, 2.5, 9, 9.5), orange)
    p.dot(2.8, 5, BLACK, 0.7)


def _flag(p: Pen) -> None:
    p.rect((0.5, 0, 2, 12), (95, 65, 35))
    p.rect((2, 0.5, 11.5, 7), (220, 40, 40))
    p.rect((2, 3, 11.5, 4.5), WHITE)


def _hat(p: Pen) -> None:
    p.rect((3, 1, 9, 9.5), BLACK)
    p.rect((0.5, 9, 11.5, 11), BLACK)
    p.rect((3, 6.5, 9, 8.3), (200, 30, 40))


def _heart(p: Pen) -> None:
    pink = (225, 30, 85)
    p.ellipse((0.5, 1, 6.8, 7.5), pink)
    p.ellipse((5.2, 1, 11.5, 7.5), pink)
    p.poly([(0.8, 5.2), (11.2, 5.2), (6, 11.5)], pink)


def _house(p: Pen) -> None:
    p.rect((1.5, 5.5, 10.5, 12), (245, 215, 140))
    p.poly([(6, 0), (12, 6), (0, 6)], (180, 50, 40))
    p.rect((5, 8, 7.5, 12), (120, 70, 30))


def _key(p: Pen) -> None:
    steel = (150, 155, 170)
    p.ring((0, 3, 6.5, 9.5), steel, 2)
    p.rect((5.5, 5.3, 12, 7.3), steel)
    p.rect((8, 7, 9.3, 10), steel)
    p.rect((10.5, 7, 11.8, 9.2), steel)


def _kite(p: Pen) -> None:
    p.poly([(6, 0), (6, 8.5), (1.5, 4)], (250, 200, 40))
    p.poly([(6, 0), (10.5, 4), (6, 8.5)], (50, 100, 220))
    p.line([(6, 8), (4.5, 10), (6.5, 12)], (80, 80, 90), 1)


def _lamp(p: Pen) -> None:
    p.poly([(3, 0.5), (9, 0.5), (11.5, 5.5), (0.5, 5.5)], (250, 215, 95))
    p.rect((5.3, 5, 6.7, 10.5), (110, 110, 125))
    p.rect((2.5, 10.5, 9.5, 12), (110, 110, 125))


def _leaf(p: Pen) -> None:
    p.poly([(0.5, 11.5), (1.5, 5.5), (5.5, 1.5), (11.5, 0.5), (10.5, 6.5), (6.5, 10.5)], (70, 170, 60))
    p.line([(1, 11), (10.5, 1.5)], DARK_GREEN, 1)


def _moon(p: Pen) -> None:
    p.ellipse((0.5, 0.5, 11.5, 11.5), (245, 238, 150))
    p.erase_ellipse((4.5, -1.5, 14.5, 9.5))


def _mushroom(p: Pen) -> None:
    p.rect((4, 5, 8, 12), (250, 235, 180))
    p.chord((0.5, 0.5, 11.5, 11), 180, 360, (210, 40, 40))
    for x, y in ((3, 3.5), (6.5, 2), (9, 4)):
        p.dot(x, y, WHITE, 0.8)


def _pencil(p: Pen) -> None:
    p.rect((2.5, 3.5, 9.5, 8.5), (245, 190, 30))
    p.rect((0.5, 3.5, 2.5, 8.5), (240, 140, 165))
    p.poly([(9.5, 3.5), (12, 6), (9.5, 8.5)], (230, 190, 140))
    p.line([(2.5, 6), (9.5, 6)], (215, 150, 20), 1)


def _ring(p: Pen) -> None:
    p.ring((1.5, 3, 10.5, 12), (235, 190, 50), 1.8)
    p.poly([(4.5, 0), (7.5, 0), (8.8, 1.8), (6, 4.5), (3.2, 1.8)], (120, 220, 245))


def _shoe(p: Pen) -> None:
    p.poly([(0.5, 3.5), (4.5, 3.5), (5.5, 6.5), (11.5, 8), (11.5, 11), (0.5, 11)], (125, 70, 35))
    p.rect((0.5, 10.2, 11.5, 12), (55, 40, 25))
    p.dot(5, 6.5, WHITE, 0.6)


def _sock(p: Pen) -> None:
    p.rect((2.5, 0, 8, 9), WHITE)
    p.ellipse((2.5, 6, 11.5, 12), WHITE)
    p.rect((2.5, 2, 8, 3.5), (210, 40, 40))
    p.rect((2.5, 5, 8, 6.5), (210, 40, 40))
    p.ellipse((8.5, 7.5, 11.5, 11.5), (210, 40, 40))


def _star(p: Pen) -> None:
    p.poly(star_points(6, 6.6, 6.2, 2.7, 5), YELLOW)


def _tree(p: Pen) -> None:
    p.rect((5, 7.5, 7.3, 12), BROWN)
    p.ellipse((1, 0, 11, 8.5), (40, 140, 50))


def _umbrella(p: Pen) -> None:
    p.line([(6, 5), (6, 11), (4.5, 11.5), (4, 10)], (60, 60, 70), 1)
    p.chord((0, 0.5, 12, 11), 180, 360, (150, 60, 185))


def _banana(p: Pen) -> None:
    p.ellipse((0, 0, 12, 11), (248, 220, 45))
    p.erase_ellipse((-1, -4, 13, 7.5))
    p.dot(1, 4.5, BROWN, 0.8)


def _cherry(p: Pen) -> None:
    p.line([(2.8, 7), (7, 0.5)], STEM, 1)
    p.line([(8.8, 8), (7, 0.5)], STEM, 1)
    p.ellipse((0, 6, 5.6, 11.6), (195, 15, 45))
    p.ellipse((6.2, 6.4, 11.8, 12), (195, 15, 45))


def _grape(p: Pen) -> None:
    purple = (110, 40, 145)
    p.line([(6, 0), (6, 2.5)], STEM, 1.2)
    for cx, cy in ((2.4, 3.9), (6, 3.9), (9.6, 3.9), (4.2, 6.9), (7.8, 6.9), (6, 9.9)):
        p.ellipse((cx - 2.1, cy - 2.1, cx + 2.1, cy + 2.1), purple)


def _lemon(p: Pen) -> None:
    lemon = (235, 240, 80)
    p.ellipse((1, 2.5, 11, 9.5), lemon)
    p.poly([(0, 6), (1.5, 4.5), (1.5, 7.5)], lemon)
    p.poly([(12, 6), (10.5, 4.5), (10.5, 7.5)], lemon)


def _orange(p: Pen) -> None:
    p.ellipse((0.5, 1.5, 11.5, 12), (250, 140, 20))
    p.ellipse((6, 0, 10, 2.5), GREEN)
    p.dot(6, 2.2, DARK_GREEN, 0.8)


def _pear(p: Pen) -> None:
    pear = (175, 205, 60)
    p.ellipse((1.5, 4.5, 10.5, 12), pear)
    p.ellipse((3.8, 1.5, 8.2, 8), pear)
    p.line([(6, 0), (6.5, 2)], BROWN, 1.2)


def _strawberry(p: Pen) -> None:
    red = (225, 40, 55)
    p.ellipse((0.5, 2, 11.5, 8.5), red)
    p.poly([(0.8, 5), (11.2, 5), (6, 12)], red)
    p.poly([(2, 1), (10, 1), (6, 3.5)], GREEN)
    for x, y in ((3.5, 5), (6, 6.5), (8.5, 5), (6, 9)):
        p.dot(x, y, (250, 230, 90), 0.5)


def _watermelon(p: Pen) -> None:
    p.chord((0, -5, 12, 11.5), 0, 180, (40, 130, 50))
    p.chord((1.3, -4, 10.7, 10), 0, 180, (235, 65, 75))
    for x, y in ((3.5, 5.5), (6, 7.5), (8.5, 5.5)):
        p.dot(x, y, BLACK, 0.6)


def _flower_stem(p: Pen, top: float = 6.0) -> None:
    p.line([(6, top), (6, 12)], STEM, 1.2)
    p.poly([(6, 10), (9.5, 7.5), (7.5, 10.5)], STEM)


def _petals(p: Pen, cx: float, cy: float, n: int, r: float, pr: float, rgb: RGB) -> None:
    for k in range(n):
        a = 2 * math.pi * k / n
        x, y = cx + r * math.cos(a), cy + r * math.sin(a)
        p.ellipse((x - pr, y - pr, x + pr, y + pr), rgb)


def _daisy(p: Pen) -> None:
    _flower_stem(p)
    _petals(p, 6, 4.5, 8, 2.8, 1.7, WHITE)
    p.ellipse((4.2, 2.7, 7.8, 6.3), (245, 200, 30))


def _lily(p: Pen) -> None:
    _flower_stem(p)
    p.poly(star_points(6, 4.8, 5.0, 2.7, 6), (245, 130, 40))
    p.dot(6, 4.8, (150, 60, 20), 0.8)


def _lotus(p: Pen) -> None:
    pink = (240, 135, 185)
    p.ellipse((0, 9, 12, 12), (50, 150, 90))
    p.poly([(3.5, 10), (6, 1), (8.5, 10)], pink)
    p.poly([(1, 5), (6, 9.5), (3.5, 10)], pink)
    p.poly([(11, 5), (8.5, 10), (6, 9.5)], pink)


def _orchid(p: Pen) -> None:
    magenta = (195, 55, 175)
    _flower_stem(p, 6.5)
    _petals(p, 6, 4.6, 5, 2.7, 2.0, magenta)
    p.ellipse((4.8, 4.2, 7.2, 7.4), (250, 235, 250))


def _rose(p: Pen) -> None:
    _flower_stem(p, 6.5)
    p.ellipse((2, 0, 10, 8), (200, 20, 45))
    p.line([(6, 4), (7.5, 3), (6.5, 1.5), (4, 2.5), (4, 5.5), (7, 6.5)], (130, 10, 30), 1)


def _sunflower(p: Pen) -> None:
    _flower_stem(p, 7)
    p.poly(star_points(6, 5, 5.5, 3.2, 10), (250, 200, 20))
    p.ellipse((3.2, 2.2, 8.8, 7.8), (110, 60, 20))


def _tulip(p: Pen) -> None:
    _flower_stem(p, 7)
    p.poly(
        [(2, 0.5), (4, 2.5), (6, 0), (8, 2.5), (10, 0.5), (10, 5.5), (8, 7.5), (4, 7.5), (2, 5.5)],
        (240, 80, 125),
    )


def _violet(p: Pen) -> None:
    _flower_stem(p, 6.5)
    _petals(p, 6, 4.6, 5, 2.5, 1.9, (115, 65, 210))
    p.dot(6, 4.6, (250, 220, 40), 0.9)


DRAWERS: dict[str, Callable[[Pen], Any]] = {
    "apple": _apple,
    "ball": _ball,
    "balloon": _balloon,
    "bell": _bell,
    "book": _book,
    "bottle": _bottle,
    "box": _box,
    "candle": _candle,
    "car": _car,
    "chair": _chair,
    "clock": _clock,
    "coin": _coin,
    "cookie": _cookie,
    "crown": _crown,
    "cup": _cup,
    "diamond": _diamond,
    "drum": _drum,
    "egg": _egg,
    "fish": _fish,
    "flag": _flag,
    "hat": _hat,
    "heart": _heart,
    "house": _house,
    "key": _key,
    "kite": _kite,
    "lamp": _lamp,
    "leaf": _leaf,
    "moon": _moon,
    "mushroom": _mushroom,
    "pencil": _pencil,
    "ring": _ring,
    "shoe": _shoe,
    "sock": _sock,
    "star": _star,
    "tree": _tree,
    "umbrella": _umbrella,
    "banana": _banana,
    "cherry": _cherry,
    "grape": _grape,
    "lemon": _lemon,
    "orange": _orange,
    "pear": _pear,
    "strawberry": _strawberry,
    "watermelon": _watermelon,
    "daisy": _daisy,
    "lily": _lily,
    "lotus": _lotus,
    "orchid": _orchid,
    "rose": _rose,
    "sunflower": _sunflower,
    "tulip": _tulip,
    "violet": _violet,
}
"""Vocabulary key -> drawing function (unit box 12x12)."""
