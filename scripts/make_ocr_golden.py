#!/usr/bin/env python3
"""Record PaddleX 3.7.2 normal-mode outputs of text detection, text-line orientation and the OCR pipeline.

Runs in its own venv, on CPU, over tests/data/ocr_images. PaddleX's "ocr-core" extra brings what detection and
the pipeline need beyond scripts/make_golden.py's set (pyclipper, shapely, opencv-contrib-python==4.10.0.84):

    python3 -m venv .cache/paddlex-venv
    .cache/paddlex-venv/bin/pip install "paddlex[ocr-core]==3.7.2" paddlepaddle==3.3.1
    .cache/paddlex-venv/bin/python scripts/make_ocr_golden.py
    # same as:
    .cache/paddlex-venv/bin/python scripts/make_ocr_golden.py --images tests/data/ocr_images \\
        --models .cache/test_models --out_dir tests/data/golden

It writes four files (floats as Python writes them, no rounding; integer polygons as PaddleX returns them):
- paddlex_OCR_PP-OCRv4.json: `create_pipeline(config)` for the OCR pipeline, every image one at a time, in
  file-name order. The config is PaddleX's own OCR.yaml with the document preprocessor off, text-line
  orientation on, and the model names and dirs replaced (recorded in the file as `pipeline_config`). Per
  image: the result's JSON without `input_path` (the key is the file name).
- paddlex_OCR_PP-OCRv4_textline_bs1.json: the same with the TextLineOrientation batch_size 1, which gives
  every crop its own orientation (see "class_ids" below).
- paddlex_det_PP-OCRv4_mobile_det.json: the text_detection module (`create_model`): dt_polys and dt_scores
  per image with the module's defaults, and with OTHER_DET_PARAMS on OTHER_DET_IMAGES.
- paddlex_textline_ori_ppocr_mobile_v2.json: the textline_orientation module on the pipeline's own crops
  (PaddleX's CropByPolys on the pipeline's sorted dt_polys) of ORI_IMAGES, and on the same crops turned
  upside down (`crop[::-1, ::-1]`); per crop: the image, the polygon's index and points, its shape and the
  SHA-256 of its pixels (uint8 BGR, C order), then class_ids, scores and label_names. PaddleX rounds the
  scores to 5 decimals (np.around in its Topk).
Each file records the versions, the platform, the CPU and the SHA-256 of every model file.

PaddleX settings that decide these numbers:
- On CPU PaddleX 3.7.2 runs Paddle Inference with run_mode "mkldnn" (oneDNN) by default
  (PADDLE_PDX_ENABLE_MKLDNN_BYDEFAULT=1, unless the model is blocklisted), the new IR (PIR), optimization
  level 3, mkldnn_cache_capacity 10 and cpu_threads 10 (PADDLE_PDX_CPU_NUM_THREADS).
- paddlepaddle 3.3.1 cannot run the legacy PP-OCRv4_mobile_det `.pdmodel` with oneDNN under PIR
  ("ConvertPirAttribute2RuntimeAttribute not support [pir::ArrayAttribute<pir::DoubleAttribute>]"), so text
  detection runs with DET_ENGINE_CONFIG (oneDNN, old IR); recognition and orientation keep the defaults.
  Measured on two images: oneDNN/old IR, plain/PIR and plain/old IR give the same polygons and scores
  within 2.5e-7.
- Detection, module defaults for PP-OCRv4_mobile_det: limit_side_len 960, limit_type "max" (from the model
  name; `DetResizeForTest: null` and `{resize_long: 960}` in inference.yml both lead there),
  max_side_limit 4000, then each side rounded to a multiple of 32 (at least 32); thresh, box_thresh,
  unclip_ratio from inference.yml (0.3, 0.6, 1.5), max_candidates 1000, score_mode "fast", box_type "quad",
  no dilation. The OCR pipeline passes its own: limit_side_len 64, limit_type "min", max_side_limit 4000,
  thresh 0.3, box_thresh 0.6, unclip_ratio 1.5 (OCR.yaml), so an image whose short side is at least 64 is
  only rounded to multiples of 32.
- Pipeline batching: pipeline batch_size 1 (one image at a time), detection batch 1; text-line orientation
  batch_size 6 over all crops of the image; recognition batch_size 6 over the image's crops sorted by
  width/height (ascending, stable), and PaddleX pads a recognition batch to its widest crop, so the batch
  composition changes scores; score_thresh 0.0 keeps every line.
- Boxes are sorted by (top-left y, top-left x), then a box moves before its predecessor while both top-left y
  differ by less than 10 px and it lies further left. Crops: cv2.minAreaRect of the int32 polygon, corners
  ordered, warpPerspective (INTER_CUBIC, BORDER_REPLICATE) to int(max edge lengths), turned 90 degrees
  counter-clockwise (np.rot90) when height/width >= 1.5. A crop classified 180_degree is turned by
  cv2.warpAffine about (w/2, h/2) with INTER_CUBIC and a constant black border, not by a pixel flip.
- OpenCV: decoding and cv2.resize (INTER_LINEAR) give the same pixels in 4.10 and 5.0 on these images, but
  warpPerspective with INTER_CUBIC does not: 63 of 100 crops differ (by at most 6 levels) under
  opencv-python-headless 5.0.0.93. The crop hashes in the orientation file are 4.10's.
- Colour: detection and recognition read BGR; the orientation classifier converts the BGR crop to RGB.
- class_ids: PaddleX 3.7.2's BasePredictor.apply splits list-valued outputs per image but Topk's class_ids is
  an array, so every result of a classification batch carries the whole batch's class_ids (B x topk); the
  OCR pipeline takes `ravel()[0]`, so every crop of a batch of 6 gets the orientation of the batch's first
  crop, and is rotated (or not) accordingly before recognition. paddlex_OCR_PP-OCRv4.json records that
  behaviour, the _textline_bs1 file the per-crop one; the script checks both against the module's per-crop
  classes. scores and label_names are split correctly.
"""
import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DET_MODEL = ("PP-OCRv4_mobile_det", "PP-OCRv4_mobile_det")
REC_MODEL = ("PP-OCRv4_mobile_rec", "PP-OCRv4_mobile_rec")
ORI_MODEL = ("PP-LCNet_x0_25_textline_ori", "ppocr_mobile_v2_textline_ori")  # (model_name, dir under --models)
DET_ENGINE_CONFIG = {"run_mode": "mkldnn", "enable_new_ir": False}
OTHER_DET_PARAMS = {"limit_side_len": 736, "limit_type": "min", "box_thresh": 0.5, "unclip_ratio": 2.0}
OTHER_DET_IMAGES = ["ppocr_00018069.jpg", "ppocr_1.jpg", "ppocr_en_img_12.jpg", "rapidocr_text_cls.jpg",
                    "rects_000003.jpg", "sroie_050.jpg"]
