"""`hpi ocr` (PaddleOCR's `paddleocr ocr` options) and the OCR options of `hpi serve`: results printed as PaddleX
prints them, JSON and drawing saved; every usage error exits 2 before any model is loaded."""
import json
import os
import subprocess
import sys

import pytest
from helpers import DATA

from hpi.cli import main

IMAGE = DATA / "ocr_images" / "ppocr_00009282.jpg"


@pytest.fixture(scope="module")
def onnx_dirs(ocr_dirs):
    """ocr_dirs["onnx"] as the CLI's flags."""
    return [part for name, path in ocr_dirs["onnx"].items() for part in (f"--{name}", str(path))]


def test_ocr_prints_and_saves(onnx_dirs, tmp_path, capsys):
    code = main(["ocr", "-i", str(IMAGE), "--use_hpip", "--device", "cpu", *onnx_dirs, "--save_path", str(tmp_path),
                 "--text_rec_score_thresh", "0.5", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)["res"]
    assert printed["input_path"] == str(IMAGE) and "洗涤说明" in printed["rec_texts"]
    assert printed["text_rec_score_thresh"] == 0.5 and printed["model_settings"]["use_textline_orientation"]
    saved = json.loads((tmp_path / "ppocr_00009282_res.json").read_text("utf-8"))
    assert saved["rec_texts"] == printed["rec_texts"]
    assert (tmp_path / "ppocr_00009282_ocr_res_img.jpg").stat().st_size > 0


def test_ocr_paddleocr_spellings(onnx_dirs, capsys):
    """--enable_hpi True and --use_textline_orientation False, as `paddleocr ocr` takes them."""
    code = main(["ocr", "-i", str(IMAGE), "--enable_hpi", "True", "--device", "cpu", *onnx_dirs,
                 "--use_textline_orientation", "False", "--text_det_box_thresh", "0.5", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)["res"]
    assert set(printed["textline_orientation_angles"]) == {-1} and printed["text_det_params"]["box_thresh"] == 0.5


@pytest.mark.parametrize("args, message", [
    (["--use_doc_unwarping", "sometimes"], "expected a boolean (True/False), got 'sometimes'"),
    (["--return_word_box", "True"], "return_word_box=True is not supported"),
    (["--text_det_thresh", "1.5"], "text_det_thresh"),
    (["--text_det_unclip_ratio", "1e30"], "bad value 1e+30 for text_det_unclip_ratio: expected a number in (0, 100]"),
    (["--text_rec_score_thresh", "nan"], "bad value nan for text_rec_score_thresh: expected a number in [0, 1]"),
    (["--text_det_max_side_limit", "100000"], "bad value 100000 for text_det_max_side_limit: expected an integer "
                                              "from 1 to 8192"),
    (["--text_recognition_batch_size", "0"], "expected an integer >= 1"),
    (["--text_det_limit_type", "mid"], "invalid choice"),
    (["--text_detection_model_dir", "/nonexistent/det"], "does not exist"),
    (["--lang", "ka"], "PaddleOCR 3.7 runs PP-OCRv3_mobile_det + ka_PP-OCRv3_mobile_rec, and hpi's catalog"),
    (["--lang", "en", "--ocr_version", "PP-OCRv3"], "versions hpi has for lang='en': PP-OCRv4, PP-OCRv5, PP-OCRv6"),
    (["--ocr_version", "PP-OCRv9"], "invalid choice"),
    (["--engine", "transformers"], "engine='transformers' is not supported: hpi runs PaddleX's exported"),
    (["--precision", "int8"], "invalid choice"),
    (["--paddlex_config", "OCR.yaml"], "paddlex_config is not supported"),
])
def test_usage_errors_exit_2_before_loading(args, message):
    run = subprocess.run([sys.executable, "-m", "hpi", "ocr", "-i", str(IMAGE), *args], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "HPI_MODEL_SOURCES": "mirror",
                                                      "HPI_MODEL_MIRROR": "http://127.0.0.1:9/closed"})
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


def test_compact_print_by_default_and_one_backend_line(onnx_dirs, capsys):
    """PaddleOCR's print of a result (arrays cut short), not indented JSON; `backend:` once, and only that of the
    CLI's own lines; --log_level ERROR silences it."""
    assert main(["ocr", "-i", str(IMAGE), "--engine", "onnxruntime", "--cpu_threads", "1", "--device", "cpu",
                 *onnx_dirs]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("{'res': {'input_path': ") and "'洗涤说明'" in captured.out
    assert "'dt_polys': array([[[" in captured.out and "...," in captured.out
    assert len(captured.out.splitlines()) < 40
    assert captured.err.count("backend: ") == 1 and "text_detection onnxruntime" in captured.err
    assert "Processed item" not in captured.err
    assert main(["--log_level", "ERROR", "ocr", "-i", str(IMAGE), "--engine", "onnxruntime", "--device", "cpu",
                 *onnx_dirs]) == 0
    assert capsys.readouterr().err == ""


def test_lang_routes_to_paddleocrs_models():
    """--lang en --ocr_version PP-OCRv5: PaddleOCR 3.7's models are what is fetched (no source here: exit 1)."""
    run = subprocess.run([sys.executable, "-m", "hpi", "ocr", "-i", str(IMAGE), "--lang", "en", "--ocr_version",
                          "PP-OCRv5", "--device", "cpu"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HPI_MODEL_SOURCES": "mirror",
                              "HPI_MODEL_MIRROR": "http://127.0.0.1:9/closed"})
    assert run.returncode == 1 and "PP-OCRv5_server_det" in run.stderr and "Traceback" not in run.stderr


def test_lang_with_model_dirs_is_ignored_with_a_warning(onnx_dirs, capsys):
    assert main(["ocr", "-i", str(IMAGE), "--lang", "fr", "--use_hpip", "--device", "cpu", *onnx_dirs]) == 0
    assert "lang and ocr_version are ignored" in capsys.readouterr().err


def test_pdf_dependency_checked_before_any_model_loads(monkeypatch, tmp_path, capsys):
    import hpi._deps
    import hpi.pipelines
    from hpi.errors import MissingDependencyError

    def missing(module):
        raise MissingDependencyError(f"{module!r} is required here; pip install 'hpi-runtime[pdf]'")

    monkeypatch.setattr(hpi._deps, "require", missing)
    monkeypatch.setattr(hpi.pipelines, "OCR", lambda **options: pytest.fail("a model was loaded"))
    assert main(["ocr", "-i", str(tmp_path / "scan.PDF"), "--device", "cpu"]) == 1
    assert "pypdfium2" in capsys.readouterr().err


def test_bad_input_exits_1_and_skip_goes_on(onnx_dirs, tmp_path, capsys):
    missing = str(tmp_path / "missing.png")
    assert main(["ocr", "-i", missing, "--use_hpip", "--device", "cpu", *onnx_dirs]) == 1
    assert "missing.png" in capsys.readouterr().err
    code = main(["ocr", "-i", missing, str(IMAGE), "--use_hpip", "--device", "cpu", *onnx_dirs,
                 "--on_bad_input", "skip", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["res"]["input_path"] == str(IMAGE)


@pytest.mark.parametrize("args, message", [
    (["--pipeline", "OCR", "--model_dir", "."], "not --model_dir"),
    (["--text_recognition_model_dir", "."], "for `hpi serve --pipeline OCR`"),
    (["--pipeline", "OCR", "--ray"], "does not run on Ray Serve"),
    (["--pipeline", "OCR", "--return_word_box", "True"], "not supported"),
])
def test_serve_ocr_usage_errors_exit_2(args, message, capsys):
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_ocr_options_are_ocrs_own_names():
    """The parser declares each OCR option's type and help; the names are OCR's constructor's (settings.py), all
    of them, and PaddleOCR's options OCR takes: nothing the CLI hands on can be unknown to OCR."""
    from hpi.cli import build_parser
    from hpi.pipelines.ocr.settings import ALL_NAMES, CONSTRUCTOR_NAMES

    for command in (["ocr", "-i", "x.png"], ["serve"]):
        names = set(build_parser().parse_args(command).ocr_option_names)
        assert set(CONSTRUCTOR_NAMES) <= names and names <= set(ALL_NAMES) | {"paddlex_config"}  # refused by OCR


def test_serve_flags_are_serve_settings_fields():
    """hpi serve's limits and batching flags are ServeSettings' fields; a flag not given is the field's default."""
    import dataclasses

    from hpi.cli import build_parser
    from hpi.cli.serve import serve_settings
    from hpi.serving import ServeSettings

    args = build_parser().parse_args(["serve"])
    assert set(args.serve_setting_names) == {field.name for field in dataclasses.fields(ServeSettings)}
    assert serve_settings(args) == ServeSettings()
    given = build_parser().parse_args(["serve", "--max_image_pixels", "0", "--batch_wait_ms", "0"])
    assert serve_settings(given) == ServeSettings(max_image_pixels=0, batch_wait_ms=0)


def test_serve_pipeline_plans_once(onnx_dirs, tmp_path):
    """`hpi serve --pipeline OCR` checks every option (OCR.check) and loads that very plan (OCR.from_plan): the
    hpi_config file is read once, and the pipeline is the one OCR(**options) makes."""
    config = tmp_path / "f.yaml"
    config.write_text("backend: onnxruntime\n", encoding="utf-8")
    options = dict(zip([flag[2:] for flag in onnx_dirs[::2]], onnx_dirs[1::2]))
    code = f"""
import os, sys
target, opened = os.path.realpath({str(config)!r}), []
sys.addaudithook(lambda event, args: opened.append(1) if event == "open" and isinstance(args[0], str)
                 and os.path.realpath(args[0]) == target else None)
from hpi import OCR
options = dict({options!r}, hpi_config={str(config)!r}, use_hpip=True, device="cpu")
with OCR.from_plan(OCR.check(**options)) as pipeline:
    print(len(opened), {{name: config["backend"] for name, config in pipeline.config.items()}})
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.splitlines()[-1] == ("1 {'text_detection': 'onnxruntime', 'textline_orientation': "
                                           "'onnxruntime', 'text_recognition': 'onnxruntime'}"), run.stderr[-2000:]
