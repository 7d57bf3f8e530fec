#!/usr/bin/env python3
"""Record PaddleX 3.7.2 normal-mode outputs as golden files for our tests.

Runs in its own venv, never in the project's (PaddleX pins its own stack):

    python3 -m venv .cache/paddlex-venv
    .cache/paddlex-venv/bin/pip install paddlex==3.7.2 paddlepaddle==3.3.1 python-bidi opencv-contrib-python pypdfium2
    .cache/paddlex-venv/bin/python scripts/make_golden.py \
        --model_dir .cache/test_models/PP-OCRv4_mobile_rec --dataset tests/data/lines \
        --out tests/data/golden/paddlex_PP-OCRv4_mobile_rec.json

For each batch size it runs `predict(paths, batch_size)` once over the whole list, in label-file order, so a
batch of 8 holds exactly lines 8k..8k+7, as PaddleX batches them.
"""
import argparse
import json
import platform
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--model_name", default="PP-OCRv4_mobile_rec")
    parser.add_argument("--dataset", required=True, help="folder with labels.txt (relative/path<TAB>text)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch_sizes", default="1,8")
    args = parser.parse_args(argv)

    import paddle
    import paddlex
    from paddlex import create_model

    dataset = Path(args.dataset)
    rel_paths = [line.split("\t", 1)[0] for line in (dataset / "labels.txt").read_text("utf-8").splitlines() if line]
    paths = [str(dataset / rel) for rel in rel_paths]
    model = create_model(model_name=args.model_name, model_dir=args.model_dir, device="cpu")
    golden = {
        "paddlex_version": paddlex.__version__,
        "paddle_version": paddle.__version__,
        "python": platform.python_version(),
        "model_name": args.model_name,
        "files": rel_paths,
        "results": {},
    }
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rows = []
        for result in model.predict(paths, batch_size=batch_size):
            rows.append({"rec_text": result["rec_text"], "rec_score": float(result["rec_score"])})
        golden["results"][str(batch_size)] = rows
        print(f"batch_size={batch_size}: {len(rows)} results", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(golden, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
