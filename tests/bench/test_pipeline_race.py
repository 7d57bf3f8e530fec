"""The OCR pipeline race: hpi's OCR against a real RapidOCR 3.x in its own venv (`make peers`), same ONNX
models, on real images; and its text comparison, which needs no model."""
import os
from pathlib import Path

import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO
from helpers import DATA

from hpi.bench.pipeline_race import OCRModels, race_ocr, race_table, same_lines

RAPIDOCR3_PYTHON = os.environ.get("HPI_TEST_RAPIDOCR3_PYTHON", "")
IMAGES = ["ppocr_1.jpg", "sroie_005.jpg"]


def test_same_lines_compares_each_image_as_a_multiset():
    reference = [["a", "b", "b"], ["c"], []]
    assert same_lines([["b", "a", "b"], ["c"], []], reference) == 1.0  # another order reads the same
    assert same_lines([["a", "b"], ["x"], ["extra"]], reference) == 2 / 4  # one b and c missed
    assert same_lines([[], [], []], [[], [], []]) == 1.0


@pytest.mark.skipif(not (HAS_ONNXRUNTIME and HAS_OPENVINO), reason="needs onnxruntime and openvino")
def test_race_against_a_real_rapidocr_pipeline(models_root):
    if not Path(RAPIDOCR3_PYTHON).is_file():
        pytest.skip("RapidOCR 3.x peer venv missing: run `make peers` (HPI_TEST_RAPIDOCR3_PYTHON)")
    models = OCRModels(models_root / "PP-OCRv4_mobile_det_onnx", models_root / "PP-OCRv4_mobile_rec_onnx",
                       models_root / "ppocr_mobile_v2_textline_ori_onnx")
    images = [str(DATA / "ocr_images" / name) for name in IMAGES]
    race = race_ocr(images, models, "cpu", {"rapidocr_ocr": RAPIDOCR3_PYTHON}, rounds=1, threads=2,
                    normal_mode=False)
    assert not race.skipped, race.skipped
    rows = {row.system: row for row in race.systems}
    assert set(rows) == {"hpi", "rapidocr_ocr"}
    hpi, rapid = rows["hpi"], rows["rapidocr_ocr"]
    assert rapid.version.startswith("rapidocr 3.") and hpi.reference == "hpi"
    assert hpi.same_text_as_reference == 1.0 and hpi.lines > 20 and hpi.images_per_s > 0
    # the same models with PaddleX's detection settings: most lines read the same (box sorting and crops differ)
    assert rapid.same_text_as_reference >= 0.8 and abs(rapid.lines - hpi.lines) <= 0.1 * hpi.lines
    assert set(hpi.stages_ms_per_image) == {"read", "detect", "crop", "orient", "recognize"}
    assert set(rapid.stages_ms_per_image) == {"det", "cls", "rec"}
    table = race_table(race)
    assert "| hpi |" in table and "| rapidocr_ocr | rapidocr 3." in table
    assert race.to_dict()["systems"][0]["images"] == 2


def test_cli_pipeline_race_checks_its_options_before_loading(tmp_path, capsys):
    from hpi.cli import main

    assert main(["benchmark", "--pipeline", "OCR", "--output", str(tmp_path / "out")]) == 2
    assert "--pipeline OCR needs --images" in capsys.readouterr().err
    code = main(["benchmark", "--pipeline", "OCR", "--output", str(tmp_path / "out"), "--images", str(tmp_path),
                 "--text_detection_model_dir", str(tmp_path), "--text_recognition_model_dir", str(tmp_path),
                 "--peer", "paddlex=python3"])
    assert code == 2 and "paddlex_ocr, rapidocr_ocr" in capsys.readouterr().err
    code = main(["benchmark", "--pipeline", "OCR", "--output", str(tmp_path / "out"), "--images", str(tmp_path),
                 "--text_detection_model_dir", str(tmp_path), "--text_recognition_model_dir", str(tmp_path)])
    assert code == 2 and "holds no images" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
