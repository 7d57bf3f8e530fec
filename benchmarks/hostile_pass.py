"""A hostile pass over `hpi serve` and the library: each attack of issue 20, with the figure it produces now.

    python benchmarks/hostile_pass.py [--models .cache/test_models]

Runs a real `hpi serve` process (PP-OCRv6 tiny recognition, high-performance mode) and measures: the server
alive after 100 concurrent PDF requests; seconds to a 422 for a PDF page that would render for minutes; the
server's RSS after a 5.6 MB body of 256 bomb-sized lines and after 1 KB JPEG 2000 bombs; 1,000 idle sockets then
a normal request; seconds to exit after SIGTERM with 300 clients stalled mid-body. Prints one JSON object per
attack, the CPU first.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]
from helpers import slow_pdf  # noqa: E402
from serve_process import ServeProcess  # noqa: E402

LINE = REPO / "tests" / "data" / "samples" / "hello_world.png"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post(port: int, body, timeout: float = 300):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/text-recognition", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Server(ServeProcess):
    """`hpi serve` of one recognition model, default flags unless given."""

    @classmethod
    def of(cls, model_dir: Path, *flags: str) -> "Server":
        return cls.start(["--model_dir", str(model_dir), "--use_hpip", "--device", "cpu", *flags], log_level="ERROR")

    def answers(self) -> bool:
        try:
            status, body = post(self.port, {"file": b64(LINE.read_bytes()), "fileType": 1}, timeout=60)
        except OSError:  # refused, reset
            return False
        return status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def report(**fields) -> None:
    print(json.dumps(fields), flush=True)


def concurrent_pdfs(server: Server) -> None:
    from PIL import Image

    page = Image.open(LINE).convert("RGB")
    buffer = io.BytesIO()
    page.save(buffer, format="PDF", save_all=True, append_images=[page.copy(), page.copy()], resolution=72)
    body = {"file": b64(buffer.getvalue()), "fileType": 0}
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(post(server.port, body)[0])) for _ in range(100)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report(attack="100 concurrent 3-page PDF requests", statuses={s: statuses.count(s) for s in set(statuses)},
           seconds=round(time.monotonic() - started, 1), alive=server.process.poll() is None,
           answers_after=server.answers())


def slow_page(server: Server) -> None:
    data = slow_pdf()
    started = time.monotonic()
    status, body = post(server.port, {"file": b64(data), "fileType": 0})
    report(attack=f"PDF page that renders for minutes ({len(data):,} bytes)", status=status,
           seconds=round(time.monotonic() - started, 1), message=body.get("errorMsg"), answers_after=server.answers())


def pixel_bombs(server: Server) -> None:
    blank = cv2.imencode(".png", np.full((4096, 4096, 3), 255, np.uint8))[1].tobytes()
    before = server.rss_mib()
    body = {"files": [b64(blank)] * 256}
    size = len(json.dumps(body))
    status, answer = post(server.port, body)
    time.sleep(1)  # the server hands freed memory back after answering
    report(attack=f"{size / 1e6:.1f} MB body of 256 lines of 4096 x 4096 (12.9 GB decoded)", status=status,
           message=answer.get("errorMsg"), rss_before_mb=round(before, 1), rss_after_mb=round(server.rss_mib(), 1),
           peak_rss_mb=round(server.peak_rss_mib(), 1), answers_after=server.answers())
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (16384, 16384)).save(buffer, format="JPEG2000", irreversible=False,
                                         quality_mode="rates", quality_layers=[2000])
    before = server.rss_mib()
    status, answer = post(server.port, {"file": b64(buffer.getvalue()), "fileType": 1})
    report(attack=f"JPEG 2000 bomb, {len(buffer.getvalue()):,} bytes, 16384 x 16384", status=status,
           message=answer.get("errorMsg"), rss_before_mb=round(before, 1),
           rss_after_mb=round(server.rss_mib(), 1), peak_rss_mb=round(server.peak_rss_mib(), 1))


def idle_sockets(server: Server, count: int = 1000) -> None:
    sockets, refused = [], 0
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        except OSError:
            refused += 1
    time.sleep(0.5)
    answers = server.answers()
    started = time.monotonic()
    closed = 0
    for sock in sockets:
        sock.settimeout(max(0.1, 30 - (time.monotonic() - started)))
        try:
            closed += sock.recv(1) == b""
        except OSError:
            closed += 1
        sock.close()
    report(attack=f"{count} idle sockets (default flags: 512 connections, 10 s header timeout)",
           refused_at_connect=refused, new_client_answered_while_held=answers, closed_by_server=closed,
           seconds_until_all_closed=round(time.monotonic() - started, 1), answers_after=server.answers(),
           alive=server.process.poll() is None)


def stalled_sigterm(model_dir: Path, count: int = 300) -> None:
    server = Server.of(model_dir)
    stalled = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST /text-recognition HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        stalled.append(sock)
    time.sleep(1)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(120)
    except subprocess.TimeoutExpired:
        code = None
    report(attack=f"SIGTERM with {count} clients stalled mid-body (default flags)", exit_status=code,
           seconds_to_exit=round(time.monotonic() - started, 1))
    server.kill()
    for sock in stalled:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / ".cache" / "test_models")
    args = parser.parse_args()
    model_dir = args.models / "PP-OCRv6_tiny_rec"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    report(cpu=cpu, nproc=os.cpu_count(), load=os.getloadavg())
    server = Server.of(model_dir)
    try:
        concurrent_pdfs(server)
        slow_page(server)
        pixel_bombs(server)
        idle_sockets(server)
    finally:
        server.kill()
    stalled_sigterm(model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
