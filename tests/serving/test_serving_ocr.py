"""POST /ocr: PaddleX 3.7.2's OCR serving schema (request file/fileType + options; ocrResults with prunedResult,
ocrImage, inputImage; dataInfo) on a real pipeline, with /text-recognition's limits and URL rules."""
import base64
import json

import cv2
import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_PDFIUM
from helpers import DATA
from serving_helpers import LiveServer, b64, get, ocr_server, post

from hpi.serving import ServeSettings, create_app
from hpi.serving.ocr import OCRService

IMAGE = DATA / "ocr_images" / "ppocr_00009282.jpg"


@pytest.fixture(scope="module")
def onnx_dirs(ocr_dirs):
    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    return ocr_dirs["onnx"]


@pytest.fixture(scope="module")
def pipeline(onnx_dirs, hpip_ocr):
    """The session's high-performance OCR pipeline (ONNX Runtime) of the same dirs."""
    return hpip_ocr


@pytest.fixture(scope="module")
def server(pipeline):
    app = create_app(pipeline.text_rec_model, ocr=OCRService(pipeline=pipeline),
                     settings=ServeSettings(max_body_mb=1, max_lines_per_request=2))
    with LiveServer(app) as live:
        yield live


def test_ocr_result_is_paddlex_schema(server, pipeline):
    status, body = post(server.url + "/ocr", {"file": b64(IMAGE), "fileType": 1, "logId": "abc"})
    assert status == 200 and body["logId"] == "abc" and body["errorCode"] == 0 and body["errorMsg"] == "Success"
    (entry,) = body["result"]["ocrResults"]
    assert set(entry) == {"prunedResult", "ocrImage", "docPreprocessingImage", "inputImage"}
    expected = pipeline.predict(str(IMAGE))[0].json["res"]
    assert entry["prunedResult"] == {k: v for k, v in expected.items() if k not in ("input_path", "page_index")}
    assert entry["docPreprocessingImage"] is None
    drawing = cv2.imdecode(np.frombuffer(base64.b64decode(entry["ocrImage"]), np.uint8), cv2.IMREAD_COLOR)
    source = cv2.imread(str(IMAGE))
    assert drawing.shape == (source.shape[0], 2 * source.shape[1], 3)  # visualize defaults to true, as PaddleX's
    assert entry["inputImage"] and body["result"]["dataInfo"] == {"type": "image", "width": source.shape[1],
                                                                  "height": source.shape[0]}


def test_options_and_no_images(server):
    status, body = post(server.url + "/ocr", {"file": b64(IMAGE), "visualize": False, "useTextlineOrientation": False,
                                              "textRecScoreThresh": 0.98, "textDetBoxThresh": 0.5})
    assert status == 200, body
    (entry,) = body["result"]["ocrResults"]
    assert entry["ocrImage"] is None and entry["inputImage"] is None
    pruned = entry["prunedResult"]
    assert set(pruned["textline_orientation_angles"]) == {-1} and min(pruned["rec_scores"]) >= 0.98
    assert pruned["text_det_params"]["box_thresh"] == 0.5


@pytest.mark.parametrize("body, status, message", [
    ({"file": "not base64!"}, 422, "file is not valid base64"),
    ({"file": "/etc/passwd"}, 422, "never opens its own files"),
    ({"file": "https://example.com/a.png"}, 422, "does not fetch URLs"),
    ({"fileType": 1}, 422, "file"),
    ({"useDocUnwarping": True}, 422, "this pipeline has no document preprocessor"),
    ({"returnWordBox": True}, 422, "not supported"),
    ({"textDetThresh": 3}, 422, "text_det_thresh"),
    ({"textDetLimitType": "mid"}, 422, "limit_type"),
    ({"textDetUnclipRatio": 1e30}, 422, "text_det_unclip_ratio"),  # was a ZeroDivisionError: 500
    ({"textDetLimitSideLen": 100000}, 422, "text_det_limit_side_len"),
])
def test_errors(server, body, status, message):
    request = {"file": b64(IMAGE), **body} if "file" not in body and body.get("fileType") is None else body
    code, answer = post(server.url + "/ocr", request)
    assert code == status and answer["errorCode"] == status and message in answer["errorMsg"], answer
    assert "result" not in answer


