"""OpenCV 4.x's arithmetic for the few calls whose results decide an OCR crop, in numpy, so that crops are the
same pixels as PaddleX 3.7.2's (which pins opencv-contrib-python 4.10) whatever OpenCV is installed.

OpenCV 5 changed them: `minAreaRect` reports another angle convention and `boxPoints` rounds differently (190 of
748 crops of the test images got other corners), and its bicubic `remap` / `warpPerspective` / `warpAffine` give
other pixels for the same matrix (352 of 748 crops differ, up to 91 grey levels), which changed 4 of 748 texts.
Measured against OpenCV 4.10 on the crops of tests/data/ocr_images and on random quadrilaterals (see
tests/pipelines/ocr/test_cv4.py for what is checked here without OpenCV 4).

- `min_area_rect` / `box_points`: convexHull (Sklansky) and the rotating calipers of OpenCV 4.5+ in float32
  step by step, then RotatedRect::points.
- `warp_perspective_cubic`: the inverse map computed per 32x32 block in double as WarpPerspectiveInvoker does,
  rounded to 1/32 px, and the fixed-point bicubic remap (15-bit coefficients from OpenCV's table).
- `warp_affine_cubic`: WarpAffineInvoker's 10-bit fixed-point map and the same remap.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np

f32 = np.float32
INTER_BITS = 5
INTER_TAB_SIZE = 1 << INTER_BITS
REMAP_COEF_BITS = 15
REMAP_COEF_SCALE = 1 << REMAP_COEF_BITS
BLOCK_SZ = 32
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1


# --- minAreaRect and boxPoints ------------------------------------------------------------------------------

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


# --- bicubic warps ------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def bicubic_table() -> np.ndarray:
    """OpenCV's 15-bit fixed-point bicubic weights: (32*32) x 16 int32, for fraction index (fy*32 + fx)."""
    scale = f32(1) / f32(INTER_TAB_SIZE)
    a = f32(-0.75)
    one = f32(1)
    tab1d = []
    for i in range(INTER_TAB_SIZE):
        x = f32(i) * scale
        c0 = ((a * (x + one) - f32(5) * a) * (x + one) + f32(8) * a) * (x + one) - f32(4) * a
        c1 = ((a + f32(2)) * x - (a + f32(3))) * x * x + one
        c2 = ((a + f32(2)) * (one - x) - (a + f32(3))) * (one - x) * (one - x) + one
        c3 = one - c0 - c1 - c2
        tab1d.append((c0, c1, c2, c3))
    table = np.zeros((INTER_TAB_SIZE * INTER_TAB_SIZE, 16), dtype=np.int32)
    for i in range(INTER_TAB_SIZE):
        for j in range(INTER_TAB_SIZE):
            itab = [int(np.rint(np.float32(tab1d[i][k1] * tab1d[j][k2]) * f32(REMAP_COEF_SCALE)))
                    for k1 in range(4) for k2 in range(4)]
            diff = sum(itab) - REMAP_COEF_SCALE
            if diff:
                mk = Mk = (2, 2)
                for k1 in (2, 3):
                    for k2 in (2, 3):
                        value = itab[k1 * 4 + k2]
                        if value < itab[mk[0] * 4 + mk[1]]:
                            mk = (k1, k2)
                        elif value > itab[Mk[0] * 4 + Mk[1]]:
                            Mk = (k1, k2)
                if diff < 0:
                    itab[Mk[0] * 4 + Mk[1]] -= diff
                else:
                    itab[mk[0] * 4 + mk[1]] -= diff
            table[i * INTER_TAB_SIZE + j] = itab
    return table


def remap_cubic(image: np.ndarray, xy: np.ndarray, frac: np.ndarray, replicate: bool) -> np.ndarray:
    """OpenCV 4.x's fixed-point bicubic remap of a uint8 HxW or HxWxC image: `xy` (H'xW'x2 int, the integer
    source position), `frac` (H'xW', fy*32 + fx); border replicate, or constant black. Integer sums, so the
    order of the 16 taps does not matter."""
    height, width = image.shape[:2]
    src = np.ascontiguousarray(image).reshape(height * width, -1)
    out_shape = xy.shape[:2]
    sx = xy[..., 0].reshape(-1).astype(np.int64) - 1
    sy = xy[..., 1].reshape(-1).astype(np.int64) - 1
    taps = np.arange(4)
    rows = sy[:, None] + taps  # N x 4
    cols = sx[:, None] + taps
    weights = bicubic_table()[frac.reshape(-1)].reshape(-1, 4, 4)  # N x (row tap) x (column tap)
    if not replicate:
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        weights = np.where(inside, weights, 0)
    index = np.clip(rows, 0, height - 1)[:, :, None] * width + np.clip(cols, 0, width - 1)[:, None, :]
    values = np.take(src, index.reshape(-1, 16), axis=0).astype(np.int32)  # N x 16 x C
    total = np.einsum("nkc,nk->nc", values, weights.reshape(-1, 16).astype(np.int32))
    out = np.clip((total + (1 << (REMAP_COEF_BITS - 1))) >> REMAP_COEF_BITS, 0, 255).astype(np.uint8)
    return out.reshape(out_shape + image.shape[2:])


def invert3(matrix: np.ndarray) -> List[float]:
    """cv::invert of a 3x3 double matrix (its closed form for n = 3), row-major; zeros when singular."""
    (a, b, c), (d, e, f), (g, h, i) = [[float(v) for v in row] for row in matrix]
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if det == 0:
        return [0.0] * 9
    det = 1.0 / det
    return [(e * i - f * h) * det, (c * h - b * i) * det, (b * f - c * e) * det,
            (f * g - d * i) * det, (a * i - c * g) * det, (c * d - a * f) * det,
            (d * h - e * g) * det, (b * g - a * h) * det, (a * e - b * d) * det]


