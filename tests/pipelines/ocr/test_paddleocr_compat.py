"""PaddleOCR 3.7's API on hpi's OCR pipeline: lang / ocr_version routing to catalog models, engine / engine_config
and the common inference options mapped onto use_hpip / hpi_config (or logged, or refused with the equivalent),
`PaddleOCR` and its deprecated `.ocr()`. Routing and mapping are checked on the resolved Plan: nothing downloads."""
import logging
import warnings

import pytest

from hpi import OCR, PaddleOCR
from hpi.errors import ConfigError
from hpi.pipelines.ocr.langs import paddleocr_models
from hpi.pipelines.ocr.settings import Plan

from helpers import DATA

PHOTO = DATA / "ocr_images" / "ppocr_00009282.jpg"


def plan(**options) -> Plan:
    return OCR.check(**options)


def names(p: Plan):
    return p.models["text_detection"]["model_name"], p.models["text_recognition"]["model_name"]


@pytest.mark.parametrize("lang, version, det, rec", [
    (None, None, "PP-OCRv6_medium_det", "PP-OCRv6_medium_rec"),
    ("en", None, "PP-OCRv6_medium_det", "PP-OCRv6_medium_rec"),
    ("fr", None, "PP-OCRv6_medium_det", "PP-OCRv6_medium_rec"),
    (None, "PP-OCRv5", "PP-OCRv5_server_det", "PP-OCRv5_server_rec"),
    ("en", "PP-OCRv5", "PP-OCRv5_server_det", "en_PP-OCRv5_mobile_rec"),
    ("fr", "PP-OCRv5", "PP-OCRv5_server_det", "latin_PP-OCRv5_mobile_rec"),
    ("ru", None, "PP-OCRv5_server_det", "eslav_PP-OCRv5_mobile_rec"),
    ("bg", None, "PP-OCRv5_server_det", "cyrillic_PP-OCRv5_mobile_rec"),
    ("ar", None, "PP-OCRv5_server_det", "arabic_PP-OCRv5_mobile_rec"),
    ("hi", None, "PP-OCRv5_server_det", "devanagari_PP-OCRv5_mobile_rec"),
    ("korean", None, "PP-OCRv5_server_det", "korean_PP-OCRv5_mobile_rec"),
    ("th", None, "PP-OCRv5_server_det", "th_PP-OCRv5_mobile_rec"),
    ("pi", None, "PP-OCRv5_server_det", "latin_PP-OCRv5_mobile_rec"),  # the Latin language v6 leaves out
    ("japan", "PP-OCRv5", "PP-OCRv5_server_det", "PP-OCRv5_server_rec"),
    ("ch", "PP-OCRv4", "PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec"),
    ("en", "PP-OCRv4", "PP-OCRv4_mobile_det", "en_PP-OCRv4_mobile_rec"),
])
def test_lang_and_ocr_version_route_as_paddleocr_37(lang, version, det, rec):
    p = plan(lang=lang, ocr_version=version)
    assert names(p) == (det, rec)
    assert p.defaults.use_textline_orientation  # PaddleOCR's default with no model given


def test_paddleocr_table_outside_the_catalog():
    """PP-OCRv3 detection is PaddleOCR's pick for v3 and for Georgian, and not in hpi's catalog."""
    assert paddleocr_models("ka", None) == ("PP-OCRv3_mobile_det", "ka_PP-OCRv3_mobile_rec")
    assert paddleocr_models("fr", "PP-OCRv3") == ("PP-OCRv3_mobile_det", "latin_PP-OCRv3_mobile_rec")


@pytest.mark.parametrize("options, message", [
    ({"lang": "en", "ocr_version": "PP-OCRv3"}, "has no PP-OCRv3_mobile_det; versions hpi has for lang='en': "
                                                "PP-OCRv4, PP-OCRv5, PP-OCRv6"),
    ({"lang": "ka"}, "hpi has no model for lang='ka'"),
    ({"lang": "xx"}, "PaddleOCR 3.7 has no models for this"),
    ({"lang": "ru", "ocr_version": "PP-OCRv6"}, "languages hpi has for PP-OCRv6: af,"),
    ({"ocr_version": "PP-OCRv9"}, "invalid ocr_version 'PP-OCRv9'"),
    ({"ocr_version": "v5", "text_detection_model_dir": "d"}, "invalid ocr_version 'v5'"),  # checked even then
])
def test_routing_refusals_name_what_exists(options, message):
    with pytest.raises(ConfigError) as caught:
        plan(**options)
    assert message in str(caught.value)


