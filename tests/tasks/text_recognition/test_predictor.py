"""The prediction pipeline: read-ahead, streams, order, errors, early stop, and reduced-precision widths."""
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO

from hpi import TextRecognition
from hpi.errors import ConfigError, InputError
from hpi.tasks.text_recognition.predictor import REDUCED_PRECISION_WIDTH_MULTIPLE
from hpi.tasks.text_recognition.preprocess import target_width

pytestmark = pytest.mark.skipif(not (HAS_ONNXRUNTIME and HAS_OPENVINO), reason="needs the cpu extra")


@pytest.fixture(scope="module")
def streamed(v4_onnx_dir):
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": "onnxruntime", "backend_config": {"num_streams": 2}})
    yield model
    model.close()


def test_streams_give_batch_1_text_in_input_order(streamed, lines, golden):
    paths, _ = lines
    assert streamed._backend.stream_count == 2
    results = streamed.predict(paths[:80], batch_size=8)  # two windows of 64 and 16 lines
    assert [r["input_path"] for r in results] == paths[:80]
    assert [r["rec_text"] for r in results] == [g["rec_text"] for g in golden["results"]["1"][:80]]


def test_batch_size_1_over_many_lines_matches_single_calls(streamed, lines):
    paths, _ = lines
    together = [(r["rec_text"], r["rec_score"]) for r in streamed.predict(paths[:6], batch_size=1)]
    alone = [(r["rec_text"], r["rec_score"]) for p in paths[:6] for r in streamed.predict(p)]
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert np.allclose([s for _, s in together], [s for _, s in alone], atol=1e-5)


def test_a_bad_input_comes_after_every_line_before_it(streamed, lines, tmp_path):
    paths, _ = lines
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    inputs = paths[:20] + [str(broken)] + paths[20:30]
    seen = []
    with pytest.raises(InputError, match="broken.png.*could not be decoded") as raised:
        for result in streamed.predict_iter(inputs, batch_size=2):  # windows of 16 lines
            seen.append(result["input_path"])
    assert seen == paths[:20]  # the lines read in the bad input's window before it come out too
    assert raised.value.source == str(broken)


def test_bad_inputs_skipped_and_reported(streamed, lines, tmp_path):
    paths, _ = lines
    empty, missing = tmp_path / "empty.png", tmp_path / "missing.png"
    empty.write_bytes(b"")
    inputs = [paths[0], str(empty), paths[1], str(missing), np.zeros((0, 5, 3), np.uint8), paths[2]]
    reported = []
    results = streamed.predict(inputs, batch_size=8, on_bad_input=reported.append)
    assert [r["input_path"] for r in results] == paths[:3]
    assert [r["rec_text"] for r in results] == [r["rec_text"] for r in streamed.predict(paths[:3])]
    assert [error.source for error in reported] == [str(empty), str(missing), "input[4]"]
    assert all(isinstance(error, InputError) for error in reported)
    with pytest.raises(ConfigError, match="on_bad_input"):
        streamed.predict(paths[0], on_bad_input="ignore")


def test_skip_logs_a_warning_naming_the_input(streamed, lines, tmp_path, caplog):
    paths, _ = lines
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with caplog.at_level("WARNING", logger="hpi"):
        results = streamed.predict([str(empty), paths[0]], on_bad_input="skip")
    assert [r["input_path"] for r in results] == [paths[0]]
    assert any("empty.png" in record.getMessage() for record in caplog.records)


def test_same_file_names_in_different_folders_save_to_distinct_files(streamed, lines, tmp_path):
    paths, _ = lines
    first, second = tmp_path / "a" / "line.jpg", tmp_path / "b" / "line.jpg"
    for target, source in ((first, paths[0]), (second, paths[1])):
        target.parent.mkdir()
        target.write_bytes(Path(source).read_bytes())
    arrays = [cv2.imread(paths[2])] * 3
    out = tmp_path / "out"
    for result in streamed.predict([str(first), str(second), *arrays]):
        result.save_all(out)
    saved = sorted(p.name for p in out.iterdir())
    assert "line_res.json" in saved and "line_1_res.json" in saved
    assert len([name for name in saved if name.endswith("_res.json")]) == 5
    texts = {json.loads((out / name).read_text("utf-8"))["rec_text"] for name in ("line_res.json", "line_1_res.json")}
    assert texts == {r["rec_text"] for r in streamed.predict(paths[:2])}


def test_stopping_early_leaves_no_reader_thread(streamed, lines):
    paths, _ = lines
    before = {t.name for t in threading.enumerate() if t.name.startswith("hpi-read")}
    stream = streamed.predict_iter(paths, batch_size=8)
    assert next(stream)["input_path"] == paths[0]
    stream.close()
    after = {t.name for t in threading.enumerate() if t.name.startswith("hpi-read")}
    assert after <= before
    assert streamed.predict(paths[0])[0]["input_path"] == paths[0]  # the model still works


def test_fp32_keeps_paddlex_widths_and_bf16_pads_to_a_multiple(rec_on, v4_onnx_dir, lines):
    import cv2

    paths, labels = lines
    image = cv2.imread(paths[3])
    exact = rec_on("openvino")
    assert exact.preprocess(image)[0].shape[2] == target_width(*image.shape[:2])
    bf16 = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                           hpi_config={"backend": "openvino", "backend_config": {"precision": "bf16"}})
    if bf16.config["precision"] != "bf16":
        pytest.skip("this CPU has no bf16: OpenVINO runs f32")
    multiple = REDUCED_PRECISION_WIDTH_MULTIPLE
    for path in paths[:40]:
        image = cv2.imread(path)
        width = bf16.preprocess(image)[0].shape[2]
        assert width % multiple == 0 and 0 <= width - target_width(*image.shape[:2]) < multiple
    texts = [r["rec_text"] for r in bf16.predict(paths[:64], batch_size=8)]
    correct = sum(t.replace(" ", "") == l.replace(" ", "") for t, l in zip(texts, labels[:64]))
    assert correct >= 56  # 60 of these 64 are right in FP32; bf16 with padding stays close
    bf16.close()
