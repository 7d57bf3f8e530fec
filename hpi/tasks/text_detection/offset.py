"""Polygon offset with round joins, as Clipper 6.4.2's ClipperOffset does it (what pyclipper wraps), for DB's unclip.

PaddleX expands each detected box with `pyclipper.PyclipperOffset` (JT_ROUND, ET_CLOSEDPOLYGON, arc tolerance
0.25, miter limit 2). This is the same arithmetic, in the same order, on the same integer coordinates (Clipper
truncates the float points it is given): the vertices it returns are those of Clipper's offset before its final
union. For a convex box (DB's "quad" mode: the union only drops collinear vertices) the convex hull, and so
`cv2.minAreaRect`, is that of pyclipper's result. "poly" mode needs the union's exact vertex list: it uses
pyclipper when installed (see postprocess.py).
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

ARC_TOLERANCE = 0.25  # pyclipper's default
_NEAR_ZERO = 1e-20


def _round(value: float) -> int:
    """Clipper's Round: half away from zero, then truncation to an integer."""
    return int(value - 0.5) if value < 0 else int(value + 0.5)


def _area(path: Sequence[Tuple[int, int]]) -> float:
    total = 0.0
    j = len(path) - 1
    for i in range(len(path)):
        total += (float(path[j][0]) + path[i][0]) * (float(path[j][1]) - path[i][1])
        j = i
    return -total * 0.5


def _unit_normal(a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[float, float]:
    if a == b:
        return 0.0, 0.0
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    f = 1 * 1.0 / math.sqrt(dx * dx + dy * dy)
    dx *= f
    dy *= f
    return dy, -dx


def clean_path(points) -> List[Tuple[int, int]]:
    """The closed path Clipper keeps of `points` (truncated to integers as pyclipper converts them): consecutive
    duplicates and a closing copy of the first point dropped; empty if fewer than 3 points remain."""
    path = [(int(x), int(y)) for x, y in np.asarray(points).reshape(-1, 2).tolist()]
    high = len(path) - 1
    while high > 0 and path[0] == path[high]:
        high -= 1
    contour = [path[0]] if path else []
    for i in range(1, high + 1):
        if contour[-1] != path[i]:
            contour.append(path[i])
    return contour if len(contour) >= 3 else []


def offset_polygon(points, delta: float) -> np.ndarray:
    """The vertices of closed polygon `points` offset by `delta` with round joins (N x 2 int32; empty when Clipper
    drops the path), before Clipper's final union."""
    src = clean_path(points)
    if not src:
        return np.zeros((0, 2), dtype=np.int32)
    if _area(src) < 0:  # FixOrientations: the one closed path must have positive orientation
        src.reverse()
    if -_NEAR_ZERO < delta < _NEAR_ZERO:
        return np.asarray(src, dtype=np.int32)

    tolerance = abs(delta) * ARC_TOLERANCE if ARC_TOLERANCE > abs(delta) * ARC_TOLERANCE else ARC_TOLERANCE
    steps = math.pi / math.acos(1 - tolerance / abs(delta))
    if steps > abs(delta) * math.pi:
        steps = abs(delta) * math.pi
    sin_step, cos_step = math.sin(2 * math.pi / steps), math.cos(2 * math.pi / steps)
    steps_per_rad = steps / (2 * math.pi)
    if delta < 0.0:
        sin_step = -sin_step

    count = len(src)
    normals = [_unit_normal(src[j], src[j + 1]) for j in range(count - 1)]
    normals.append(_unit_normal(src[count - 1], src[0]))
    out: List[Tuple[int, int]] = []

    def point_at(j: int, nx: float, ny: float) -> Tuple[int, int]:
        return _round(src[j][0] + nx * delta), _round(src[j][1] + ny * delta)

    k = count - 1
    for j in range(count):
        (kx, ky), (jx, jy) = normals[k], normals[j]
        sin_a = kx * jy - jx * ky
        if abs(sin_a * delta) < 1.0:
            cos_a = kx * jx + jy * ky
            if cos_a > 0:  # nearly straight on: one point, and k stays (as Clipper's early return)
                out.append(point_at(j, kx, ky))
                continue
        elif sin_a > 1.0:
            sin_a = 1.0
        elif sin_a < -1.0:
            sin_a = -1.0
        if sin_a * delta < 0:  # a concave vertex
            out.append(point_at(j, kx, ky))
            out.append(src[j])
            out.append(point_at(j, jx, jy))
        else:  # round join
            angle = math.atan2(sin_a, kx * jx + ky * jy)
            arc_steps = max(_round(steps_per_rad * abs(angle)), 1)
            x, y = kx, ky
            for _ in range(arc_steps):
                out.append(point_at(j, x, y))
                x, y = x * cos_step - sin_step * y, x * sin_step + y * cos_step
            out.append(point_at(j, jx, jy))
        k = j
    return np.asarray(out, dtype=np.int32)


def _collinear(a, b, c) -> bool:
    return (b[0] - a[0]) * (c[1] - b[1]) == (b[1] - a[1]) * (c[0] - b[0])


def clipper_vertices(points: np.ndarray) -> np.ndarray:
    """The vertices Clipper's union returns for a convex offset polygon: duplicates and collinear vertices
    (spikes included) removed, in the same direction, starting after the vertex of least y (of greatest x among
    those), which comes last. cv2.minAreaRect depends on the order of its points, so the order matters."""
    pts = [tuple(p) for p in np.asarray(points).reshape(-1, 2).tolist()]
    index = 0
    checked = 0  # vertices in a row found fine; a full round of them ends the walk (as Clipper's FixupOutPolygon)
    while len(pts) >= 3 and checked < len(pts):
        prev, here, nxt = pts[index - 1], pts[index], pts[(index + 1) % len(pts)]
        if here == nxt or here == prev or _collinear(prev, here, nxt):
            del pts[index]
            index = (index - 1) % len(pts) if pts else 0
            checked = 0
        else:
            index = (index + 1) % len(pts)
            checked += 1
    if len(pts) < 3:
        return np.zeros((0, 2), dtype=np.int32)
    top = min(range(len(pts)), key=lambda i: (pts[i][1], -pts[i][0]))
    pts = pts[top + 1:] + pts[:top + 1]
    return np.asarray(pts, dtype=np.int32)
