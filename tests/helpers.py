"""Shared test helpers (import from here, not from a conftest: there are several conftest modules)."""
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"
GOLDEN = DATA / "golden"


def model_dir_or_skip(models_root: Path, name: str) -> Path:
    """models_root/name, or a skip saying how to fetch it."""
    import pytest

    path = models_root / name
    if not (path / "inference.yml").is_file():
        pytest.skip(f"test model {name} is missing in {models_root}: run `make models` (scripts/fetch_test_models.py)")
    return path


def golden_or_skip(name: str) -> dict:
    """A PaddleX golden file of tests/data/golden, or a skip saying how to make it."""
    import json

    import pytest

    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: make it with scripts/make_ocr_golden.py in the PaddleX venv")
    return json.loads(path.read_text("utf-8"))


def texts(results):
    """The recognized texts of a list of results, in order."""
    return [result["rec_text"] for result in results]


def pdf_file(page_objects, width: float = 612, height: float = 792, content: bytes = b"") -> bytes:
    """A one-page PDF written by hand: `content` (FlateDecode'd) draws it; `page_objects` are extra objects, the
    first numbered 5, named in the page's resources as /Im0 if any."""
    import zlib

    packed = zlib.compress(content, 9)
    resources = b"/Resources << /XObject << /Im0 5 0 R >> >>" if page_objects else b""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] %s /Contents 4 0 R >>" % (width, height,
                                                                                              resources),
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
               *page_objects]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def slow_pdf() -> bytes:
    """A 3 KB PDF whose one page takes pdfium minutes to draw (40,000 strokes 1000 points wide; half as many took
    53 s on a 2026 Xeon): a hostile page for render time limits."""
    return pdf_file([], content=b"1000 w 0 0 m 612 792 l S\n" * 40_000)
