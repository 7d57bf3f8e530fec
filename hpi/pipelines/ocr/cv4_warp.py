"""OpenCV 4.x's bicubic warpPerspective (border replicate) and warpAffine (constant border) for 8-bit images, in
numpy, so that OCR crops and their 180-degree turns are PaddleX 3.7.2's pixels (OpenCV 4.10) whatever OpenCV is
installed: OpenCV 5's bicubic remap and warps give other pixels for the same matrix (352 of 748 test crops, up to
91 grey levels), which changed texts.

- `warp_perspective_cubic`: the inverse matrix by cv::invert's closed form, the source position of each pixel in
  double as WarpPerspectiveInvoker sums it (per block of columns), rounded to 1/32 px; then the remap.
- `warp_affine_cubic`: WarpAffineInvoker's 10-bit fixed-point positions; then the remap.
- `remap_cubic`: the fixed-point bicubic remap (15-bit weights from OpenCV's table, rows corrected to sum to 1).
  `opencv_remap_cubic` hands the same positions to the installed OpenCV, which `opencv_remap_is_exact` checks once
  (OpenCV 4.x: the same pixels, and about 5x faster than numpy).
"""
from __future__ import annotations

from functools import lru_cache
from typing import List, Tuple

import numpy as np

f32 = np.float32
INTER_BITS = 5
INTER_TAB_SIZE = 1 << INTER_BITS
REMAP_COEF_BITS = 15
REMAP_COEF_SCALE = 1 << REMAP_COEF_BITS
BLOCK_SZ = 32
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1


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
