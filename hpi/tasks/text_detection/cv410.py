"""cv2.minAreaRect, cv2.boxPoints and cv2.fillPoly as OpenCV 4.10 computes them (the version PaddleX 3.7.2
pins), whatever OpenCV is installed.

Later OpenCV changed two things DB post-processing depends on (measured with OpenCV 5.0 against 4.10):
- minAreaRect normalizes the angle to [-90, 0) (4.13, opencv/opencv#28051): the same rectangle, but its corners
  come out in another order and differ in the last float bits, so box scores (which truncate corners to pixels)
  and, rarely, boxes change;
- fillPoly rasterizes differently: 57% of 4,000 random small polygons got another mask.
When the installed OpenCV gives 4.10's numbers on probe shapes, its functions are used; otherwise these ports:
4.10's rotating calipers and RotatedRect::points operation by operation in float32 (the hull comes from
cv2.convexHull, unchanged), and 4.10's polygon fill (edges in 16.16 fixed point, the outline drawn by
cv2.polylines, unchanged) in integer arithmetic.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Tuple

import cv2
import numpy as np

f32 = np.float32
Rect = Tuple[Tuple[float, float], Tuple[float, float], float]


def _rotations(v: np.ndarray) -> np.ndarray:
    """(4, n, 2): vectors v (n, 2) turned by 0, 90 (clockwise: (x, y) -> (y, -x)), 180 and 270 degrees, the
    sides of OpenCV's four callipers (exact: only swaps and sign changes)."""
    sides = np.empty((4,) + v.shape, dtype=v.dtype)
    sides[0] = v
    sides[1] = v[:, ::-1]
    sides[1, :, 1] *= -1
    np.negative(sides[:2], out=sides[2:])
    return sides


def _calipers(pts: np.ndarray):
    """OpenCV 4.10's rotatingCalipers (CALIPERS_MINAREARECT) over float32 hull points (n > 2, n x 2) ->
    (corner, vector1, vector2) as float32 scalars.

    OpenCV turns, at each of n steps, the calliper whose side makes the smallest angle with its next hull edge
    (firstVecIsRight: v1.y * v2.x + (-v1.x) * v2.y < 0 in float32), then measures the rectangle. Here every
    such comparison is computed at once as float32 arrays (the same operations, the same rounding), the walk
    reads them, and the rectangles of all steps are measured at once; the last smallest wins (OpenCV's `<=`)."""
    n = len(pts)
    v = np.concatenate((pts[1:], pts[:1])) - pts  # float32 edge vectors
    v64 = v.astype(np.float64)
    inv_len = (1.0 / np.sqrt(v64[:, 0] * v64[:, 0] + v64[:, 1] * v64[:, 1])).astype(np.float32)
    sides = _rotations(v)
    ux, uy = sides[:, :, 0], sides[:, :, 1]
    # right[i, m, a, b]: calliper i on edge a is clockwise of calliper m on edge b
    right = (uy[:, None, :, None] * ux[None, :, None, :] + (-ux)[:, None, :, None] * uy[None, :, None, :] < 0)
    right = right.tobytes()
    # the first index reaching each extreme (OpenCV's strict comparisons): bottom, right, top, left
    seq = [int(np.argmin(pts[:, 1])), int(np.argmax(pts[:, 0])), int(np.argmax(pts[:, 1])), int(np.argmin(pts[:, 0]))]
    steps = []
    for _ in range(n):
        main = 0
        for i in (1, 2, 3):
            if right[((i * 4 + main) * n + seq[i]) * n + seq[main]]:
                main = i
        edge = seq[main]
        seq[main] = 0 if edge + 1 == n else edge + 1
        steps.append((main, edge, *seq))
    steps_ = np.array(steps)
    base = _rotations(v * inv_len[:, None])[steps_[:, 0], steps_[:, 1]]  # (n, 2): base_a, base_b per step
    base_a, base_b = base[:, 0], base[:, 1]
    s0, s1, s2, s3 = pts[steps_[:, 2]], pts[steps_[:, 3]], pts[steps_[:, 4]], pts[steps_[:, 5]]
    d = s1 - s3
    width = d[:, 0] * base_a + d[:, 1] * base_b
    d = s2 - s0
    height = -d[:, 0] * base_b + d[:, 1] * base_a
    area = width * height
    best = n - 1 - int(np.argmin(area[::-1]))  # the last step reaching the minimum
    if not area[best] <= np.finfo(np.float32).max:
        raise ValueError("degenerate hull")
    (lx, ly), (bx, by) = pts[steps_[best, 5]], pts[steps_[best, 2]]  # leftmost and bottom points of that step
    a1, b1, w, h = base_a[best], base_b[best], width[best], height[best]
    a2, b2 = -b1, a1
    c1 = a1 * lx + ly * b1
    c2 = a2 * bx + by * b2
    idet = f32(1) / (a1 * b2 - a2 * b1)
    corner = ((c1 * b2 - c2 * b1) * idet, (a1 * c2 - a2 * c1) * idet)
    return corner, (a1 * w, b1 * w), (a2 * h, b2 * h)


