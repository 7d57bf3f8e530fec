"""Liveness, readiness while the model loads (or fails to), metrics that move, a failing batch that does not
end the worker."""
import threading
import time

import pytest
from serving_helpers import LiveServer, b64, get, metric, post

from hpi import TextRecognition
from hpi.errors import ModelDirError
from hpi.serving import create_app

ENDPOINT = "/text-recognition"


def wait_for(check, seconds=30):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ready_only_once_the_model_is_loaded(tiny_model_dir, samples_dir):
    release = threading.Event()

    def load():
        release.wait(30)
        return TextRecognition(model_dir=tiny_model_dir, device="cpu", use_hpip=True)

    with LiveServer(create_app(load_model=load)) as live:
        status, health = get(live.url + "/health")
        assert status == 200 and '"errorCode":0' in health and "Healthy" in health
        status, ready = get(live.url + "/ready")
        assert status == 503 and "still loading" in ready
        status, body = post(live.url + ENDPOINT, {"file": b64(samples_dir / "hello_world.png")})
        assert status == 503 and body["errorMsg"] == "the model is still loading"
        assert metric(get(live.url + "/metrics")[1], "hpi_model_ready") == 0
        release.set()
        wait_for(lambda: get(live.url + "/ready")[0] == 200)
        status, body = post(live.url + ENDPOINT, {"file": b64(samples_dir / "hello_world.png")})
        assert status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"
        assert metric(get(live.url + "/metrics")[1], "hpi_model_ready") == 1
        assert get(live.url + "/health")[0] == 200


def test_a_model_that_cannot_be_loaded_leaves_the_server_not_ready(tmp_path):
    reported = []

    def load():
        raise ModelDirError(f"no model in {tmp_path}")

    with LiveServer(create_app(load_model=load, on_load_error=reported.append)) as live:
        wait_for(lambda: reported)
        status, ready = get(live.url + "/ready")
        assert status == 503 and "could not be loaded: no model in" in ready
        assert get(live.url + "/health")[0] == 200
    assert isinstance(reported[0], ModelDirError)


def test_metrics_move_with_requests(server, samples_dir):
    line = b64(samples_dir / "hello_world.png")
    status, before = get(server.url + "/metrics")
    assert status == 200
    assert post(server.url + ENDPOINT, {"files": [line, line]})[0] == 200
    assert post(server.url + ENDPOINT, {"file": "@@"})[0] == 422
    import urllib.request

    with urllib.request.urlopen(server.url + "/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        after = response.read().decode()

    def moved(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert moved("hpi_http_requests_total", endpoint=ENDPOINT, code="200") == 1
    assert moved("hpi_http_requests_total", endpoint=ENDPOINT, code="422") == 1
    assert moved("hpi_http_requests_total", endpoint="/metrics", code="200") == 1  # the first /metrics
    assert moved("hpi_http_errors_total", code="422") == 1
    assert moved("hpi_lines_recognized_total") == 2
    assert moved("hpi_batch_lines_count") == 1 and moved("hpi_batch_lines_sum") == 2
    assert moved("hpi_http_request_duration_seconds_count", endpoint=ENDPOINT) == 2
    assert moved("hpi_http_request_duration_seconds_bucket", endpoint=ENDPOINT, le="+Inf") == 2
    assert "# TYPE hpi_queue_lines gauge\nhpi_queue_lines 0\n" in after
    assert "# TYPE hpi_http_request_duration_seconds histogram" in after


class FailsOnWideLines:
    """The real model, with a fault injected: predict raises when a line is wider than 1000 px."""

    def __init__(self, model):
        self.model, self.use_hpip = model, model.use_hpip

    def predict(self, images, **kwargs):
        if any(image.shape[1] > 1000 for image in images):
            raise RuntimeError("injected fault")
        return self.model.predict(images, **kwargs)


def test_a_failing_batch_answers_500_and_the_worker_goes_on(serve, rec_model, samples_dir, caplog):
    import logging

    import cv2
    import numpy as np

    serving_log = logging.getLogger("hpi.serving")
    serving_log.addHandler(caplog.handler)  # whatever the CLI's tests did to the hpi logger's propagation

    wide = cv2.imencode(".png", np.full((40, 1200, 3), 255, np.uint8))[1].tobytes()
    line = b64(samples_dir / "hello_world.png")
    with serve(model=FailsOnWideLines(rec_model), batch_workers=1) as live:
        for _ in range(2):
            status, body = post(live.url + ENDPOINT, {"file": b64(wide), "logId": "boom"})
            assert status == 500 and body["logId"] == "boom" and "internal server error" in body["errorMsg"]
            status, body = post(live.url + ENDPOINT, {"file": line})
            assert status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"
    serving_log.removeHandler(caplog.handler)
    assert "injected fault" in caplog.text  # logged, with its traceback


@pytest.mark.parametrize("settings, phrase", [
    ({"max_lines_per_request": 10, "max_queue_lines": 5}, "must not exceed max_queue_lines"),
    ({"batch_wait_ms": -1}, "batch_wait_ms"), ({"max_body_mb": 0}, "max_body_mb"),
    ({"batch_workers": 0}, "batch_workers"), ({"max_image_pixels": -5}, "max_image_pixels"),
])
def test_bad_settings_are_config_errors(settings, phrase):
    from hpi.errors import ConfigError
    from hpi.serving import ServeSettings

    with pytest.raises(ConfigError, match=phrase):
        ServeSettings(**settings)
