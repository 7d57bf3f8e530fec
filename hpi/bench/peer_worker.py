"""Run a peer system (PaddleX, RapidOCR) for `hpi benchmark`, inside the peer's own Python environment.

Peers pin stacks that cannot share a venv with hpi (PaddleX wants its own Paddle and OpenCV; RapidOCR pulls
opencv-python and an older OpenVINO), so the benchmark starts this file with the peer's interpreter:

    /path/to/peer-venv/bin/python peer_worker.py --system paddlex --model_dir DIR

It imports nothing from hpi (only the standard library and the peer), reads one JSON command per line on stdin
and answers one JSON line on stdout (the first line says {"ready": true, "version": ...}); anything the peer prints goes to stderr. It times its own work, so the
pipe costs nothing in the figures. Commands:

    {"op": "run", "paths": [...], "batch_size": N}  -> {"texts", "seconds"}   one call over all paths
    {"op": "latency", "paths": [...]}               -> {"texts", "ms"}        one batch-1 call per path
    {"op": "quit"}
"""
import argparse
import json
import sys
import time

SYSTEMS = ("paddlex", "rapidocr_openvino", "rapidocr_onnxruntime")


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


def make_system(name, model_dir, model_name):
    if name == "paddlex":
        return PaddleX(model_dir, model_name)
    return RapidOCR(name)


def serve(system, out):
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            return
        if op == "run":
            start = time.perf_counter()
            texts = system(command["paths"], command["batch_size"])
            reply = {"texts": texts, "seconds": time.perf_counter() - start}
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
    parser.add_argument("--model_dir", default=None, help="PaddleX only: the Paddle model dir")
    parser.add_argument("--model_name", default="PP-OCRv4_mobile_rec")
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # peers print banners and progress; keep the protocol stream clean
    try:
        system = make_system(args.system, args.model_dir, args.model_name)
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