def test_limits_are_the_servers(server, tmp_path):
    big = np.random.default_rng(0).integers(0, 255, (900, 900, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", big)
    code, answer = post(server.url + "/ocr", {"file": base64.b64encode(png.tobytes()).decode()})
    assert code == 413 and "max_body_mb" in answer["errorMsg"]
    if HAS_PDFIUM:
        from PIL import Image

        pdf = tmp_path / "three.pdf"
        page = Image.open(IMAGE).convert("RGB")
        page.save(pdf, save_all=True, append_images=[page, page])
        code, answer = post(server.url + "/ocr", {"file": b64(pdf), "fileType": 0})
        assert code == 413 and "max_lines_per_request" in answer["errorMsg"]


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2")
def test_pdf_pages(server, tmp_path):
    from PIL import Image

    pdf = tmp_path / "two.pdf"
    page = Image.open(IMAGE).convert("RGB")
    page.save(pdf, save_all=True, append_images=[page])
    code, answer = post(server.url + "/ocr", {"file": b64(pdf), "visualize": False})
    assert code == 200, answer
    result = answer["result"]
    assert len(result["ocrResults"]) == 2 and result["dataInfo"]["type"] == "pdf"
    assert result["dataInfo"]["numPages"] == 2


def test_text_recognition_still_served(server):
    line = cv2.imread(str(IMAGE))[55:81, 87:256]
    ok, png = cv2.imencode(".png", line)
    code, answer = post(server.url + "/text-recognition", {"files": [base64.b64encode(png.tobytes()).decode()]})
    assert code == 200 and answer["result"]["recResults"][0]["recText"].startswith("Meters")


def test_serve_pipeline_ocr_process(onnx_dirs):
    """`hpi serve --pipeline OCR` loads the pipeline in the background, answers /ocr, and stops cleanly."""
    server = ocr_server(onnx_dirs)
    try:
        code, body = post(server.url + "/ocr", {"file": b64(IMAGE), "visualize": False})
        assert code == 200 and "洗涤说明" in body["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]
        code, text = get(server.url + "/openapi.json")
        assert code == 200 and {"/ocr", "/text-recognition"} <= set(json.loads(text)["paths"])
    finally:
        status, stderr = server.stop()
    assert status == 0 and "Traceback" not in stderr, stderr


def test_no_ocr_route_without_a_pipeline(rec_model):
    with LiveServer(create_app(rec_model)) as live:
        code, answer = post(live.url + "/ocr", {"file": b64(IMAGE)})
    assert code == 404


def test_the_page_is_told_that_ocr_is_served(server, rec_model):
    """The page at / posted every file to /text-recognition; it now reads what the server serves from its body."""
    code, page = get(server.url + "/")
    assert code == 200 and '<body data-serves="text-recognition ocr">' in page
    with LiveServer(create_app(rec_model)) as live:
        code, page = get(live.url + "/")
    assert code == 200 and '<body data-serves="text-recognition">' in page


def test_doc_preprocessing_image_when_the_preprocessor_runs(doc_ocr):
    """A page photographed sideways: /ocr turns it upright (PaddleX's doc_preprocessor_res in prunedResult, pruned
    of input_path and page_index) and returns the preprocessor's drawing as docPreprocessingImage; null when the
    request turns it off."""
    photo = DATA / "doc_images" / "pyreform_sideways_stored.jpg"
    pipeline = doc_ocr  # the session's, with the orientation and unwarping models
    with LiveServer(create_app(pipeline.text_rec_model, ocr=OCRService(pipeline=pipeline))) as live:
        code, body = post(live.url + "/ocr", {"file": b64(photo), "useDocOrientationClassify": True,
                                              "useDocUnwarping": False})  # PaddleX: False alone turns both off
        assert code == 200, body
        (entry,) = body["result"]["ocrResults"]
        pruned = entry["prunedResult"]
        assert pruned["model_settings"]["use_doc_preprocessor"] is True
        assert pruned["doc_preprocessor_res"] == {"model_settings": {"use_doc_orientation_classify": True,
                                                                     "use_doc_unwarping": False}, "angle": 270}
        assert "Braised Chicken" in pruned["rec_texts"]
        source = cv2.imread(str(photo))
        drawing = cv2.imdecode(np.frombuffer(base64.b64decode(entry["docPreprocessingImage"]), np.uint8),
                               cv2.IMREAD_COLOR)
        # the photo, then twice the page turned upright, side by side, captions below
        width, height = source.shape[1] + 2 * source.shape[0], max(source.shape[:2]) + 25
        assert max(drawing.shape[:2]) == 2000 and abs(drawing.shape[1] / drawing.shape[0] - width / height) < 0.01
        ocr_drawing = cv2.imdecode(np.frombuffer(base64.b64decode(entry["ocrImage"]), np.uint8), cv2.IMREAD_COLOR)
        assert ocr_drawing.shape == (source.shape[1], 2 * source.shape[0], 3)  # on the page turned upright
        code, body = post(live.url + "/ocr", {"file": b64(photo), "useDocOrientationClassify": False,
                                              "useDocUnwarping": False})
        (entry,) = body["result"]["ocrResults"]
        assert code == 200 and entry["docPreprocessingImage"] is None and entry["ocrImage"]
        assert "doc_preprocessor_res" not in entry["prunedResult"]
