"""The PDF render process: the one place pdfium runs (hpi/pdf_render.py starts it and speaks to it).

Run as a script (`python _pdf_render_process.py <memory_bytes>`), importing only the standard library and pypdfium2, so
it starts in a fraction of a second and holds little. It reads requests on stdin and answers on stdout, one at a
time, until stdin closes (its parent exited). A page that renders too long, or a render that runs out of the
memory limit set here, ends this process: the parent kills it or sees it die, and starts a new one.

Message: 1 byte kind, 8 bytes length (little-endian), then `length` bytes. Requests: OPEN (the PDF's bytes),
SIZE / RENDER / CLOSE (JSON). Answers: JSON, PIXELS (16 bytes width, height, stride, channels, then the rows),
or ERROR (JSON with a message).
"""
import json
import os
import struct
import sys

try:
    import resource
except ImportError:  # Windows: no memory limit here, the parent's time limit still holds
    resource = None

OPEN, SIZE, RENDER, CLOSE = 1, 2, 3, 4
JSON, PIXELS, ERROR = 1, 2, 3
HEADER = struct.Struct("<BQ")
PIXEL_HEADER = struct.Struct("<IIII")


def main() -> None:
    memory_bytes = int(sys.argv[1])
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything pdfium or Python prints goes to stderr, never into the answers
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    import pypdfium2 as pdfium

    if memory_bytes and resource is not None and os.path.exists("/proc/self/statm"):  # on top of what this process holds now, its interpreter and pdfium
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_bytes, resource.RLIM_INFINITY))
    documents, next_id = {}, 1
    while True:
        header = _read(requests, HEADER.size)
        if header is None:
            return
        kind, length = HEADER.unpack(header)
        payload = _read(requests, length) if length else b""
        if payload is None:
            return
        try:
            if kind == OPEN:
                document = pdfium.PdfDocument(payload)
                document.init_forms()  # form fields are drawn too, as PaddleX does; before any page is loaded
                documents[next_id] = (document, payload)  # pdfium reads the bytes as it goes: keep them
                _send(answers, JSON, json.dumps({"document": next_id, "pages": len(document)}).encode())
                next_id += 1
                continue
            request = json.loads(payload)
            if kind == CLOSE:
                entry = documents.pop(request["document"], None)
                if entry is not None:
                    entry[0].close()
                _send(answers, JSON, b"{}")
            elif kind == SIZE:
                width, height = documents[request["document"]][0].get_page_size(request["page"])
                _send(answers, JSON, json.dumps({"width": width, "height": height}).encode())
            elif kind == RENDER:
                _send_page(answers, documents[request["document"]][0], request)
            else:
                raise ValueError(f"unknown request kind {kind}")
        except MemoryError:
            message = f"needs more memory than a render may use ({memory_bytes >> 20} MB, environment variable " \
                      "HPI_PDF_MEMORY_MB)"
            _send(answers, ERROR, json.dumps({"message": message}).encode())
        except Exception as exc:  # pypdfium2's PdfiumError, a bad index...: the parent names the input
            _send(answers, ERROR, json.dumps({"message": str(exc) or type(exc).__name__}).encode())


def _send_page(answers, document, request: dict) -> None:
    page = document[request["page"]]
    try:
        bitmap = page.render(scale=request["scale"])  # BGR, the byte order the pipeline wants
        try:
            if bitmap.width * bitmap.height > request["max_pixels"] > 0:  # the size the parent checked was wrong
                raise ValueError(f"rendered as {bitmap.width}x{bitmap.height}, above the pixel limit")
            rows = memoryview(bitmap.buffer).cast("B")[:bitmap.stride * bitmap.height]
            header = PIXEL_HEADER.pack(bitmap.width, bitmap.height, bitmap.stride, bitmap.n_channels)
            answers.write(HEADER.pack(PIXELS, len(header) + len(rows)))
            answers.write(header)
            answers.write(rows)
        finally:
            bitmap.close()
    finally:
        page.close()


def _send(answers, kind: int, payload: bytes) -> None:
    answers.write(HEADER.pack(kind, len(payload)) + payload)


def _read(stream, size: int):
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


if __name__ == "__main__":
    main()