def test_explicit_models_win_over_lang(caplog):
    with caplog.at_level(logging.WARNING, logger="hpi"):
        p = plan(lang="fr", ocr_version="PP-OCRv5", text_recognition_model_dir="rec")
    assert p.models["text_recognition"] == {"model_name": None, "model_dir": "rec"}
    assert p.models["text_detection"]["model_name"] == "PP-OCRv6_medium_det"  # OCR.yaml's, as PaddleOCR
    assert "lang and ocr_version are ignored" in caplog.text


# -- engine, engine_config and the common options -----------------------------------------------------------------
@pytest.mark.parametrize("options, use_hpip, config", [
    ({"engine": "onnxruntime"}, True, {"backend": "onnxruntime"}),
    ({"engine": "openvino", "engine_config": {"precision": "bf16"}}, True,
     {"backend": "openvino", "backend_config": {"precision": "bf16"}}),
    ({"engine": "onnxruntime", "engine_config": {"intra_op_num_threads": 3, "providers": ["CPUExecutionProvider"]}},
     True, {"backend": "onnxruntime", "backend_config": {"cpu_num_threads": 3, "execution_provider": "cpu"}}),
    ({"engine": "onnxruntime", "engine_config": {"onnxruntime": {"cpu_num_threads": 1}, "paddle_static": {}}}, True,
     {"backend": "onnxruntime", "backend_config": {"cpu_num_threads": 1}}),
    ({"engine": "hpi", "engine_config": {"backend": "openvino", "auto_config": False}}, True,
     {"backend": "openvino", "auto_config": False}),
    ({"use_hpip": True, "engine_config": {"hpi": {"backend": "onnxruntime"}}}, True, {"backend": "onnxruntime"}),
    ({"engine": "paddle", "cpu_threads": 3, "enable_mkldnn": False, "device": "cpu"}, False,
     {"backend": "paddle", "backend_config": {"cpu_num_threads": 3, "run_mode": "paddle"}}),
    ({"engine": "paddle_static", "engine_config": {"run_mode": "mkldnn", "cpu_threads": 2}}, False,
     {"backend": "paddle", "backend_config": {"run_mode": "mkldnn", "cpu_threads": 2}}),
    ({"use_hpip": False, "mkldnn_cache_capacity": 20, "device": "cpu"}, False,
     {"backend": "paddle", "backend_config": {"mkldnn_cache_capacity": 20}}),
    ({"use_hpip": True, "cpu_threads": 2}, True, {"backend_config": {"cpu_num_threads": 2}}),
    ({"engine": "onnxruntime", "hpi_config": {"backend_config": {"num_streams": 1}}, "cpu_threads": 1}, True,
     {"backend": "onnxruntime", "backend_config": {"num_streams": 1, "cpu_num_threads": 1}}),
])
def test_engine_options_map_onto_hpi_config(options, use_hpip, config):
    p = plan(**options)
    assert p.use_hpip is use_hpip
    assert p.hpi_configs == {name: config for name in ("text_detection", "textline_orientation", "text_recognition",
                                                       "doc_orientation_classify", "doc_unwarping")}


@pytest.mark.parametrize("options, logged", [
    ({"use_hpip": False, "enable_cinn": True}, "enable_cinn=True is ignored: hpi has no CINN compiler"),
    ({"use_hpip": False, "use_tensorrt": True, "device": "cpu"}, "use_tensorrt=True is ignored on the CPU"),
    ({"use_hpip": False, "precision": "fp16", "device": "cpu"}, "precision='fp16' is ignored without use_tensorrt"),
    ({"use_hpip": True, "enable_mkldnn": False}, "enable_mkldnn=False is ignored: it sets Paddle Inference"),
    ({"engine": "onnxruntime", "engine_config": {"graph_optimization_level": 99}},
     "engine_config['graph_optimization_level'] is ignored"),
    ({"engine": "onnxruntime", "engine_config": {}, "cpu_threads": 4}, "cpu_threads=4 is ignored: engine_config"),
    ({"engine": "paddle", "use_hpip": True}, "use_hpip=True is ignored: engine='paddle' runs Paddle Inference"),
    ({"engine": "onnxruntime", "engine_config": {"paddle_static": {}}}, "no entry for the engine that runs"),
])
def test_options_without_effect_are_logged(options, logged, caplog):
    with caplog.at_level(logging.INFO, logger="hpi"):
        plan(**options)
    assert logged in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"engine": "transformers"}, "engine='transformers' is not supported: hpi runs PaddleX's exported"),
    ({"engine": "paddle_dynamic"}, "engine='onnxruntime' / 'openvino'"),
    ({"engine": "vllm"}, "unknown engine 'vllm'; supported: ['hpi', 'onnxruntime', 'openvino', 'paddle'"),
    ({"engine": "onnxruntime", "engine_config": {"bogus": 1}}, "engine_config keys ['bogus'] are not options of "
                                                               "onnxruntime; allowed: ['batching'"),
    ({"engine": "onnxruntime", "engine_config": {"providers": ["ROCMExecutionProvider"]}}, "ROCMExecutionProvider"),
    ({"engine_config": {"onnxruntime": {}, "cpu_threads": 1}}, "cannot mix per-engine keys ['onnxruntime']"),
    ({"engine": "hpi", "engine_config": {"backend_cfg": {}}}, "not PaddleX's HPIConfig keys"),
    ({"engine": "onnxruntime", "hpi_config": {"backend": "openvino"}}, "hpi_config.backend is 'openvino', but the "
                                                                       "engine options ask for 'onnxruntime'"),
    ({"precision": "int8"}, "invalid precision 'int8'; supported: ['fp32', 'fp16']"),
    ({"engine": "openvino", "engine_config": {"intra_op_num_threads": 1}}, "not options of openvino"),
    ({"paddlex_config": "OCR.yaml"}, "paddlex_config is not supported"),
    ({"engine_config": "x"}, "engine_config must be a dict"),
])
def test_engine_refusals_name_the_equivalent(options, message):
    with pytest.raises(ConfigError) as caught:
        plan(**options)
    assert message in str(caught.value)


