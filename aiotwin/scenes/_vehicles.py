"""What each class looks like: dimensions, palettes and the low-poly model of one instance.

- car: low body box + set-back glass cabin with a body-coloured roof, four dark wheels with hubs;
- bus: long tall box with a row of dark windows (warm-lit at night), big windscreen, door, two axles;
- truck: dark chassis, a short tall cab with windscreen in front, a long taller cargo box behind;
- motorcycle: two small wheels, a slim body/tank, a rider in a jacket with a helmet;
- bicycle: two thin wheel rings and a thin frame, a pedalling upright rider;
- pedestrian: an upright narrow figure: swinging legs and arms, torso, head.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aiotwin.scenes._models import (
    BGR,
    LIGHT_GLASS,
    LIGHT_HEAD,
    LIGHT_TAIL,
    Bounds,
    Builder,
    Model,
    Prim,
)

Rng = np.random.Generator
Dims = tuple[float, float, float]
PEDESTRIAN_STRIDE_M = 1.4  # per full gait cycle, for a 1.72 m walker
BICYCLE_GEAR_M = 4.5  # per pedal turn

CAR_COLOURS: tuple[BGR, ...] = (
    (235, 235, 235), (190, 190, 195), (40, 40, 42), (120, 120, 125), (40, 40, 190), (150, 80, 30),
    (60, 90, 40), (150, 180, 200), (40, 190, 230), (90, 50, 120), (30, 30, 110), (200, 140, 90),
)
BUS_COLOURS: tuple[BGR, ...] = ((30, 170, 240), (50, 50, 200), (170, 100, 30), (225, 225, 225), (60, 140, 40))
CAB_COLOURS: tuple[BGR, ...] = ((230, 230, 230), (40, 40, 190), (170, 90, 30), (30, 120, 230), (50, 110, 50))
CARGO_COLOURS: tuple[BGR, ...] = ((225, 225, 225), (190, 195, 200), (210, 150, 60), (60, 180, 220), (80, 80, 85))
MOTO_COLOURS: tuple[BGR, ...] = ((30, 30, 30), (40, 40, 200), (170, 80, 20), (20, 130, 240), (160, 160, 165))
BIKE_COLOURS: tuple[BGR, ...] = ((40, 40, 200), (200, 120, 30), (40, 200, 230), (30, 30, 30), (200, 200, 200))
CLOTHES: tuple[BGR, ...] = (
    (60, 60, 60), (160, 90, 40), (40, 40, 170), (220, 220, 220), (50, 120, 60), (40, 170, 220),
    (130, 60, 120), (110, 110, 110), (30, 30, 30), (150, 150, 230),
)
TROUSERS: tuple[BGR, ...] = ((40, 40, 40), (110, 70, 40), (90, 90, 90), (60, 50, 30), (150, 150, 150))
SKIN: tuple[BGR, ...] = ((150, 180, 225), (110, 150, 200), (70, 110, 160), (50, 80, 120))
HELMETS: tuple[BGR, ...] = ((30, 30, 30), (230, 230, 230), (40, 40, 200), (30, 180, 230))
GLASS: BGR = (85, 70, 55)
TYRE: BGR = (28, 28, 28)
HUB: BGR = (150, 150, 150)
CHASSIS: BGR = (45, 45, 48)
HEADLIGHT: BGR = (200, 215, 220)
TAILLIGHT: BGR = (30, 30, 150)

# Dimension ranges in metres: (length, width, height).
SIZES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((3.9, 4.9), (1.7, 1.9), (1.4, 1.65)),
    "bus": ((10.5, 12.5), (2.45, 2.55), (3.0, 3.3)),
    "truck": ((7.0, 10.0), (2.4, 2.5), (3.4, 3.9)),
    "motorcycle": ((2.0, 2.2), (0.7, 0.8), (1.5, 1.6)),
    "bicycle": ((1.7, 1.8), (0.55, 0.6), (1.65, 1.8)),
    "pedestrian": ((0.45, 0.5), (0.5, 0.55), (1.55, 1.9)),
}


def _pick(rng: Rng, options: tuple[BGR, ...]) -> BGR:
    base = options[int(rng.integers(len(options)))]
    k = float(rng.uniform(0.88, 1.08))
    return (min(base[0] * k, 255.0), min(base[1] * k, 255.0), min(base[2] * k, 255.0))


def draw_dims(cls: str, rng: Rng) -> Dims:
    """Length, width and height of a new instance of ``cls`` (metres)."""
    (l0, l1), (w0, w1), (h0, h1) = SIZES[cls]
    return float(rng.uniform(l0, l1)), float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1))


def gait_m(cls: str, dims: Dims) -> float:
    """Metres travelled per walking/pedalling cycle (0: no limb animation)."""
    if cls == "pedestrian":
        return PEDESTRIAN_STRIDE_M * dims[2] / 1.72
    return BICYCLE_GEAR_M if cls == "bicycle" else 0.0


def _axle(b: Builder, xs: tuple[float, ...], half_w: float, r: float, hub: float = 0.45) -> None:
    """Wheels on both sides; each side is its own part so depth order puts it behind or before the body."""
    for side in (1.0, -1.0):
        y = side * (half_w + 0.01)
        prims: list[Prim] = []
        for x in xs:
            prims.append(b.disc((x, y, r), r, TYRE, facing=side))
            prims.append(b.disc((x, y + side * 0.01, r), r * hub, HUB, facing=side))
        b.part(0, (0.0, y, r), prims)


def _lamp_pair(b: Builder, body: Bounds, face: str, z: tuple[float, float], *, inset: float, size: float) -> int:
    """Two lamps on the front (head, white) or back (tail, red) face; returns the glow anchor point."""
    x0, x1, y0, y1, _, _ = body
    colour, light = (HEADLIGHT, LIGHT_HEAD) if face == "front" else (TAILLIGHT, LIGHT_TAIL)
    prims = [b.panel(body, face, (lo, lo + size), z, colour, light=light) for lo in (y0 + inset, y1 - inset - size)]
    x = x1 + 0.05 if face == "front" else x0 - 0.05
    b.part(0, (x, 0.0, (z[0] + z[1]) / 2), prims)
    return b.point(x, 0.0, (z[0] + z[1]) / 2)


def car(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    paint = _pick(rng, CAR_COLOURS)
    b = Builder()
    hl, hw = length / 2, width / 2
    z_belt = height * float(rng.uniform(0.55, 0.62))
    body: Bounds = (-hl, hl, -hw, hw, 0.22, z_belt)
    b.part(0, (0.0, 0.0, z_belt / 2), b.box(body, paint))
    rear = float(rng.uniform(0.28, 0.45))  # hatchbacks and estates have a longer cabin
    cabin: Bounds = (-hl * (1 - rear), hl * 0.22, -hw * 0.86, hw * 0.86, z_belt, height)
    b.part(1, (0.0, 0.0, (z_belt + height) / 2), b.box(cabin, GLASS, top=paint))
    _axle(b, (hl * 0.64, -hl * 0.62), hw, 0.32)
    head = _lamp_pair(b, body, "front", (z_belt - 0.2, z_belt - 0.07), inset=0.12, size=0.32)
    tail = _lamp_pair(b, body, "back", (z_belt - 0.2, z_belt - 0.07), inset=0.12, size=0.32)
    return b.build(length, width, height, heads=(head,), tails=(tail,))


def bus(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    paint = _pick(rng, BUS_COLOURS)
    b = Builder()
    hl, hw = length / 2, width / 2
    body: Bounds = (-hl, hl, -hw, hw, 0.3, height)
    prims = b.box(body, paint, top=(170, 170, 170))
    z_win = (height * 0.48, height * 0.86)
    pitch = 1.35
    n = int((length - 3.2) / pitch)
    for i in range(n):
        x = -hl + 0.6 + i * pitch
        prims += [b.panel(body, f, (x, x + pitch - 0.22), z_win, GLASS, light=LIGHT_GLASS) for f in ("left", "right")]
    prims.append(b.panel(body, "front", (-hw + 0.12, hw - 0.12), (1.1, height - 0.35), GLASS, light=LIGHT_GLASS))
    prims.append(b.panel(body, "front", (-hw + 0.4, hw - 0.4), (height - 0.3, height - 0.08), (40, 160, 230)))
    prims.append(b.panel(body, "back", (-hw + 0.3, hw - 0.3), (height * 0.6, height - 0.3), GLASS, light=LIGHT_GLASS))
    prims.append(b.panel(body, "right", (hl - 2.6, hl - 1.6), (0.35, height * 0.86), GLASS, lift=2.0))
    prims += b.panels_both_sides(body, (-hl + 0.2, hl - 0.2), (0.75, 0.9), (60, 60, 60))
    b.part(0, (0.0, 0.0, height / 2), prims)
    _axle(b, (hl - 2.4, -hl + 2.9), hw, 0.5)
    head = _lamp_pair(b, body, "front", (0.55, 0.75), inset=0.15, size=0.35)
    tail = _lamp_pair(b, body, "back", (0.55, 0.75), inset=0.15, size=0.35)
    return b.build(length, width, height, heads=(head,), tails=(tail,))


def truck(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    b = Builder()
    hl, hw = length / 2, width / 2
    cab_len, cab_h = float(rng.uniform(1.9, 2.3)), float(rng.uniform(2.7, 3.1))
    chassis: Bounds = (-hl, hl - 0.2, -hw * 0.85, hw * 0.85, 0.55, 1.05)
    b.part(0, (0.0, 0.0, 0.8), b.box(chassis, CHASSIS))
    _axle(b, (hl - 1.3, -hl + 1.3, -hl + 2.45), hw, 0.5, hub=0.4)
    cab_col = _pick(rng, CAB_COLOURS)
    cab: Bounds = (hl - cab_len, hl, -hw, hw, 0.6, cab_h)
    cab_prims = b.box(cab, cab_col)
    cab_prims.append(b.panel(cab, "front", (-hw + 0.1, hw - 0.1), (cab_h * 0.55, cab_h - 0.15), GLASS))
    cab_prims += b.panels_both_sides(cab, (hl - cab_len * 0.55, hl - 0.1), (cab_h * 0.55, cab_h - 0.2), GLASS)
    b.part(1, (hl - cab_len / 2, 0.0, cab_h / 2), cab_prims)
    cargo: Bounds = (-hl, hl - cab_len - 0.2, -hw, hw, 1.05, height)
    cargo_col = _pick(rng, CARGO_COLOURS)
    cargo_prims = b.box(cargo, cargo_col)
    if rng.random() < 0.5:
        band = _pick(rng, CAB_COLOURS)
        cargo_prims += b.panels_both_sides(cargo, (-hl + 0.5, hl - cab_len - 0.7), (1.6, 2.2), band)
    cargo_prims.append(b.panel(cargo, "back", (-0.02, 0.02), (1.1, height - 0.05), (70, 70, 70)))
    b.part(1, ((-hl + hl - cab_len) / 2, 0.0, height / 2), cargo_prims)
    head = _lamp_pair(b, cab, "front", (0.75, 0.95), inset=0.1, size=0.35)
    tail = _lamp_pair(b, cargo, "back", (1.15, 1.35), inset=0.1, size=0.3)
    return b.build(length, width, height, heads=(head,), tails=(tail,))


def _rider(b: Builder, hip: tuple[float, float], shoulder: tuple[float, float], hands: tuple[float, float],
           *, jacket: BGR, head: BGR, head_r: float) -> None:
    """Torso box from hip to shoulder height, arms to the handlebar, a head above."""
    hx, hz = hip
    sx, sz = shoulder
    torso: Bounds = (min(hx, sx) - 0.14, max(hx, sx) + 0.1, -0.21, 0.21, hz, sz)
    arms = [b.stick((sx, side * 0.2, sz - 0.06), (hands[0], side * 0.28, hands[1]), 0.09, jacket)
            for side in (1.0, -1.0)]
    b.part(2, ((hx + sx) / 2, 0.0, (hz + sz) / 2), [*b.box(torso, jacket), *arms])
    b.part(3, (sx + 0.02, 0.0, sz + head_r), [b.ball((sx + 0.02, 0.0, sz + head_r + 0.04), head_r, head)])


def motorcycle(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    b = Builder()
    hl, r = length / 2, 0.31
    wheels = [b.disc((x, 0.0, r), r, TYRE) for x in (hl - r, -hl + r)]
    b.part(0, (0.0, 0.0, r), wheels)
    paint = _pick(rng, MOTO_COLOURS)
    body: Bounds = (-hl + 0.35, hl - 0.3, -0.17, 0.17, 0.36, 0.78)
    tank: Bounds = (-0.1, hl - 0.45, -0.2, 0.2, 0.62, 0.95)
    b.part(1, (0.0, 0.0, 0.6), [*b.box(body, CHASSIS), *b.box(tank, paint)])
    jacket, trousers = _pick(rng, CLOTHES), _pick(rng, TROUSERS)
    legs = [b.stick((-0.25, s * 0.17, 0.9), (0.15, s * 0.25, 0.42), 0.13, trousers) for s in (1.0, -1.0)]
    b.part(1, (-0.05, 0.0, 0.7), legs)
    scale = height / 1.55
    _rider(b, (-0.25, 0.88), (-0.08, 0.88 + 0.55 * scale), (hl - 0.45, 1.0), jacket=jacket,
           head=_pick(rng, HELMETS), head_r=0.15)
    head = b.ball((hl - 0.28, 0.0, 0.9), 0.07, HEADLIGHT, LIGHT_HEAD)
    tail = b.ball((-hl + 0.3, 0.0, 0.82), 0.05, TAILLIGHT, LIGHT_TAIL)
    b.part(1, (0.0, 0.0, 0.85), [head, tail])
    return b.build(length, width, height, heads=(b.point(hl - 0.2, 0.0, 0.9),), tails=(b.point(-hl + 0.25, 0, 0.82),))


def bicycle(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    b = Builder()
    r = 0.34
    hub_f, hub_r = (length / 2 - r, r), (-length / 2 + r, r)
    frame = _pick(rng, BIKE_COLOURS)
    bb, seat, head = (0.0, 0.3), (-0.17, 0.88), (0.36, 0.92)
    bars = [(hub_r, bb), (hub_r, seat), (bb, seat), (seat, head), (bb, head), (head, hub_f)]
    prims = [b.disc((x, 0.0, z), r, TYRE, ring=0.045) for x, z in (hub_f, hub_r)]
    prims += [b.stick((p[0], 0.0, p[1]), (q[0], 0.0, q[1]), 0.04, frame) for p, q in bars]
    b.part(0, (0.0, 0.0, 0.5), prims)
    trousers = _pick(rng, TROUSERS)
    legs = []
    for side, off in ((1.0, 0.0), (-1.0, np.pi)):
        legs.append(b.stick((seat[0] + 0.02, side * 0.12, 0.95), (bb[0], side * 0.16, bb[1]), 0.12, trousers))
        b.animate(int(legs[-1].idx[1]), 0.17, 0.17, off + np.pi / 2, off)
    b.part(1, (0.0, 0.0, 0.6), legs)
    scale = height / 1.72
    top = 0.95 + 0.55 * scale
    helmet = _pick(rng, HELMETS) if rng.random() < 0.5 else _pick(rng, SKIN)
    _rider(b, (seat[0], 0.95), (0.02, top), (head[0], head[1] + 0.05), jacket=_pick(rng, CLOTHES),
           head=helmet, head_r=0.12)
    return b.build(length, width, height, gait_m=gait_m("bicycle", dims))


def pedestrian(rng: Rng, dims: Dims) -> Model:
    length, width, height = dims
    b = Builder()
    s = height / 1.72
    hip, shoulder, head_r = 0.9 * s, 1.42 * s, 0.11 * s
    trousers, shirt = _pick(rng, TROUSERS), _pick(rng, CLOTHES)
    legs = []
    for side, off in ((1.0, 0.0), (-1.0, np.pi)):
        legs.append(b.stick((0.0, side * 0.09, hip), (0.0, side * 0.1, 0.06), 0.14 * s, trousers))
        b.animate(int(legs[-1].idx[1]), 0.3 * s, 0.08, off, off + np.pi / 2)
    b.part(0, (0.0, 0.0, hip / 2), legs)
    torso: Bounds = (-0.12 * s, 0.12 * s, -0.2 * s, 0.2 * s, hip - 0.05, shoulder)
    prims = b.box(torso, shirt)
    for side, off in ((1.0, np.pi), (-1.0, 0.0)):
        prims.append(b.stick((0.0, side * 0.25 * s, shoulder - 0.05), (0.0, side * 0.27 * s, hip + 0.02),
                             0.09 * s, shirt))
        b.animate(int(prims[-1].idx[1]), 0.22 * s, 0.0, off, 0.0)
    b.part(1, (0.0, 0.0, (hip + shoulder) / 2), prims)
    hair = (30, 30, 40) if rng.random() < 0.7 else (60, 110, 160)
    b.part(2, (0.0, 0.0, shoulder + head_r), [b.ball((0.0, 0.0, shoulder + head_r + 0.03), head_r, _pick(rng, SKIN)),
                                               b.ball((0.0, 0.0, shoulder + head_r + 0.07), head_r * 0.8, hair)])
    return b.build(length, width, height, gait_m=gait_m("pedestrian", dims))


BUILDERS: dict[str, Callable[[Rng, Dims], Model]] = {
    "car": car, "bus": bus, "truck": truck, "motorcycle": motorcycle, "bicycle": bicycle, "pedestrian": pedestrian,
}


def build_model(cls: str, rng: Rng, dims: Dims | None = None) -> Model:
    """A new instance of ``cls``: ``dims`` (or drawn from ``rng``), colours and details from ``rng``."""
    return BUILDERS[cls](rng, dims if dims is not None else draw_dims(cls, rng))


__all__ = ["BUILDERS", "SIZES", "Dims", "build_model", "draw_dims", "gait_m"]
