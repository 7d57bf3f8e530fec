"""`hpi serve --ray`: the app of hpi serve as a Ray Serve deployment, on a real local Ray cluster (2 CPUs, started once
for the module) answering over loopback: the same text as in-process predict, files in order, PaddleX's envelope,
bad requests -> 4xx with errorMsg and the deployment goes on, 8 concurrent clients, 2 replicas, and `hpi serve --ray
--address` joining the cluster until SIGTERM. Skipped when ray[serve] is not installed (the usage checks still run).
"""
import logging
import subprocess
import sys
import threading
import time

import pytest
from helpers import REPO
from serving_helpers import b64, free_port, get, metric, post

from hpi.cli import main
from hpi.errors import ConfigError

SETTINGS = {"max_body_mb": 1, "max_lines_per_request": 8, "max_queue_lines": 64,
            "batch_wait_ms": 300}  # a long gathering window: concurrent requests share predict calls


@pytest.fixture(scope="module")
def cluster(v4_onnx_dir):
    """A local Ray cluster with Serve's proxy on a free loopback port; shut down after the module."""
    pytest.importorskip("ray.serve", reason="ray[serve] is not installed (the 'ray' extra)")
    import ray
    from ray import serve

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config={"log_level": "WARNING"})
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def deploy(model_dir, **args):
    from ray import serve

    from hpi.serving.ray_app import APP_NAME, build_app

    app = build_app({"model_dir": str(model_dir), "use_hpip": "true", "replica_cpus": "1", **SETTINGS, **args})
    serve.run(app, name=APP_NAME, route_prefix="/", logging_config={"log_level": "WARNING"})


@pytest.fixture(scope="module")
def ray_url(cluster, v4_onnx_dir):
    deploy(v4_onnx_dir)
    return cluster


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_a_request_gets_the_text_of_predict_in_the_envelope(ray_url, rec_model, samples_dir):
    path = samples_dir / "hello_world.png"
    expected = rec_model.predict(str(path))[0]
    status, body = post(ray_url + "/text-recognition", {"file": b64(path), "fileType": 1, "logId": "ray-1"})
    assert status == 200, body
    assert body["logId"] == "ray-1" and body["errorCode"] == 0 and body["errorMsg"] == "Success"
    (line,) = body["result"]["recResults"]
    assert line["recText"] == expected["rec_text"] == "Hello World 2026" and line["pageIndex"] is None
    assert line["recScore"] == pytest.approx(expected["rec_score"], abs=1e-4)  # the replica runs 1 thread
    assert body["result"]["dataInfo"]["type"] == "image"


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_files_come_back_in_order_with_the_text_of_predict(ray_url, rec_model, lines):
    paths = lines[0][10:18]
    expected = [rec_model.predict(path)[0]["rec_text"] for path in paths]  # each line alone
    status, body = post(ray_url + "/text-recognition", {"files": [b64(p) for p in paths]})
    assert status == 200, body
    assert [r["recText"] for r in body["result"]["recResults"]] == expected


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_bad_requests_get_4xx_with_error_msg_and_the_deployment_goes_on(ray_url, lines):
    good = b64(lines[0][0])
    status, body = post(ray_url + "/text-recognition", {"files": [good, "not base64!"], "logId": "bad-1"})
    assert status == 422 and body["logId"] == "bad-1" and "files[1]" in body["errorMsg"], body
    status, body = post(ray_url + "/text-recognition", {"files": [good] * 9})
    assert status == 413 and "--max_lines_per_request" in body["errorMsg"], body
    status, body = post(ray_url + "/text-recognition", b"{not json", raw=True)
    assert status == 422 and "not valid JSON" in body["errorMsg"], body
    status, body = post(ray_url + "/text-recognition", b"x" * (1024 * 1024 + 1), raw=True)
    assert status == 413 and "--max_body_mb" in body["errorMsg"], body
    status, body = post(ray_url + "/text-recognition", {"file": good})
    assert status == 200 and body["result"]["recResults"][0]["recText"], body
    assert get(ray_url + "/health")[0] == 200 and get(ray_url + "/ready")[0] == 200
    page = get(ray_url + "/")
    assert page[0] == 200 and 'id="file"' in page[1]
    assert metric(get(ray_url + "/metrics")[1], "hpi_model_ready") == 1