def warp_perspective_cubic(image: np.ndarray, matrix: np.ndarray, size: Tuple[int, int], remap=None) -> np.ndarray:
    """cv2.warpPerspective(image, matrix, size, flags=INTER_CUBIC, borderMode=BORDER_REPLICATE), OpenCV 4.x."""
    width, height = size
    if width <= 0 or height <= 0:  # OpenCV then uses the source size
        height, width = image.shape[:2]
    m = invert3(np.asarray(matrix, dtype=np.float64))
    # WarpPerspectiveInvoker works in blocks of block_w columns and sums M[0]*x0 + M[1]*y + M[2] at each
    # block's first column x0, then adds M[0]*x1 within it: the same double arithmetic, pixel by pixel, here.
    block_w = min(BLOCK_SZ * BLOCK_SZ // min(BLOCK_SZ // 2, height), width)
    cols = np.arange(width)
    x0 = ((cols // block_w) * block_w).astype(np.float64)[None, :]
    x1 = (cols % block_w).astype(np.float64)[None, :]
    rows = np.arange(height, dtype=np.float64)[:, None]
    w = (m[6] * x0 + m[7] * rows + m[8]) + m[6] * x1
    nonzero = w != 0
    w = np.where(nonzero, INTER_TAB_SIZE / np.where(nonzero, w, 1.0), 0.0)
    fx = np.clip(((m[0] * x0 + m[1] * rows + m[2]) + m[0] * x1) * w, INT_MIN, INT_MAX)
    fy = np.clip(((m[3] * x0 + m[4] * rows + m[5]) + m[3] * x1) * w, INT_MIN, INT_MAX)
    return (remap or remap_cubic)(image, *_fixed_map(np.rint(fx).astype(np.int64), np.rint(fy).astype(np.int64)),
                                  replicate=True)


def warp_affine_cubic(image: np.ndarray, matrix: np.ndarray, size: Tuple[int, int], remap=None) -> np.ndarray:
    """cv2.warpAffine(image, matrix, size, flags=INTER_CUBIC) (constant black border), OpenCV 4.x."""
    width, height = size
    m = [float(v) for v in np.asarray(matrix, dtype=np.float64).ravel()]
    d = m[0] * m[4] - m[1] * m[3]
    d = 1.0 / d if d != 0 else 0.0
    a11, a22 = m[4] * d, m[0] * d
    m[0], m[1], m[3], m[4] = a11, m[1] * -d, m[3] * -d, a22
    m[2], m[5] = -m[0] * m[2] - m[1] * m[5], -m[3] * m[2] - m[4] * m[5]
    ab_bits = max(10, INTER_BITS)
    ab_scale = 1 << ab_bits
    round_delta = ab_scale // INTER_TAB_SIZE // 2
    cols = np.arange(width, dtype=np.float64)
    adelta = _saturate_int(np.rint(m[0] * cols * ab_scale))
    bdelta = _saturate_int(np.rint(m[3] * cols * ab_scale))
    rows = np.arange(height, dtype=np.float64)
    x0 = _saturate_int(np.rint((m[1] * rows + m[2]) * ab_scale)) + round_delta
    y0 = _saturate_int(np.rint((m[4] * rows + m[5]) * ab_scale)) + round_delta
    shift = ab_bits - INTER_BITS
    fx = (x0[:, None] + adelta[None, :]) >> shift
    fy = (y0[:, None] + bdelta[None, :]) >> shift
    return (remap or remap_cubic)(image, *_fixed_map(fx, fy), replicate=False)


def _saturate_int(values: np.ndarray) -> np.ndarray:
    return np.clip(values, INT_MIN, INT_MAX).astype(np.int64)


def _fixed_map(fx: np.ndarray, fy: np.ndarray):
    xy = np.stack([np.clip(fx >> INTER_BITS, -32768, 32767), np.clip(fy >> INTER_BITS, -32768, 32767)], axis=-1)
    frac = (fy & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE + (fx & (INTER_TAB_SIZE - 1))
    return xy, frac


def opencv_remap_cubic(image: np.ndarray, xy: np.ndarray, frac: np.ndarray, replicate: bool) -> np.ndarray:
    """remap_cubic by the installed OpenCV (its fixed-point map format, the same 1/32 px positions)."""
    import cv2

    return cv2.remap(image, xy.astype(np.int16), frac.astype(np.uint16), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT, borderValue=0)


@lru_cache(maxsize=1)
def opencv_remap_is_exact() -> bool:
    """Whether the installed OpenCV's fixed-point bicubic remap gives remap_cubic's pixels: checked once on
    every one of the 1024 sub-pixel positions, 8 times each with random neighbourhoods, inside and at the
    borders of a random image, for both borders (OpenCV 4.x: yes; 5.0: no, one grey level on some)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    frac = np.tile(np.arange(INTER_TAB_SIZE * INTER_TAB_SIZE), 8).reshape(64, 128)
    xy = np.stack([rng.integers(-3, 35, frac.shape), rng.integers(-3, 27, frac.shape)], axis=-1)
    try:
        return all(np.array_equal(opencv_remap_cubic(image, xy, frac, replicate),
                                  remap_cubic(image, xy, frac, replicate)) for replicate in (True, False))
    except Exception:  # an OpenCV that refuses the fixed-point map format
        return False
