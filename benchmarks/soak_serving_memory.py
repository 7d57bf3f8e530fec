"""Memory of `hpi serve --pipeline OCR` over thousands of /ocr requests: real photos, with hostile requests mixed
in (garbage bytes, a decompression bomb, a request beyond the pixel budget, a two-page PDF, a deeply nested body).

    python benchmarks/soak_serving_memory.py --models .cache/test_models --requests 3000 [--clients 2]

Prints the server's RSS (and its PDF render processes') every 100 requests as JSON lines, then the growth over
each half. The CPU (model name and flags) is printed first: record it beside the figures.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from serve_process import ServeProcess  # noqa: E402

PHOTOS = REPO / "tests" / "data" / "ocr_images"


def children(pid: int):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def png_bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def two_page_pdf(photo: Path) -> bytes:
    from PIL import Image

    page = Image.open(photo).convert("RGB")
    buffer = io.BytesIO()
    page.save(buffer, format="PDF", save_all=True, append_images=[page.copy()], resolution=72)
    return buffer.getvalue()


def requests_cycle(photos):
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    good = [json.dumps({"file": b64(p.read_bytes()), "fileType": 1, "visualize": i % 3 == 0}).encode()
            for i, p in enumerate(photos)]
    hostile = [json.dumps({"file": b64(os.urandom(20_000))}).encode(),
               json.dumps({"file": b64(png_bomb(20_000, 20_000))}).encode(),
               json.dumps({"file": b64(two_page_pdf(photos[0])), "fileType": 0}).encode(),
               b"[" * 50_000 + b"]" * 50_000]
    return good, hostile


def post(port: int, body: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/ocr", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / ".cache" / "test_models")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--hostile_every", type=int, default=10)
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    print(json.dumps({"cpu": cpu, "flags": [f for f in flags if f.startswith(("avx", "amx"))], "nproc": os.cpu_count()}))
    models = args.models
    server = ServeProcess.start(["--pipeline", "OCR", "--device", "cpu", "--use_hpip",
                                 "--text_detection_model_dir", str(models / "PP-OCRv4_mobile_det_onnx"),
                                 "--text_recognition_model_dir", str(models / "PP-OCRv4_mobile_rec_onnx"),
                                 "--textline_orientation_model_dir", str(models / "ppocr_mobile_v2_textline_ori_onnx")],
                                log_level="ERROR")
    port = server.port
    try:
        good, hostile = requests_cycle(sorted(PHOTOS.glob("*.jpg")))
        counter, statuses, lock, samples = [0], {}, threading.Lock(), []
        started = time.monotonic()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while True:
                with lock:
                    if counter[0] >= args.requests:
                        return
                    counter[0] += 1
                    number = counter[0]
                body = rng.choice(hostile) if number % args.hostile_every == 0 else rng.choice(good)
                status = post(port, body)
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if number % 100 == 0:
                        renderers = sum(ServeProcess(pid=child).rss_mib() or 0 for child in children(server.pid))
                        sample = {"requests": number, "rss_mb": round(server.rss_mib(), 1),
                                  "render_rss_mb": round(renderers, 1), "s": round(time.monotonic() - started, 1)}
                        samples.append(sample)
                        print(json.dumps(sample), flush=True)

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        half = len(samples) // 2
        print(json.dumps({"statuses": statuses, "alive": server.process.poll() is None,
                          "first_half_growth_mb": round(samples[half]["rss_mb"] - samples[0]["rss_mb"], 1),
                          "second_half_growth_mb": round(samples[-1]["rss_mb"] - samples[half]["rss_mb"], 1),
                          "last_rss_mb": samples[-1]["rss_mb"]}))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