def _degrees(radians: float) -> float:
    """(float)(angle * 180 / CV_PI) with a float angle: `angle * 180` is a float product in C."""
    return float(f32(float(f32(f32(radians) * f32(180))) / math.pi))


def min_area_rect(points: np.ndarray) -> Rect:
    """cv2.minAreaRect of OpenCV 4.10 for integer or float32 points (N x 2 or N x 1 x 2)."""
    points = np.asarray(points)
    if points.dtype not in (np.int32, np.float32):
        points = points.astype(np.int32 if np.issubdtype(points.dtype, np.integer) else np.float32)
    hull = cv2.convexHull(points.reshape(-1, 1, 2), clockwise=False, returnPoints=True).reshape(-1, 2)
    hull = hull.astype(np.float32)
    n = len(hull)
    if n > 2:
        (ox, oy), (v1x, v1y), (v2x, v2y) = _calipers(hull)
        center = (float(ox + (v1x + v2x) * f32(0.5)), float(oy + (v1y + v2y) * f32(0.5)))
        width = float(f32(math.sqrt(float(v1x) * float(v1x) + float(v1y) * float(v1y))))
        height = float(f32(math.sqrt(float(v2x) * float(v2x) + float(v2y) * float(v2y))))
        return center, (width, height), _degrees(math.atan2(float(v1y), float(v1x)))
    if n == 2:
        (x0, y0), (x1, y1) = [(f32(x), f32(y)) for x, y in hull.tolist()]
        center = (float((x0 + x1) * f32(0.5)), float((y0 + y1) * f32(0.5)))
        dx, dy = float(x1 - x0), float(y1 - y0)
        return center, (float(f32(math.sqrt(dx * dx + dy * dy))), 0.0), _degrees(math.atan2(dy, dx))
    if n == 1:
        return (float(hull[0, 0]), float(hull[0, 1])), (0.0, 0.0), 0.0
    return (0.0, 0.0), (0.0, 0.0), 0.0


# Point sets whose rectangle OpenCV 4.13+ reports with another angle (measured against 4.10).
_PROBES = (
    np.array([[5, 5], [5, 9], [20, 9], [20, 5]], dtype=np.int32),
    np.array([[346, 952], [379, 952], [379, 955], [346, 955]], dtype=np.int32),
    np.array([[402, 952], [403, 951], [404, 952], [403, 953]], dtype=np.int32),
    np.array([[10, 3], [40, 12], [37, 22], [7, 13]], dtype=np.int32),
)


@lru_cache(maxsize=1)
def opencv_rect_is_4_10() -> bool:
    """Whether the installed cv2.minAreaRect and cv2.boxPoints give OpenCV 4.10's numbers (then they are used:
    about 100 times faster than this module's float32 steps in Python)."""
    for points in _PROBES:
        rect = cv2.minAreaRect(points)
        ours = min_area_rect(points)
        if (tuple(map(float, rect[0])), tuple(map(float, rect[1])), float(rect[2])) != ours:
            return False
        if not np.array_equal(cv2.boxPoints(rect), box_points(ours)):
            return False
    return True


