"""OpenCV 4.x's minAreaRect and boxPoints (with its convexHull) in numpy/float32 step by step, so that OCR crops
are PaddleX 3.7.2's (it pins opencv-contrib-python 4.10) whatever OpenCV is installed; the bicubic warps are in
cv4_warp.py.

OpenCV 4.13+/5 changed them: `minAreaRect` reports another angle convention and `boxPoints` rounds differently (190
of 748 crops of the test images got other corners); their warps changed too (see cv4_warp.py). Checked against
OpenCV 4.10's own outputs: tests/pipelines/ocr/test_cv4.py, data made by make_cv410_reference.py.

- `convex_hull`: Sklansky's scan over the points sorted by x then y, then the cyclic shift of convexHull.
- `min_area_rect`: the rotating calipers of OpenCV 4.5+ over the counter-clockwise hull, in float32.
- `box_points`: RotatedRect::points.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

f32 = np.float32


def convex_hull(points: np.ndarray, clockwise: bool = False) -> np.ndarray:
    """Integer points -> hull vertices in the order OpenCV 4.x's convexHull(points, clockwise) returns them
    (Sklansky's scan over the points sorted by x then y, then the cyclic shift towards ascending indices)."""
    pts = [(int(x), int(y)) for x, y in np.asarray(points).reshape(-1, 2)]
    total = len(pts)
    if total == 0:
        return np.zeros((0, 2), dtype=np.int64)
    order = sorted(range(total), key=lambda i: pts[i])  # pointer[k] = pts[order[k]]
    ptr = [pts[i] for i in order]
    miny = maxy = 0
    for i in range(1, total):
        if ptr[miny][1] > ptr[i][1]:
            miny = i
        if ptr[maxy][1] < ptr[i][1]:
            maxy = i
    if ptr[0] == ptr[total - 1]:
        hull = [order[0]]
    else:
        tl = _sklansky(ptr, 0, maxy, -1, 1)
        tr = _sklansky(ptr, total - 1, maxy, -1, -1)
        if not clockwise:
            tl, tr = tr, tl
        hull = [order[k] for k in tl[:-1]] + [order[k] for k in reversed(tr[1:])]
        stop = tr[1] if len(tr) > 2 else tl[len(tl) - 2] if len(tl) > 2 else -1
        bl = _sklansky(ptr, 0, miny, 1, -1)
        br = _sklansky(ptr, total - 1, miny, 1, 1)
        if clockwise:
            bl, br = br, bl
        if stop >= 0:
            check = bl[1] if len(bl) > 2 else br[2 - len(bl)] if len(bl) + len(br) > 2 else -1
            if check == stop or (check >= 0 and ptr[check] == ptr[stop]):
                bl, br = bl[:2], br[:2]  # all points on one line: the lower part mirrors the upper one
        hull += [order[k] for k in bl[:-1]] + [order[k] for k in reversed(br[1:])]
        hull = _cyclic_shift(hull)
    return np.array([pts[i] for i in hull], dtype=np.int64)


def _sklansky(ptr, start: int, end: int, nsign: int, sign2: int) -> List[int]:
    """OpenCV's Sklansky_: the chain (indices into the sorted points) from `start` towards `end`."""
    incr = 1 if end > start else -1
    if start == end or ptr[start] == ptr[end]:
        return [start]
    pprev, pcur, pnext = start, start + incr, start + 2 * incr
    stack = [pprev, pcur, pnext]
    end += incr
    while pnext != end:
        by = ptr[pnext][1] - ptr[pcur][1]
        if _sign(by) != nsign:
            ax = ptr[pcur][0] - ptr[pprev][0]
            bx = ptr[pnext][0] - ptr[pcur][0]
            ay = ptr[pcur][1] - ptr[pprev][1]
            if _sign(ay * bx - ax * by) == sign2 and (ax != 0 or ay != 0):
                pprev, pcur = pcur, pnext
                pnext += incr
                stack.append(pnext)
            elif pprev == start:
                pcur = pnext
                stack[1] = pcur
                pnext += incr
                stack[2] = pnext
            else:
                stack[-2] = pnext
                pcur = pprev
                pprev = stack[-4]
                stack.pop()
        else:
            pnext += incr
            stack[-1] = pnext
    return stack[:-1]


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _cyclic_shift(hull: List[int]) -> List[int]:
    """convexHull's last step: rotate the output to start at its smallest (or largest) input index when the
    indices then run in one direction."""
    nout = len(hull)
    if nout < 3:
        return hull
    min_i = max_i = lt = 0
    for i in range(1, nout):
        idx = hull[i]
        lt += hull[i - 1] < idx
        if 1 < lt <= i - 2:
            break
        if idx < hull[min_i]:
            min_i = i
        if idx > hull[max_i]:
            max_i = i
    distance = abs(max_i - min_i)
    if (distance == 1 or distance == nout - 1) and (lt <= 1 or lt >= nout - 2):
        ascending = (max_i + 1) % nout == min_i
        first = min_i if ascending else max_i
        if first > 0:
            shifted = hull[first:] + hull[:first]
            if all(ascending == (shifted[i] < shifted[i + 1]) for i in range(nout - 1)):
                return shifted
    return hull


def _rotating_calipers(points: Sequence[Tuple[float, float]]):
    """OpenCV 4.x's rotatingCalipers(CALIPERS_MINAREARECT) in float32: (corner, vector1, vector2)."""
    n = len(points)
    px = [f32(p[0]) for p in points]
    py = [f32(p[1]) for p in points]
    vect_x, vect_y, inv_len = [], [], []
    left = bottom = right = top = 0
    left_x = right_x = px[0]
    top_y = bottom_y = py[0]
    x0, y0 = px[0], py[0]
    for i in range(n):
        if x0 < left_x:
            left_x, left = x0, i
        if x0 > right_x:
            right_x, right = x0, i
        if y0 > top_y:
            top_y, top = y0, i
        if y0 < bottom_y:
            bottom_y, bottom = y0, i
        j = i + 1 if i + 1 < n else 0
        dx = float(px[j]) - float(x0)
        dy = float(py[j]) - float(y0)
        vect_x.append(f32(dx))
        vect_y.append(f32(dy))
        inv_len.append(f32(1.0 / math.sqrt(dx * dx + dy * dy)))
        x0, y0 = px[j], py[j]
    orientation = f32(0)
    ax, ay = float(vect_x[n - 1]), float(vect_y[n - 1])
    for i in range(n):
        bx, by = float(vect_x[i]), float(vect_y[i])
        convexity = ax * by - ay * bx
        if convexity != 0:
            orientation = f32(1) if convexity > 0 else f32(-1)
            break
        ax, ay = bx, by
    if orientation == 0:
        raise ValueError("degenerate hull")
    base_a, base_b = orientation, f32(0)
    seq = [bottom, right, top, left]
    minarea = f32(np.finfo(np.float32).max)
    best = None
    for _ in range(n):
        # the edge making the smallest angle with its caliper: the one no other lies to the right of (OpenCV
        # 4.5+ compares directions by the sign of a dot product, older versions by cosines)
        rot = ((vect_x[seq[0]], vect_y[seq[0]]), (vect_y[seq[1]], -vect_x[seq[1]]),
               (-vect_x[seq[2]], -vect_y[seq[2]]), (-vect_y[seq[3]], vect_x[seq[3]]))
        main = 0
        for k in (1, 2, 3):
            if rot[k][1] * rot[main][0] + (-rot[k][0]) * rot[main][1] < 0:
                main = k
        pindex = seq[main]
        lead_x = vect_x[pindex] * inv_len[pindex]
        lead_y = vect_y[pindex] * inv_len[pindex]
        base_a, base_b = ((lead_x, lead_y), (lead_y, -lead_x), (-lead_x, -lead_y), (-lead_y, lead_x))[main]
        seq[main] = 0 if seq[main] + 1 == n else seq[main] + 1
        dx = px[seq[1]] - px[seq[3]]
        dy = py[seq[1]] - py[seq[3]]
        width = dx * base_a + dy * base_b
        dx = px[seq[2]] - px[seq[0]]
        dy = py[seq[2]] - py[seq[0]]
        height = -dx * base_b + dy * base_a
        area = width * height
        if area <= minarea:
            minarea = area
            best = (seq[3], base_a, width, base_b, height, seq[0])
    left_i, a1, width, b1, height, bottom_i = best
    a2, b2 = -b1, a1
    c1 = a1 * px[left_i] + py[left_i] * b1
    c2 = a2 * px[bottom_i] + py[bottom_i] * b2
    idet = f32(1) / (a1 * b2 - a2 * b1)
    corner = ((c1 * b2 - c2 * b1) * idet, (a1 * c2 - a2 * c1) * idet)
    return corner, (a1 * width, b1 * width), (a2 * height, b2 * height)


def min_area_rect(points: np.ndarray) -> Tuple[Tuple[float, float], Tuple[float, float], float]:
    """cv2.minAreaRect of integer points as OpenCV 4.5+ computes it (counter-clockwise hull, angle in (0, 90]):
    ((cx, cy), (w, h), angle), float32 values."""
    hull = [(f32(x), f32(y)) for x, y in convex_hull(points, clockwise=False)]
    n = len(hull)
    if n > 2:
        corner, v1, v2 = _rotating_calipers(hull)
        center = (corner[0] + (v1[0] + v2[0]) * f32(0.5), corner[1] + (v1[1] + v2[1]) * f32(0.5))
        size = (f32(math.sqrt(float(v1[0]) * float(v1[0]) + float(v1[1]) * float(v1[1]))),
                f32(math.sqrt(float(v2[0]) * float(v2[0]) + float(v2[1]) * float(v2[1]))))
        angle = f32(math.atan2(float(v1[1]), float(v1[0])))
    elif n == 2:
        center = ((hull[0][0] + hull[1][0]) * f32(0.5), (hull[0][1] + hull[1][1]) * f32(0.5))
        dx, dy = float(hull[1][0]) - float(hull[0][0]), float(hull[1][1]) - float(hull[0][1])
        size = (f32(math.sqrt(dx * dx + dy * dy)), f32(0))
        angle = f32(math.atan2(dy, dx))
    else:
        center = hull[0] if n == 1 else (f32(0), f32(0))
        size, angle = (f32(0), f32(0)), f32(0)
    angle = f32(float(angle * f32(180)) / math.pi)
    return center, size, angle


def box_points(rect) -> np.ndarray:
    """cv2.boxPoints as OpenCV 4.x (RotatedRect::points): 4x2 float32."""
    (cx, cy), (w, h), angle = rect
    cx, cy, w, h = f32(cx), f32(cy), f32(w), f32(h)
    radians = float(angle) * math.pi / 180.0
    b = f32(math.cos(radians)) * f32(0.5)
    a = f32(math.sin(radians)) * f32(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    p2 = (f32(2) * cx - p0[0], f32(2) * cy - p0[1])
    p3 = (f32(2) * cx - p1[0], f32(2) * cy - p1[1])
    return np.array([p0, p1, p2, p3], dtype=np.float32)