def concurrent_clients(url, paths):
    answers = [None] * len(paths)
    start = threading.Barrier(len(paths))

    def client(index):
        start.wait()
        answers[index] = post(url + "/text-recognition", {"files": [b64(paths[index])], "logId": str(index)})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_8_concurrent_clients_each_get_their_own_line(ray_url, rec_model, lines):
    paths = lines[0][40:48]
    expected = [rec_model.predict(path)[0]["rec_text"] for path in paths]
    before = get(ray_url + "/metrics")[1]
    answers = concurrent_clients(ray_url, paths)
    after = get(ray_url + "/metrics")[1]
    for index, (status, body) in enumerate(answers):
        assert status == 200 and body["logId"] == str(index), body
        assert body["result"]["recResults"][0]["recText"] == expected[index]
    lines_run = metric(after, "hpi_batch_lines_sum") - metric(before, "hpi_batch_lines_sum")
    batches = metric(after, "hpi_batch_lines_count") - metric(before, "hpi_batch_lines_count")
    assert lines_run == 8 and batches < 8  # one replica: requests shared predict calls (@serve.batch)


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_two_replicas_answer_concurrent_clients(ray_url, v4_onnx_dir, rec_model, lines):
    from ray import serve

    from hpi.serving.ray_app import APP_NAME, DEPLOYMENT_NAME

    deploy(v4_onnx_dir, num_replicas=2)
    replicas = serve.status().applications[APP_NAME].deployments[DEPLOYMENT_NAME].replica_states
    assert replicas.get("RUNNING") == 2, replicas
    paths = lines[0][60:68]
    expected = [rec_model.predict(path)[0]["rec_text"] for path in paths]
    for index, (status, body) in enumerate(concurrent_clients(ray_url, paths)):
        assert status == 200 and body["result"]["recResults"][0]["recText"] == expected[index], body