def test_tensorrt_options_on_a_gpu_map_to_tensorrt(monkeypatch):
    """use_tensorrt/precision as PaddleOCR on a GPU: Paddle-TensorRT in normal mode, TensorRT in high-performance."""
    from hpi.runtime import engine_args
    from hpi.runtime.device import Device

    monkeypatch.setattr(engine_args, "parse_device", lambda device: Device("gpu", 0))
    assert plan(use_hpip=False, use_tensorrt=True, precision="fp16").hpi_configs["text_recognition"] == \
        {"backend": "paddle", "backend_config": {"run_mode": "trt_fp16"}}
    assert plan(use_hpip=True, use_tensorrt=True).hpi_configs["text_recognition"] == \
        {"backend": "tensorrt", "backend_config": {"precision": "fp32"}}
    assert plan(engine="onnxruntime", use_tensorrt=True, precision="fp16").hpi_configs["text_recognition"] == \
        {"backend": "onnxruntime", "backend_config": {"execution_provider": "tensorrt", "precision": "fp16"}}


# -- PaddleOCR and .ocr() on a real photo -------------------------------------------------------------------------
def test_paddleocr_engine_onnxruntime_and_deprecated_ocr(ocr_dirs):
    from capabilities import HAS_ONNXRUNTIME

    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    assert PaddleOCR is OCR
    with PaddleOCR(**ocr_dirs["onnx"], device="cpu", engine="onnxruntime", cpu_threads=1) as ocr:
        assert {c["backend"] for c in ocr.config.values()} == {"onnxruntime"}
        assert {c["cpu_num_threads"] for c in ocr.config.values()} == {1}
        with pytest.warns(DeprecationWarning, match="Please use `predict` instead"):
            results = ocr.ocr(str(PHOTO), text_rec_score_thresh=0.5)
        predicted = ocr.predict(str(PHOTO), text_rec_score_thresh=0.5)
        with pytest.raises(ConfigError, match="use_textline_orientation=True/False"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ocr.ocr(str(PHOTO), cls=True)
    # PaddleOCR 3.7's ocr() is predict(): one OCRResult per image, not 2.x's [[box, (text, score)], ...]
    assert len(results) == 1 and results[0].json == predicted[0].json
    assert "洗涤说明" in results[0]["rec_texts"] and results[0]["text_rec_score_thresh"] == 0.5


def test_a_module_takes_paddleocr_engine_options(v4_onnx_dir, samples_dir):
    """PaddleOCR 3.5+ takes engine / engine_config / cpu_threads on every model too, not only on the pipeline."""
    from hpi import TextRecognition

    with TextRecognition(model_dir=v4_onnx_dir, device="cpu", engine="openvino", cpu_threads=1) as model:
        assert (model.use_hpip, model.backend, model.config["cpu_num_threads"]) == (True, "openvino", 1)
        assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == "Hello World 2026"
    with TextRecognition(model_dir=v4_onnx_dir, device="cpu", engine="onnxruntime",
                         engine_config={"onnxruntime": {"intra_op_num_threads": 2}}) as model:
        assert (model.backend, model.config["cpu_num_threads"]) == ("onnxruntime", 2)
    with pytest.raises(ConfigError, match="engine='transformers' is not supported"):
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", engine="transformers")
    with pytest.raises(ConfigError, match="unknown argument"):
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", engine_typo="onnxruntime")