ORI_IMAGES = ["ppocr_00207393.jpg", "ppocr_00207393_rot180.jpg", "ppocr_1.jpg", "ppocr_en_254.jpg",
              "ppocr_en_254_rot180.jpg", "rapidocr_text_cls.jpg", "sroie_005.jpg"]
ORI_BATCH_SIZE = 6
LABELS = ["0_degree", "180_degree"]
OCR_VARIANTS = {  # golden file -> changes to the pipeline config
    "paddlex_OCR_PP-OCRv4.json": {},
    "paddlex_OCR_PP-OCRv4_textline_bs1.json": {"TextLineOrientation": {"batch_size": 1}},
}


def display_path(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)


def model_record(model_name: str, model_dir: Path) -> dict:
    """The model's own files with their SHA-256; an inference.onnx next to Paddle files is a conversion cache."""
    names = [n for n in ("inference.yml", "inference.json", "inference.pdmodel", "inference.pdiparams")
             if (model_dir / n).is_file()]
    if names == ["inference.yml"]:
        names.append("inference.onnx")
    files = {n: hashlib.sha256((model_dir / n).read_bytes()).hexdigest() for n in names}
    return {"model_name": model_name, "model_dir": display_path(model_dir), "files": files}


def environment() -> dict:
    import cv2
    import numpy
    import paddle
    import paddlex

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {
        "paddlex_version": paddlex.__version__,
        "paddle_version": paddle.__version__,
        "opencv_version": cv2.__version__,
        "numpy_version": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "device": "cpu",
    }


