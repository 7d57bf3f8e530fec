"""Run a peer system (PaddleX, RapidOCR) for `hpi benchmark`, inside the peer's own Python environment.

Peers pin stacks that cannot share a venv with hpi (PaddleX wants its own Paddle and OpenCV; RapidOCR pulls
opencv-python and an older OpenVINO), so the benchmark starts this file with the peer's interpreter:

    /path/to/peer-venv/bin/python peer_worker.py --system paddlex --model_dir DIR
    /path/to/peer-venv/bin/python peer_worker.py --system paddlex_ocr --models '{"det": DIR, "rec": DIR, ...}'

It imports nothing from hpi (only the standard library and the peer), reads one JSON command per line on stdin
and answers one JSON line on stdout (the first line says {"ready": true, "version": ...}); anything the peer prints goes to stderr. It times its own work, so the
pipe costs nothing in the figures. Commands:

    {"op": "run", "paths": [...], "batch_size": N}  -> {"texts", "seconds"}   one call over all paths
                                                       (OCR pipelines: texts per image, and "stages" seconds
                                                       per stage where the peer reports them)
    {"op": "latency", "paths": [...]}               -> {"texts", "ms"}        one batch-1 call per path
    {"op": "quit"}
"""
import argparse
import json
import sys
import time

SYSTEMS = ("paddlex", "rapidocr_openvino", "rapidocr_onnxruntime", "rapidocr3_openvino", "rapidocr3_onnxruntime",
           "paddlex_ocr", "rapidocr_ocr")


class PaddleX:
    """PaddleX normal mode as a user runs it: create_model(...).predict(paths, batch_size)."""

    def __init__(self, model_dir, model_name):
        import paddlex

        self.version = f"paddlex {paddlex.__version__}"
        self.model = paddlex.create_model(model_name=model_name, model_dir=model_dir, device="cpu")

    def __call__(self, paths, batch_size):
        return [str(r["rec_text"]) for r in self.model.predict(paths, batch_size=batch_size)]


class RapidOCR:
    """RapidOCR's recognizer on its bundled PP-OCRv4 model: read the files, then one call over all of them
    (it sorts them by aspect ratio and pads each batch of `rec_batch_num` to its widest, as it does for crops)."""

    def __init__(self, package):
        import importlib

        import cv2

        module = importlib.import_module(package)
        from importlib import metadata

        self.version = f"{package.replace('_', '-')} {metadata.version(package.replace('_', '-'))}"
        self.cv2 = cv2
        self.engine = module.RapidOCR()

    def __call__(self, paths, batch_size):
        images = [self.cv2.imread(p) for p in paths]
        self.engine.text_rec.rec_batch_num = batch_size
        results, _ = self.engine.text_rec(images)
        return [str(text) for text, _ in results]


class RapidOCR3:
    """RapidOCR 3.x's text recognizer on the SAME ONNX file as hpi (model_dir/inference.onnx, its dictionary from
    inference.yml), on OpenVINO or ONNX Runtime with RapidOCR's own engine settings (OpenVINO: its default
    compilation, which runs bf16 on a CPU with native bf16). One call over all lines: it sorts them by aspect ratio
    and pads each batch of `rec_batch_num` to its widest."""

    def __init__(self, engine, model_dir):
        import tempfile
        from importlib import metadata
        from pathlib import Path

        import cv2
        import yaml
        from rapidocr import EngineType, RapidOCR

        self.version = f"rapidocr {metadata.version('rapidocr')} {engine}"
        self.cv2 = cv2
        config = yaml.safe_load((Path(model_dir) / "inference.yml").read_text("utf-8"))
        keys = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8")
        keys.write("\n".join(config["PostProcess"]["character_dict"]) + "\n")
        keys.close()
        engine = RapidOCR(params={"Global.log_level": "warning", "Rec.engine_type": EngineType(engine),
                                  "Rec.model_path": str(Path(model_dir) / "inference.onnx"),
                                  "Rec.rec_keys_path": keys.name})
        self.recognizer = engine._load_rec_model()  # made on first use otherwise: its load is not timed

    def __call__(self, paths, batch_size):
        from rapidocr.ch_ppocr_rec import TextRecInput

        images = [self.cv2.imread(p) for p in paths]
        self.recognizer.rec_batch_num = batch_size
        return [str(text) for text in self.recognizer(TextRecInput(img=images)).txts]


