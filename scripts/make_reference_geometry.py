#!/usr/bin/env python3
"""Record what PaddleX 3.7.2's own geometry libraries return, for tests/tasks/text_detection/test_det_geometry.py.

Run in the PaddleX venv (opencv-contrib-python 4.10.0.84 and pyclipper, as PaddleX pins them):

    .cache/paddlex-venv/bin/python scripts/make_reference_geometry.py

It writes tests/tasks/text_detection/data/reference_geometry.json:
- clipper: DB's unclip as PaddleX calls pyclipper (PyclipperOffset, JT_ROUND, ET_CLOSEDPOLYGON, the distance
  area * ratio / perimeter) on float32 boxes: the polygons it returns;
- min_area_rect: cv2.minAreaRect and cv2.boxPoints of OpenCV 4.10 on int32 and float32 point sets (DB contours
  of a real probability map, unclipped boxes, random quads and scattered points);
- fill_poly: cv2.fillPoly of OpenCV 4.10 on small polygons, the mask's SHA-256 (64 x 64 uint8) and pixel count.
Inputs are drawn from a fixed seed, so the file is the same on every run with the same libraries.
"""
import hashlib
import json
import platform
from pathlib import Path

import cv2
import numpy as np
import pyclipper

OUT = Path(__file__).resolve().parents[1] / "tests" / "tasks" / "text_detection" / "data" / "reference_geometry.json"
MASK_SHAPE = (64, 64)


def clipper_cases(rng, count=150):
    cases = []
    for index in range(count):
        cx, cy = rng.uniform(-5, 1000, 2)
        w, h = (rng.uniform(3, 12, 2) if index % 5 == 0 else (rng.uniform(3, 600), rng.uniform(3, 60)))
        angle = 0.0 if index % 3 == 0 else 90.0 if index % 7 == 0 else rng.uniform(-90, 90)
        box = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.float32)
        ratio = float(rng.choice([1.4, 1.5, 1.6, 2.0]))
        distance = cv2.contourArea(box) * ratio / cv2.arcLength(box, True)
        offset = pyclipper.PyclipperOffset()
        offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        cases.append({"box": box.tolist(), "distance": distance,
                      "polygons": [[list(map(int, p)) for p in path] for path in offset.Execute(distance)]})
    return cases


def point_sets(rng):
    sets = []
    # contours of a DB-like probability map: text-line blobs, some touching, some tilted
    canvas = np.zeros((240, 320), np.uint8)
    for _ in range(40):
        cx, cy = rng.uniform(0, 320), rng.uniform(0, 240)
        rect = ((cx, cy), (rng.uniform(2, 120), rng.uniform(2, 14)), rng.uniform(-30, 30))
        cv2.fillPoly(canvas, [cv2.boxPoints(rect).astype(np.int32)], 255)
    sets += list(cv2.findContours(canvas, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2])
    for index in range(120):
        if index % 3 == 0:  # scattered integer points
            sets.append(rng.integers(0, 60 if index % 2 else 1000, (int(rng.integers(3, 30)), 1, 2)).astype(np.int32))
        elif index % 3 == 1:  # noisy float quads
            rect = ((rng.uniform(0, 900), rng.uniform(0, 900)), (rng.uniform(1, 300), rng.uniform(1, 60)),
                    rng.uniform(-180, 180))
            sets.append((cv2.boxPoints(rect) + rng.normal(0, 0.3, (4, 2))).astype(np.float32).reshape(-1, 1, 2))
        else:  # unclipped boxes, as DB's second minAreaRect sees them
            box = cv2.boxPoints(((rng.uniform(0, 900), rng.uniform(0, 900)), (rng.uniform(3, 300),
                                                                                rng.uniform(3, 40)), rng.uniform(-90, 90)))
            offset = pyclipper.PyclipperOffset()
            offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
            sets.append(np.array(offset.Execute(cv2.contourArea(box) * 1.5 / cv2.arcLength(box, True))[0],
                                 dtype=np.int32).reshape(-1, 1, 2))
    sets += [np.array([[[5, 5]], [[5, 9]], [[20, 9]], [[20, 5]]], np.int32),
             np.array([[[1, 1]], [[5, 1]], [[9, 1]]], np.int32), np.array([[[3, 1]], [[3, 9]]], np.int32)]
    return sets


def min_area_rect_cases(rng):
    cases = []
    for points in point_sets(rng):
        rect = cv2.minAreaRect(points)
        cases.append({"points": points.reshape(-1, 2).tolist(), "dtype": str(points.dtype),
                      "rect": [list(map(float, rect[0])), list(map(float, rect[1])), float(rect[2])],
                      "box_points": cv2.boxPoints(rect).tolist()})
    return cases


def fill_poly_cases(rng, count=300):
    cases = []
    for index in range(count):
        if index % 2:
            points = rng.integers(-6, 70, (int(rng.integers(3, 8)), 2)).astype(np.int32)
        else:  # DB's boxes: truncated corners of a rotated rectangle, partly outside the mask at times
            rect = ((rng.uniform(0, 64), rng.uniform(0, 64)), (rng.uniform(1, 70), rng.uniform(1, 20)),
                    rng.uniform(-90, 90))
            points = cv2.boxPoints(rect).astype(np.int32)
        mask = np.zeros(MASK_SHAPE, np.uint8)
        cv2.fillPoly(mask, points.reshape(1, -1, 2), 1)
        cases.append({"points": points.tolist(), "sha256": hashlib.sha256(mask.tobytes()).hexdigest(),
                      "pixels": int(mask.sum())})
    return cases


def main():
    rng = np.random.default_rng(20240314)
    data = {
        "made_with": {"opencv": cv2.__version__, "pyclipper": getattr(pyclipper, "__version__", "?"),
                      "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine()},
        "mask_shape": list(MASK_SHAPE),
        "clipper": clipper_cases(rng),
        "min_area_rect": min_area_rect_cases(rng),
        "fill_poly": fill_poly_cases(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(data['clipper'])} unclips, {len(data['min_area_rect'])} rectangles, "
          f"{len(data['fill_poly'])} fills")


if __name__ == "__main__":
    main()