def runner_config(predictor) -> dict:
    """The Paddle Inference settings PaddleX resolved for one module (run_mode, IR, threads)."""
    config = getattr(getattr(predictor, "runner", None), "_config", {}) or {}
    keys = ("run_mode", "enable_new_ir", "cpu_threads", "mkldnn_cache_capacity", "delete_pass", "enable_cinn")
    return {k: config[k] for k in keys if k in config}


def pipeline_config(models: Path, changes: dict) -> dict:
    """PaddleX's OCR.yaml with the document preprocessor off and our model dirs."""
    import paddlex
    import yaml

    config = yaml.safe_load((Path(paddlex.__file__).parent / "configs" / "pipelines" / "OCR.yaml").read_text("utf-8"))
    config["use_doc_preprocessor"] = False
    config["use_textline_orientation"] = True
    doc = config["SubPipelines"]["DocPreprocessor"]
    doc["use_doc_orientation_classify"] = False
    doc["use_doc_unwarping"] = False
    subs = config["SubModules"]
    for key, (name, dirname) in (("TextDetection", DET_MODEL), ("TextLineOrientation", ORI_MODEL),
                                 ("TextRecognition", REC_MODEL)):
        subs[key]["model_name"] = name
        subs[key]["model_dir"] = display_path(models / dirname)
    subs["TextDetection"]["engine_config"] = dict(DET_ENGINE_CONFIG)
    for key, values in changes.items():
        subs[key].update(values)
    return config


def ocr_golden(paths: list, models: Path, changes: dict) -> dict:
    from paddlex import create_pipeline

    config = pipeline_config(models, changes)
    pipeline = create_pipeline(config=config, device="cpu")
    inner = pipeline._pipeline
    results = {}
    for path in paths:
        (result,) = list(pipeline.predict(str(path)))
        record = dict(result.json["res"])
        record.pop("input_path")
        results[path.name] = record
        print(f"[ocr] {path.name}: {len(record['rec_texts'])} lines", flush=True)
    return {
        "pipeline_config": config,
        "runner_configs": {name: runner_config(getattr(inner, attr)) for name, attr in (
            ("TextDetection", "text_det_model"), ("TextLineOrientation", "textline_orientation_model"),
            ("TextRecognition", "text_rec_model"))},
        "models": {"TextDetection": model_record(DET_MODEL[0], models / DET_MODEL[1]),
                   "TextLineOrientation": model_record(ORI_MODEL[0], models / ORI_MODEL[1]),
                   "TextRecognition": model_record(REC_MODEL[0], models / REC_MODEL[1])},
        "files": [p.name for p in paths],
        "results": results,
    }


def det_golden(paths: list, models: Path) -> dict:
    from paddlex import create_model

    model = create_model(model_name=DET_MODEL[0], model_dir=str(models / DET_MODEL[1]), device="cpu",
                         engine_config=dict(DET_ENGINE_CONFIG))
    predictor = model._predictor
    resize, post = predictor.pre_tfs["Resize"], predictor.post_op
    defaults = {"limit_side_len": resize.limit_side_len, "limit_type": resize.limit_type,
                "max_side_limit": resize.max_side_limit, "thresh": post.thresh, "box_thresh": post.box_thresh,
                "unclip_ratio": post.unclip_ratio, "max_candidates": post.max_candidates,
                "score_mode": post.score_mode, "box_type": post.box_type, "use_dilation": post.use_dilation}

    def run(selected: list, **params) -> dict:
        rows = {}
        for result in model.predict([str(p) for p in selected], batch_size=1, **params):
            record = dict(result.json["res"])
            rows[Path(record.pop("input_path")).name] = record
        return rows

    by_name = {p.name: p for p in paths}
    other = [by_name[name] for name in OTHER_DET_IMAGES]
    golden = {
        "model": model_record(DET_MODEL[0], models / DET_MODEL[1]),
        "engine_config": dict(DET_ENGINE_CONFIG),
        "runner_config": runner_config(predictor),
        "files": [p.name for p in paths],
        "batch_size": 1,
        "runs": [
            {"name": "defaults", "predict_params": {}, "resolved_defaults": defaults, "results": run(paths)},
            {"name": "other", "predict_params": dict(OTHER_DET_PARAMS), "results": run(other, **OTHER_DET_PARAMS)},
        ],
    }
    print(f"[det] {len(paths)} + {len(other)} images", flush=True)
    return golden