@pytest.mark.slow  # a Ray cluster (make test-slow)
def test_hpi_serve_ray_joins_a_cluster_and_drains_on_sigterm(ray_url, cluster, tiny_model_dir, samples_dir):
    """The CLI with --address: it deploys on the running cluster (Serve's proxy is already up, on the module's
    port), serves until SIGTERM, answers the requests in flight, removes its application and exits 0; the cluster
    stays."""
    import ray
    from ray import serve

    serve.delete("hpi")  # the module's replicas hold both CPUs
    address = ray.get_runtime_context().gcs_address
    process = subprocess.Popen([sys.executable, "-m", "hpi", "--log_level", "WARNING", "serve", "--model_dir",
                                str(tiny_model_dir), "--use_hpip", "--device", "cpu", "--ray", "--address", address,
                                "--num_replicas", "1", "--replica_cpus", "1", "--batch_wait_ms", "1500",
                                "--port", str(free_port())],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            status = serve.status().applications.get("hpi")
            deployment = status and status.deployments.get("HpiTextRecognition")
            if deployment and str(status.status).endswith("RUNNING") and deployment.replica_states == {"RUNNING": 1}:
                break
            assert time.monotonic() < deadline, "hpi serve --ray did not deploy"
            time.sleep(0.5)
        line = b64(samples_dir / "hello_world.png")
        answers = {}

        def client(index):
            answers[index] = post(ray_url + "/text-recognition", {"file": line, "logId": str(index)})

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while metric(get(ray_url + "/metrics")[1], "hpi_queue_lines") < 4:  # waiting in @serve.batch's window
            assert time.monotonic() < deadline, "the requests were not queued"
            time.sleep(0.05)
        process.terminate()
        for thread in threads:
            thread.join(60)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    for index in range(4):
        status, body = answers[index]
        assert status == 200 and body["logId"] == str(index), body
        assert body["result"]["recResults"][0]["recText"] == "Hello World 2026"
    assert "hpi" not in serve.status().applications  # its application is gone, the cluster still answers
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2


# -- without a cluster ----------------------------------------------------------------------------------------------
def test_ray_options_need_ray_and_valid_values(capsys):
    assert main(["serve", "--model_dir", str(REPO), "--num_replicas", "2"]) == 2
    assert "--num_replicas need(s) --ray" in capsys.readouterr().err
    assert main(["serve", "--model_dir", str(REPO), "--ray", "--autoscaling", "3:1"]) == 2
    assert "MIN:MAX" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model_dir", str(REPO), "--ray", "--num_replicas", "2", "--autoscaling", "1:2"])
    assert exit_info.value.code == 2


def test_build_app_rejects_unknown_and_bad_args():
    from hpi.serving.ray_app import build_app

    with pytest.raises(ConfigError, match="unknown argument.*'replicas'"):
        build_app({"model_dir": str(REPO), "replicas": "2"})
    with pytest.raises(ConfigError, match="batch_wait_ms must be a number"):
        build_app({"model_dir": str(REPO), "batch_wait_ms": "soon"})
    with pytest.raises(ConfigError, match="use_hpip must be true or false"):
        build_app({"model_dir": str(REPO), "use_hpip": "maybe"})


def test_build_app_arguments_are_one_typed_model():
    """serve run's strings and a config file's YAML values become one pydantic model's typed fields: the model's
    arguments, the scaling's and every ServeSettings field (with the dataclass's defaults)."""
    import dataclasses

    from hpi.serving.ray_app import app_args_model, parse_app_args
    from hpi.serving.settings import ServeSettings

    args = parse_app_args({"model_dir": "m", "use_hpip": "false", "enable_hpi": "true", "batch_wait_ms": "7",
                           "max_image_pixels": 0, "autoscaling": "1:4", "replica_cpus": "1.5"})
    assert args.model_options() == {"model_name": None, "model_dir": "m", "device": None, "use_hpip": True,
                                    "hpi_config": None}
    assert args.settings() == ServeSettings(batch_wait_ms=7, max_image_pixels=0)
    assert dataclasses.astuple(args.scaling(on_gpu=False)) == (1, (1, 4), 1.5, 0.0)
    assert parse_app_args(args) is args  # an instance of the model is taken as it is
    assert {field.name for field in dataclasses.fields(ServeSettings)} <= set(app_args_model().model_fields)
    with pytest.raises(ConfigError, match="num_replicas must be an integer >= 1, got '0'"):
        parse_app_args({"model_dir": "m", "num_replicas": "0"})
    with pytest.raises(ConfigError, match="give num_replicas or autoscaling, not both"):
        parse_app_args({"model_dir": "m", "num_replicas": 2, "autoscaling": "1:2"}).scaling(on_gpu=False)


def test_hpi_serving_does_not_import_ray():
    code = "import sys, hpi.serving, hpi.serving.ray_app, hpi.cli; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_the_sample_config_file_is_valid_and_builds(v4_onnx_dir):
    """docs/ray_serve.yaml: Serve's own schema accepts it, its deployment is ours, build_app takes its args (with a
    model folder of this machine)."""
    pytest.importorskip("ray.serve", reason="ray[serve] is not installed (the 'ray' extra)")
    import yaml
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from hpi.serving.ray_app import DEPLOYMENT_NAME, build_app

    config = ServeDeploySchema.model_validate(yaml.safe_load((REPO / "docs" / "ray_serve.yaml").read_text()))
    (app,) = config.applications
    assert app.import_path == "hpi.serving.ray_app:build_app"
    assert [d.name for d in app.deployments] == [DEPLOYMENT_NAME]
    built = build_app({**app.args, "model_dir": str(v4_onnx_dir)})
    assert isinstance(built, Application)
