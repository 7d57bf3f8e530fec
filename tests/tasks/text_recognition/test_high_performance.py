"""High-performance mode: same text as PaddleX's batch-1 output, batching that does not change results."""
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO

from hpi import TextRecognition
from hpi.tasks.text_recognition.metrics import accuracy as exact_accuracy

BACKENDS = [pytest.param("openvino", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="openvino missing")),
            pytest.param("onnxruntime", marks=pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime missing"))]
# Bucketing is the backends' shared batching (runtime/backends/base.py): OpenVINO's run is make test's, ONNX Runtime's
# (its lines one request each on the streams: 30 s for 320 on the 2-core Xeon) the slow tier's
BUCKET_LINES = 120  # several lines of each padded width: the batching, not the model's accuracy, is the point here
BUCKET_BACKENDS = [BACKENDS[0], pytest.param("onnxruntime", marks=[
    pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime missing"), pytest.mark.slow])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_8_agrees_with_paddlex_batch_1(backend, rec_on, lines, golden):
    paths, labels = lines
    model = rec_on(backend)
    assert model.backend == backend
    results = model.predict(paths, batch_size=8)
    assert [r["input_path"] for r in results] == paths  # input order kept though batches group by width
    reference = golden["results"]["1"]
    agreement = sum(r["rec_text"] == g["rec_text"] for r, g in zip(results, reference)) / len(paths)
    assert agreement >= 0.99
    accuracy = exact_accuracy([r["rec_text"] for r in results], labels)
    paddlex_accuracy = exact_accuracy([g["rec_text"] for g in reference], labels)
    assert abs(accuracy - paddlex_accuracy) <= 0.003


@pytest.mark.parametrize("backend", BUCKET_BACKENDS)
def test_bucket_batching_runs_equal_widths_together_and_keeps_every_text(backend, v4_onnx_dir, lines):
    """batching="buckets" (a CPU plan's alternative to one line per stream request): lines of one padded width go
    in one request of up to batch_size, and each line's text is what it is alone."""
    paths = lines[0][:BUCKET_LINES]
    alone = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": backend, "backend_config": {"batching": "per_stream"}})
    buckets = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                              hpi_config={"backend": backend, "backend_config": {"batching": "buckets"}})
    assert alone.config["batching"] == "per_stream" and buckets.config["batching"] == "buckets"
    assert alone._backend.items_per_request(8) == (1 if alone._backend.stream_count > 1 else 8)
    assert buckets._backend.items_per_request(8) == 8
    batches = []
    submit = buckets._backend.submit_batches
    buckets._backend.submit_batches = lambda many: batches.extend(many) or submit(many)
    expected = [r["rec_text"] for r in alone.predict(paths, batch_size=1)]
    assert [r["rec_text"] for r in buckets.predict(paths, batch_size=8)] == expected
    assert max(len(batch) for batch in batches) > 1 and len(batches) < len(paths)  # some lines ran together


def test_default_choice_on_the_cpu_is_its_class_plan(rec_on):
    """The first backend of this CPU class's plan (configs/cpu_plans.yaml), in FP32."""
    from hpi.runtime.device import Device
    from hpi.runtime.candidates import cpu_plan

    first = cpu_plan("PP-OCRv4_mobile_rec", Device("cpu")).order[0]["backend"]
    if not {"onnxruntime": HAS_ONNXRUNTIME, "openvino": HAS_OPENVINO}.get(first, False):
        pytest.skip(f"this CPU class's plan puts {first} first, which is not installed")
    model = rec_on()
    assert model.backend == first and model.config["precision"] == "fp32"


def test_openvino_precision_is_explicit(rec_on):
    if not HAS_OPENVINO:
        pytest.skip("openvino missing")
    model = rec_on("openvino")
    assert model.config["precision"] == "fp32"  # OpenVINO would pick bf16 by itself on CPUs that have it


def test_enable_hpi_is_a_synonym(v4_onnx_dir):
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", enable_hpi=True)
    assert model.use_hpip and model.backend in ("openvino", "onnxruntime")


def test_predict_iter_streams(rec_on, lines):
    paths, _ = lines
    model = rec_on()
    stream = model.predict_iter(paths[:20], batch_size=4)
    first = next(stream)
    assert first["input_path"] == paths[0]
    assert [r["input_path"] for r in stream] == paths[1:20]


@pytest.mark.parametrize("name, text", [
    ("PP-OCRv5_mobile_rec_onnx", "Hello World 2026"),
    ("PP-OCRv6_tiny_rec", "Hello World 2026"),
    ("PP-OCRv6_small_rec", "Hello World 2026"),
])
def test_other_real_models_read_a_line(models_root, samples_dir, name, text):
    model = TextRecognition(model_dir=models_root / name, device="cpu", use_hpip=True)
    (result,) = model.predict(str(samples_dir / "hello_world.png"))
    assert result["rec_text"] == text
    assert 0.9 < result["rec_score"] <= 1.0


def test_onnx_only_dir_cannot_run_normal_mode(v4_onnx_dir):
    from hpi.errors import ModelDirError

    with pytest.raises(ModelDirError, match="normal mode runs Paddle Inference"):  # asked for: a clear error
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=False)


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino missing")
def test_top1_output_reads_the_same_text_and_scores_as_the_whole_output(rec_on, v4_onnx_dir, lines):
    """OpenVINO computes the CTC decoder's top-1 class and probability in the model (output "top1", what
    TextRecognition asks for): every text and score equals decoding the whole softmax output."""
    paths, _ = lines
    top1 = rec_on("openvino")
    whole = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": "openvino", "backend_config": {"output": "full"}})
    assert (top1.config["output"], whole.config["output"]) == ("top1", "full")
    batch = top1.preprocess(top1.predict(paths[0])[0]["input_img"], None)[0][None]
    assert top1.infer(batch).shape[-1] == 2 and whole.infer(batch).shape[-1] == len(whole.decoder.characters)
    read = [(r["rec_text"], r["rec_score"]) for r in top1.predict(paths, batch_size=8)]
    assert read == [(r["rec_text"], r["rec_score"]) for r in whole.predict(paths, batch_size=8)]