def textline_golden(paths: list, models: Path, ocr: dict) -> dict:
    import numpy as np
    from paddlex import create_model
    from paddlex.inference.common.reader import ReadImage
    from paddlex.inference.pipelines.components import CropByPolys

    by_name = {p.name: p for p in paths}
    reader, cropper = ReadImage(format="BGR"), CropByPolys(det_box_type="quad")
    crops, rows = [], []
    for name in ORI_IMAGES:
        polys = ocr["results"][name]["dt_polys"]
        (image,) = reader([str(by_name[name])])
        for index, crop in enumerate(cropper(image, [np.array(p, dtype=np.int16) for p in polys])):
            for rotated in (False, True):
                pixels = np.ascontiguousarray(crop[::-1, ::-1] if rotated else crop)
                crops.append(pixels)
                rows.append({"file": name, "poly_index": index, "poly": polys[index], "rotated180": rotated,
                             "crop_shape": list(pixels.shape),
                             "crop_sha256": hashlib.sha256(pixels.tobytes()).hexdigest()})
    model = create_model(model_name=ORI_MODEL[0], model_dir=str(models / ORI_MODEL[1]), device="cpu")
    for position, (row, result) in enumerate(zip(rows, model.predict(crops, batch_size=ORI_BATCH_SIZE))):
        record = result.json["res"]
        # PaddleX 3.7.2 hands every result of a batch the whole batch's class_ids (B x topk): keep this crop's row
        class_ids = record["class_ids"][position % ORI_BATCH_SIZE]
        if record["label_names"] != [LABELS[i] for i in class_ids]:
            raise SystemExit(f"crop {position}: class_ids {class_ids} do not match {record['label_names']}")
        row.update(class_ids=class_ids, scores=record["scores"], label_names=record["label_names"])
    for name in ORI_IMAGES:  # the pipeline gives each batch of crops its first crop's class (see the docstring)
        upright = [row["class_ids"][0] for row in rows if row["file"] == name and not row["rotated180"]]
        batch = ocr["pipeline_config"]["SubModules"]["TextLineOrientation"]["batch_size"]
        expected = [upright[i - i % batch] for i in range(len(upright))]
        if expected != ocr["results"][name].get("textline_orientation_angles", []):
            raise SystemExit(f"{name}: orientation module {upright} does not explain the pipeline's "
                             f"{ocr['results'][name].get('textline_orientation_angles')}")
    print(f"[textline_ori] {len(rows)} crops", flush=True)
    return {
        "model": model_record(ORI_MODEL[0], models / ORI_MODEL[1]),
        "runner_config": runner_config(model._predictor),
        "batch_size": ORI_BATCH_SIZE,
        "crops": rows,
    }


def dumps(value, indent: int = 0) -> str:
    """JSON with one key per line, but lists of numbers (polygons, boxes, scores) on one line."""
    pad = " " * (indent + 1)

    def flat(v):
        return isinstance(v, (int, float, bool)) or v is None or (isinstance(v, list) and all(flat(x) for x in v))

    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and value and not flat(value):
        return "[\n" + ",\n".join(pad + dumps(v, indent + 1) for v in value) + "\n" + " " * indent + "]"
    return json.dumps(value, ensure_ascii=False)


def write(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(content) + "\n", encoding="utf-8")
    print(f"wrote {display_path(path)}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO / "tests" / "data" / "ocr_images"))
    parser.add_argument("--models", default=str(REPO / ".cache" / "test_models"))
    parser.add_argument("--out_dir", default=str(REPO / "tests" / "data" / "golden"))
    args = parser.parse_args(argv)

    images, models, out_dir = Path(args.images), Path(args.models), Path(args.out_dir)
    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    env = {**environment(), "images": display_path(images)}
    ocr = {}
    for filename, changes in OCR_VARIANTS.items():
        ocr[filename] = {**env, **ocr_golden(paths, models, changes)}
        write(out_dir / filename, ocr[filename])
    write(out_dir / "paddlex_det_PP-OCRv4_mobile_det.json", {**env, **det_golden(paths, models)})
    textline = textline_golden(paths, models, ocr["paddlex_OCR_PP-OCRv4.json"])
    write(out_dir / "paddlex_textline_ori_ppocr_mobile_v2.json", {**env, **textline})
    return 0


if __name__ == "__main__":
    sys.exit(main())