class PaddleXOCR:
    """PaddleX's OCR pipeline as a user runs it: create_pipeline(config).predict(paths), with PaddleX's own
    OCR.yaml, the document preprocessor off and the models given ({"det", "rec", "cls": dir or None, "*_name",
    "det_engine_config"})."""

    def __init__(self, models):
        from pathlib import Path

        import paddlex
        import yaml

        self.version = f"paddlex {paddlex.__version__}"
        config = yaml.safe_load((Path(paddlex.__file__).parent / "configs" / "pipelines" / "OCR.yaml")
                                .read_text("utf-8"))
        config["use_doc_preprocessor"] = False
        config["use_textline_orientation"] = bool(models.get("cls"))
        subs = config["SubModules"]
        for key, kind in (("TextDetection", "det"), ("TextRecognition", "rec"), ("TextLineOrientation", "cls")):
            if models.get(kind):
                subs[key]["model_dir"] = models[kind]
                subs[key]["model_name"] = models[f"{kind}_name"]
        if models.get("det_engine_config"):
            subs["TextDetection"]["engine_config"] = dict(models["det_engine_config"])
        self.pipeline = paddlex.create_pipeline(config=config, device="cpu")

    def __call__(self, paths, batch_size):
        return [[str(t) for t in result["rec_texts"]] for result in self.pipeline.predict(list(paths))]


class RapidOCRPipeline:
    """RapidOCR 3.x's whole pipeline (det, cls, rec on ONNX Runtime) with the models given: ONNX files
    ({"det_onnx", "rec_onnx", "cls_onnx" or None, "rec_keys"}) and the detection settings PaddleX's OCR pipeline
    uses (limit_side_len 64, "min", 0.3/0.6/1.5, no dilation, ImageNet normalisation), so that the same model
    sees the same input. Stage seconds are RapidOCR's own (elapse_list)."""

    def __init__(self, models):
        from importlib import metadata

        import cv2
        from rapidocr import RapidOCR

        self.version = f"rapidocr {metadata.version('rapidocr')}"
        self.cv2 = cv2
        params = {"Global.log_level": "warning", "Global.use_cls": bool(models.get("cls_onnx")),
                  "Det.model_path": models["det_onnx"], "Rec.model_path": models["rec_onnx"],
                  "Rec.rec_keys_path": models["rec_keys"], "Det.limit_side_len": 64, "Det.limit_type": "min",
                  "Det.thresh": 0.3, "Det.box_thresh": 0.6, "Det.unclip_ratio": 1.5, "Det.use_dilation": False,
                  "Det.mean": [0.485, 0.456, 0.406], "Det.std": [0.229, 0.224, 0.225], "Global.text_score": 0.0}
        if models.get("cls_onnx"):
            params["Cls.model_path"] = models["cls_onnx"]
        self.engine = RapidOCR(params=params)

    def __call__(self, paths, batch_size):
        self.engine.cfg.Rec.rec_batch_num = batch_size  # its recognizer is made on first use, from cfg
        if self.engine.text_rec is not None:
            self.engine.text_rec.rec_batch_num = batch_size
        texts, stages = [], {"det": 0.0, "cls": 0.0, "rec": 0.0}
        for path in paths:
            output = self.engine(self.cv2.imread(path))
            texts.append([str(t) for t in (output.txts or ())])
            for key, seconds in zip(stages, output.elapse_list):
                stages[key] += seconds or 0.0
        return texts, stages


def make_system(name, model_dir, model_name, models=None):
    if name == "paddlex":
        return PaddleX(model_dir, model_name)
    if name == "paddlex_ocr":
        return PaddleXOCR(models)
    if name == "rapidocr_ocr":
        return RapidOCRPipeline(models)
    if name.startswith("rapidocr3_"):
        return RapidOCR3(name[len("rapidocr3_"):], model_dir)
    try:
        return RapidOCR(name)
    except ImportError:  # an environment with RapidOCR 3.x (package `rapidocr`) and not 1.x: the same engine there
        import importlib.util

        if importlib.util.find_spec("rapidocr") is None:
            raise
        return RapidOCR3(name[len("rapidocr_"):], model_dir)


def serve(system, out):
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            return
        if op == "run":
            start = time.perf_counter()
            texts = system(command["paths"], command["batch_size"])
            reply = {"seconds": time.perf_counter() - start}
            if isinstance(texts, tuple):  # a pipeline that reports its stages
                texts, reply["stages"] = texts
            reply["texts"] = texts
        elif op == "latency":
            texts, ms = [], []
            for path in command["paths"]:
                start = time.perf_counter()
                texts.extend(system([path], 1))
                ms.append((time.perf_counter() - start) * 1000)
            reply = {"texts": texts, "ms": ms}
        else:
            reply = {"error": f"unknown op {op!r}"}
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=SYSTEMS)
    parser.add_argument("--model_dir", default=None, help="PaddleX: the Paddle model dir; rapidocr3_*: the ONNX one")
    parser.add_argument("--model_name", default="PP-OCRv4_mobile_rec")
    parser.add_argument("--models", default=None, help="OCR pipelines: a JSON object of model dirs/files")
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # peers print banners and progress; keep the protocol stream clean
    try:
        system = make_system(args.system, args.model_dir, args.model_name,
                             json.loads(args.models) if args.models else None)
    except Exception as exc:  # report why the peer cannot run, then stop
        out.write(json.dumps({"error": f"{args.system} could not start: {type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"ready": True, "version": system.version}) + "\n")
    out.flush()
    serve(system, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
