#!/usr/bin/env python3
"""Record OpenCV 4.10's outputs (PaddleX 3.7.2's pin, and hpi's) that the installed OpenCV must reproduce
(tests/pipelines/ocr/test_ocr_opencv.py).

Run in the PaddleX venv (opencv-contrib-python 4.10.0.84), from the repository root:

    .cache/paddlex-venv/bin/python scripts/make_cv410_reference.py

It writes tests/pipelines/ocr/data/cv410_reference.json:
- "rects": for 400 of the dt_polys of tests/data/golden/paddlex_OCR_PP-OCRv4.json and 300 random integer
  quadrilaterals (seeded; some with repeated or collinear points): cv2.convexHull (counter-clockwise, as
  minAreaRect takes it), cv2.minAreaRect and cv2.boxPoints, floats as Python writes them;
- "crops": for 240 of those polygons on their images, and 20 random large quadrilaterals, the SHA-256 of the crop
  PaddleX's CropByPolys makes (minAreaRect, boxPoints, getPerspectiveTransform, warpPerspective INTER_CUBIC
  BORDER_REPLICATE, rot90 when tall) and of that crop turned by PaddleX's rotate_image(crop, 180) (warpAffine
  INTER_CUBIC, constant border).
"""
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "tests" / "data" / "ocr_images"
OUT = REPO / "tests" / "pipelines" / "ocr" / "data" / "cv410_reference.json"


def sha(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def paddlex_crop(image, poly):
    """PaddleX 3.7.2's CropByPolys.get_minarea_rect_crop, as written there."""
    points = sorted(list(cv2.boxPoints(cv2.minAreaRect(np.array(poly).astype(np.int32)))), key=lambda x: x[0])
    a, d = (0, 1) if points[1][1] > points[0][1] else (1, 0)
    b, c = (2, 3) if points[3][1] > points[2][1] else (3, 2)
    box = np.array([points[a], points[b], points[c], points[d]])
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    crop = cv2.warpPerspective(image, cv2.getPerspectiveTransform(box, target), (width, height),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if crop.shape[0] * 1.0 / crop.shape[1] >= 1.5 else crop


def paddlex_rotate_180(image):
    """PaddleX 3.7.2's rotate_image(image, 180)."""
    h, w = image.shape[:2]
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), 180, 1.0)
    cos, sin = np.abs(mat[0, 0]), np.abs(mat[0, 1])
    new_w, new_h = int((h * sin) + (w * cos)), int((h * cos) + (w * sin))
    mat[0, 2] += (new_w - w) / 2
    mat[1, 2] += (new_h - h) / 2
    return cv2.warpAffine(image, mat, (new_w, new_h), flags=cv2.INTER_CUBIC)


def main() -> int:
    if not cv2.__version__.startswith("4.10."):
        print(f"needs OpenCV 4.10 (PaddleX's), found {cv2.__version__}", file=sys.stderr)
        return 1
    golden = json.loads((REPO / "tests" / "data" / "golden" / "paddlex_OCR_PP-OCRv4.json").read_text("utf-8"))
    rng = np.random.default_rng(2026)
    polys = [(name, poly) for name, result in golden["results"].items() for poly in result["dt_polys"]]
    random_polys = []
    for index in range(300):
        kind = index % 3
        if kind == 0:
            quad = rng.integers(0, 40, (4, 2))
        elif kind == 1:
            quad = rng.integers(0, 3000, (4, 2))
        else:
            quad = rng.integers(0, 20, (4, 2))
            quad[rng.integers(1, 4)] = quad[0]  # a repeated point
        random_polys.append(quad.tolist())
    rects = []
    sampled = [polys[i][1] for i in sorted(rng.choice(len(polys), 400, replace=False))]
    for poly in sampled + random_polys:
        points = np.array(poly, dtype=np.int32)
        rect = cv2.minAreaRect(points)
        rects.append({"poly": poly,
                      "hull": cv2.convexHull(points, clockwise=False).reshape(-1, 2).tolist(),
                      "rect": [rect[0][0], rect[0][1], rect[1][0], rect[1][1], rect[2]],
                      "box_points": cv2.boxPoints(rect).tolist()})
    crops = []
    picked = [polys[i] for i in sorted(rng.choice(len(polys), 240, replace=False))]
    for name in sorted({name for name, _ in polys})[:4]:
        image = cv2.imread(str(IMAGES / name))
        h, w = image.shape[:2]
        for _ in range(5):  # large crops, past the image borders too
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            size = (float(rng.uniform(20, w)), float(rng.uniform(20, h)))
            box = cv2.boxPoints(((float(cx), float(cy)), size, float(rng.uniform(-30, 30))))
            picked.append((name, np.round(box).astype(int).tolist()))
    for name, poly in picked:
        image = cv2.imread(str(IMAGES / name))
        crop = paddlex_crop(image, poly)
        crops.append({"file": name, "poly": poly, "shape": list(crop.shape), "crop_sha256": sha(crop),
                      "rotated_sha256": sha(paddlex_rotate_180(crop))})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"opencv_version": cv2.__version__, "numpy_version": np.__version__,
                               "rects": rects, "crops": crops}) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(rects)} rects, {len(crops)} crops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