def box_points(rect: Rect) -> np.ndarray:
    """cv2.boxPoints (RotatedRect::points) of OpenCV 4.10: 4 x 2 float32."""
    (cx, cy), (w, h), angle = rect
    cx, cy, w, h = f32(cx), f32(cy), f32(w), f32(h)
    radians = float(f32(angle)) * math.pi / 180.0
    b = f32(math.cos(radians)) * f32(0.5)
    a = f32(math.sin(radians)) * f32(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    two = f32(2)
    p2 = (two * cx - p0[0], two * cy - p0[1])
    p3 = (two * cx - p1[0], two * cy - p1[1])
    return np.array([p0, p1, p2, p3], dtype=np.float32)


XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _clip_line(width: int, height: int, x1: int, y1: int, x2: int, y2: int):
    """cv::clipLine on int64 points: the segment clipped to the image (its endpoints, possibly unchanged)."""
    right, bottom = width - 1, height - 1
    c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8
    c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            x1 += int(float(a - y1) * (x2 - x1) / (y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += int(float(a - y2) * (x2 - x1) / (y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += int(float(a - x1) * (y2 - y1) / (x2 - x1))
                x1 = a
            if c2:
                a = 0 if c2 == 1 else right
                y2 += int(float(a - x2) * (y2 - y1) / (x2 - x1))
                x2 = a
    return x1, y1, x2, y2


def _poly_edges(points, width: int, height: int):
    """CollectPolyEdges of OpenCV 4.10 (shift 0, LINE_8): (y0, y1, x, dx) per non-horizontal edge, x in 16.16."""
    edges = []
    x0, y0 = points[-1]
    for x1, y1 in points:
        p0x, p1x = x0 << XY_SHIFT, x1 << XY_SHIFT
        c0x, c0y, c1x, c1y = p0x, y0, p1x, y1
        if not (0 <= x0 < width and 0 <= x1 < width and 0 <= y0 < height and 0 <= y1 < height):
            t0x, t0y, t1x, t1y = _clip_line(width, height, x0, y0, x1, y1)
            if t0y != t1y:
                c0x, c0y, c1x, c1y = t0x << XY_SHIFT, t0y, t1x << XY_SHIFT, t1y
        else:
            c0x += XY_ONE >> 1
            c1x += XY_ONE >> 1
        if y0 != y1:
            dx = _trunc_div(c1x - c0x, c1y - c0y)
            if y0 < y1:
                edges.append((y0, y1, c0x + (y0 - c0y) * dx, dx))
            else:
                edges.append((y1, y0, c1x + (y1 - c1y) * dx, dx))
        x0, y0 = x1, y1
    return edges


def fill_poly(mask: np.ndarray, points: np.ndarray, value: int = 1) -> np.ndarray:
    """cv2.fillPoly(mask, [points], value) as OpenCV 4.10 fills one polygon (LINE_8): its outline, then the
    spans between consecutive edges of each row (even-odd), edge positions stepped in 16.16 fixed point."""
    points = np.asarray(points).reshape(-1, 2).astype(np.int64)
    height, width = mask.shape[:2]
    cv2.polylines(mask, [points.astype(np.int32).reshape(-1, 1, 2)], True, value)
    edges = _poly_edges([(int(x), int(y)) for x, y in points.tolist()], width, height)
    if len(edges) < 2:
        return mask
    y_min = min(e[0] for e in edges)
    y_max = max(e[1] for e in edges)
    ends = [x + (y1 - y0) * dx for y0, y1, x, dx in edges]
    x_min = min(min(e[2] for e in edges), min(ends))
    x_max = max(max(e[2] for e in edges), max(ends))
    if y_max < 0 or y_min >= height or x_max < 0 or x_min >= (width << XY_SHIFT):
        return mask
    rows = np.arange(max(y_min, 0), min(y_max, height), dtype=np.int64)
    if rows.size == 0:
        return mask
    y0s, y1s, xs, dxs = (np.array(column, dtype=np.int64)[:, None] for column in zip(*edges))
    active = (y0s <= rows) & (rows < y1s)
    at_row = np.where(active, xs + (rows - y0s) * dxs, np.iinfo(np.int64).max)
    at_row.sort(axis=0)
    counts = active.sum(axis=0)
    for pair in range(0, len(edges) - 1, 2):
        drawn = counts >= pair + 2
        left = at_row[pair][drawn] >> XY_SHIFT
        right = at_row[pair + 1][drawn] >> XY_SHIFT
        span_rows = rows[drawn]
        keep = (left < width) & (right >= 0)
        left, right, span_rows = np.maximum(left[keep], 0), np.minimum(right[keep], width - 1), span_rows[keep]
        for y, x1, x2 in zip(span_rows.tolist(), left.tolist(), right.tolist()):
            if x1 <= x2:
                mask[y, x1:x2 + 1] = value
    return mask


_FILL_PROBES = (
    np.array([[0, 4], [92, 0], [93, 8], [1, 12]], dtype=np.int32),
    np.array([[3, 1], [40, 9], [35, 30], [-4, 20]], dtype=np.int32),
    np.array([[10, 2], [60, 2], [60, 6], [10, 6]], dtype=np.int32),
)


@lru_cache(maxsize=1)
def opencv_fill_is_4_10() -> bool:
    """Whether the installed cv2.fillPoly fills the probe shapes as OpenCV 4.10 (then it is used)."""
    for points in _FILL_PROBES:
        theirs = cv2.fillPoly(np.zeros((16, 96), np.uint8), [points.reshape(-1, 1, 2)], 1)
        if not np.array_equal(theirs, fill_poly(np.zeros((16, 96), np.uint8), points)):
            return False
    return True
